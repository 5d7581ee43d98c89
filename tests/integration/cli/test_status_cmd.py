"""`vodtender status` as an operator runs it: exit codes, JSON, plain text when piped, colour on request."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import peewee
import pytest

from tests.helpers.processes import base_env, run_cli
from tests.unit.ops.fixtures import CHANNEL, EXPECTED_QUEUE, heartbeat, populate_every_state
from tests.unit.ops.schema_subset import load_schema, validate
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.runtime.models import DaemonHeartbeat, utcnow

SCHEMA = load_schema("status.schema.json")


@pytest.fixture
def now(migrated_db: peewee.Database) -> dt.datetime:
    now = utcnow()
    populate_every_state(now)
    return now


def _env(tmp_path: Path, dsn: str) -> dict[str, str]:
    return base_env(
        tmp_path, DB_DSN=dsn, TWITCH_CHANNEL=CHANNEL, DATA_DIR=str(tmp_path / "data"), DOWNLOAD_MIN_FREE="0"
    )


def test_command_exit_status_follows_attention(tmp_path: Path, now: dt.datetime, db_dsn: str) -> None:
    (tmp_path / "etc").mkdir(exist_ok=True)
    env = _env(tmp_path, db_dsn)
    ok = run_cli(tmp_path, "status", "--json", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = json.loads(ok.stdout)
    assert validate(report, SCHEMA) == [] and report["queue"] == EXPECTED_QUEUE

    DaemonHeartbeat.update(updated_at=now - dt.timedelta(minutes=10)).where(
        DaemonHeartbeat.daemon == "uploader"
    ).execute()
    stale = run_cli(tmp_path, "status", env=env)
    assert stale.returncode == 1
    assert "uploader is down" in stale.stdout and "\x1b[" not in stale.stdout  # piped: plain text
    live = stale.stdout.splitlines()[stale.stdout.splitlines().index("live recordings") + 1]
    assert live == f"  recording  {CHANNEL:<16} stream s1 from live  9m30s  512.0 MiB  1 gap(s) 30s, ads dropped 30s"

    heartbeat("uploader", utcnow())
    CircuitBreaker(threshold=1, cooldown=600).record_failure("YouTube 401")
    opened = run_cli(tmp_path, "status", "--color", "always", env=env)
    assert opened.returncode == 1 and "circuit breaker open" in opened.stdout and "\x1b[31m" in opened.stdout


def test_command_without_a_database_says_so(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    result = run_cli(tmp_path, "status", env=base_env(tmp_path, DB_DSN=str(tmp_path / "missing.db")))
    assert result.returncode == 2 and "no database at" in result.stderr
    assert not (tmp_path / "missing.db").exists()
