"""PostgreSQL specifics of the runtime: DSN parsing, surviving a killed connection, reachable files."""

from __future__ import annotations

import datetime as dt
import logging

import peewee
import pytest

from tests.helpers.postgres import PostgresCluster
from vodtender.pipeline.vods import claim, reachable_files, upload_due
from vodtender.runtime import db as dbmod
from vodtender.runtime.db import open_database, postgres_params, write
from vodtender.runtime.models import KV, Vod


def test_a_postgres_dsn_gives_driver_parameters() -> None:
    params = postgres_params("postgresql://vod%40user:p%2Fw@db.example:6543/archive?sslmode=require")
    assert params == {
        "database": "archive",
        "user": "vod@user",
        "password": "p/w",
        "host": "db.example",
        "port": 6543,
        "sslmode": "require",
        "connect_timeout": dbmod.PG_CONNECT_TIMEOUT,
    }
    assert postgres_params("postgresql:///archive?host=/run/postgresql")["host"] == "/run/postgresql"


def test_an_unknown_database_kind_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="unsupported DB_DSN 'mysql'"):
        open_database("mysql://x/y")


def _kill_my_connections(cluster: PostgresCluster, db: peewee.Database) -> None:
    name = db.database
    cluster.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")


def test_a_killed_connection_is_replaced_and_the_outage_logged_once(
    postgres_cluster: PostgresCluster, postgres_template: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = postgres_cluster.create_database(template=postgres_template)
    db = open_database(postgres_cluster.dsn(name))
    write(lambda: KV.create(key="a", value="1"))
    caplog.set_level(logging.INFO, logger="vodtender.db")
    _kill_my_connections(postgres_cluster, db)
    assert KV.get_by_id("a").value == "1"  # a plain read: retried on a new connection
    _kill_my_connections(postgres_cluster, db)
    write(lambda: KV.create(key="b", value="2"))  # a transaction: retried whole
    assert KV.select().count() == 2
    lost = [r for r in caplog.records if "connection lost" in r.getMessage()]
    restored = [r for r in caplog.records if "connection restored" in r.getMessage()]
    assert len(lost) == 2 and len(restored) == 2  # once per outage, not once per retry
    db.close()
    postgres_cluster.drop_database(name)


def test_uploaders_claim_only_files_they_can_reach(migrated_db: peewee.Database) -> None:
    for n, host in enumerate(["hostA", "hostB", None]):
        Vod.create(
            twitch_vod_id=f"v{n}",
            channel="c",
            date=dt.datetime(2026, 1, 1 + n),
            download_state="downloaded",
            downloaded_path=f"/data/v{n}.mp4",
            download_host=host,
        )
    on_b = reachable_files(data_dir_shared=False, host="hostB")
    taken = []
    while (vod := claim(upload_due(), "hostB:1", 60, extra=on_b)) is not None:
        taken.append(vod.twitch_vod_id)
    assert taken == ["v1", "v2"]  # its own file, and a row from before download_host was recorded
    assert claim(upload_due(), "hostC:1", 60, extra=reachable_files(data_dir_shared=False, host="hostC")) is None
    assert claim(upload_due(), "hostC:1", 60, extra=reachable_files(data_dir_shared=True)).twitch_vod_id == "v0"
