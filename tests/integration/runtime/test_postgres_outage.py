"""A PostgreSQL server that goes away and comes back: the test stops and starts the real server."""

from __future__ import annotations

import logging

import peewee
import pytest

from tests.helpers.postgres import PostgresCluster
from vodtender.runtime import db as dbmod
from vodtender.runtime.db import open_database, write
from vodtender.runtime.models import KV


def test_a_long_outage_fails_calls_fast_after_the_patience_and_recovers(
    postgres_cluster: PostgresCluster,
    postgres_template: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dbmod, "RECONNECT_PATIENCE", 1.0)
    name = postgres_cluster.create_database(template=postgres_template)
    db = open_database(postgres_cluster.dsn(name))
    caplog.set_level(logging.INFO, logger="vodtender.db")
    postgres_cluster.stop_server()
    try:
        with pytest.raises(peewee.OperationalError):
            write(lambda: KV.create(key="a", value="1"))  # waited its patience, then gave up
        assert dbmod.OUTAGE.active and dbmod.probe(postgres_cluster.dsn(name)) is not None
        with pytest.raises(peewee.OperationalError):
            KV.select().count()  # the outage already outlasted the patience: one try, no new wait
    finally:
        postgres_cluster.start_server()
    write(lambda: KV.create(key="a", value="1"))
    assert not dbmod.OUTAGE.active and dbmod.probe(postgres_cluster.dsn(name)) is None
    messages = [r.getMessage() for r in caplog.records]
    assert sum("connection lost" in m for m in messages) == 1
    assert sum("connection restored" in m for m in messages) == 1
    db.close()
    postgres_cluster.drop_database(name)
