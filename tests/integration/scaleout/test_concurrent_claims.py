"""Several worker processes share one queue: every VOD is taken exactly once, on SQLite and on
PostgreSQL (`FOR UPDATE SKIP LOCKED`), also across a PostgreSQL restart; migrations race safely."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading

import peewee

from tests.helpers.postgres import PostgresCluster
from tests.helpers.processes import REPO, wait_until
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import MIGRATIONS
from vodtender.runtime.models import SchemaMigration, Vod


def _queue(count: int) -> set[int]:
    start = dt.datetime(2026, 1, 1)
    rows = [{"twitch_vod_id": str(n), "channel": "c", "date": start + dt.timedelta(hours=n)} for n in range(count)]
    Vod.insert_many(rows).execute()
    return {v.id for v in Vod.select(Vod.id)}


def _claimers(dsn: str, count: int, pause: float = 0.0) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.scaleout.workers", "claim", dsn, str(pause)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def _taken(procs: list[subprocess.Popen]) -> tuple[list[int], list[str]]:
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-3000:] for _, err in results]
    return [int(line) for out, _ in results for line in out.split()], [err for _, err in results]


def test_four_processes_take_every_vod_exactly_once(migrated_db: peewee.Database, db_dsn: str) -> None:
    ids = _queue(120)
    taken, _ = _taken(_claimers(db_dsn, 4))
    assert sorted(taken) == sorted(ids)  # none missed, none twice
    assert Vod.select().where(Vod.lease_owner.is_null(False)).count() == 0


def test_four_processes_migrating_a_fresh_postgres_database_at_once(postgres_cluster: PostgresCluster) -> None:
    name = postgres_cluster.create_database("race")
    dsn = postgres_cluster.dsn(name)
    code = (
        "import sys; from vodtender.runtime.db import open_database; from vodtender.runtime.migrations "
        "import migrate; print(len(migrate(open_database(sys.argv[1]))))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, dsn], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert sorted(int(out) for out, _ in results) == [0, 0, 0, len(MIGRATIONS)]
    db = open_database(dsn)
    assert SchemaMigration.select().count() == len(MIGRATIONS)
    db.close()
    postgres_cluster.drop_database(name)


def test_claimers_keep_their_place_across_a_postgres_restart(
    postgres_cluster: PostgresCluster, postgres_template: str
) -> None:
    name = postgres_cluster.create_database(template=postgres_template)
    dsn = postgres_cluster.dsn(name)
    db = open_database(dsn)
    ids = _queue(60)
    procs = _claimers(dsn, 2, pause=0.1)
    wait_until(
        lambda: Vod.select().where(Vod.download_state == "downloaded").count() >= 10,
        timeout=120,
        what="ten VODs done before the restart",
    )
    restart = threading.Thread(target=postgres_cluster.restart, kwargs={"down_for": 2.0})
    restart.start()
    taken, logs = _taken(procs)
    restart.join()
    assert sorted(taken) == sorted(ids)
    for log in logs:  # each worker noticed the outage, said so once, and came back
        assert log.count("database connection lost, retrying") == 1, log
        assert "database connection restored" in log
    db.close()
    postgres_cluster.drop_database(name)
