"""`vodtender maintenance` and `vodtender retention` as the timer runs them: real processes, real files."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import stat
import subprocess
from pathlib import Path

import peewee

from tests.helpers.processes import base_env, run_cli
from tests.unit.ops.test_backup import fresh_db
from tests.unit.ops.test_retention import make
from vodtender.cli.maintenance_cmd import VACUUM_STEP_PAGES
from vodtender.ops.backup import backup_sqlite, backups_in
from vodtender.runtime.db import open_database
from vodtender.runtime.models import KV, Vod


def corrupt(path: Path) -> None:
    """Overwrite half of an index page: the kind of damage a failing disk does."""
    conn = sqlite3.connect(path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='vods_channel'").fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:
        f.seek(page * (root - 1) + page // 2)
        f.write(b"\xff" * (page // 2 - 8))


def env_for(workdir: Path, db: Path | str, **extra: str) -> dict[str, str]:
    (workdir / "etc").mkdir(exist_ok=True)
    return base_env(
        workdir,
        DB_DSN=str(db),
        DATA_DIR=str(workdir / "data"),
        MAINTENANCE_METRICS_FILE=str(workdir / "metrics" / "vodtender.prom"),
        **extra,
    )


def test_healthy_run_backs_up_rotates_and_writes_valid_metrics(tmp_path: Path) -> None:
    db = tmp_path / "vodtender.db"
    fresh_db(db)
    env = env_for(tmp_path, db, BACKUP_KEEP="2")
    for _ in range(3):
        result = run_cli(tmp_path, "maintenance", "--vacuum", "always", env=env)
        assert result.returncode == 0, result.stderr
    assert "integrity check ok" in result.stderr and "backup written" in result.stderr
    assert "vacuum done" in result.stderr
    backups = backups_in(tmp_path / "backups")  # default: backups/ beside the database
    assert len(backups) == 2
    assert not list((tmp_path / "backups").glob("*-wal"))  # self-contained files
    conn = sqlite3.connect(backups[-1])
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM vods").fetchone()[0] == 30
    conn.close()
    metrics = tmp_path / "metrics" / "vodtender.prom"
    text = metrics.read_text()
    assert "vodtender_maintenance_integrity_ok 1.0" in text and "vodtender_backup_size_bytes" in text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    open_database(str(db))
    assert KV.get(KV.key == "maintenance_integrity").value == "ok"
    assert KV.get(KV.key == "backup_last_path").value == str(backups[-1])


def test_failed_integrity_check_is_loud_and_stops_everything_else(tmp_path: Path) -> None:
    db = tmp_path / "vodtender.db"
    fresh_db(db)
    good = backup_sqlite(str(db), tmp_path / "backups", keep=1).path
    corrupt(db)
    env = env_for(tmp_path, db, BACKUP_KEEP="1", RETENTION_KEEP_DAYS="1")
    result = run_cli(tmp_path, "maintenance", env=env)
    assert result.returncode == 1
    assert "<3>maintenance: database integrity check FAILED" in result.stderr
    assert "vodtender_maintenance_integrity_ok 0.0" in (tmp_path / "metrics" / "vodtender.prom").read_text()
    assert backups_in(tmp_path / "backups") == [good]  # the good backup was not rotated away
    assert "backup written" not in result.stderr and "retention" not in result.stderr


def test_retention_command_and_dry_run(tmp_path: Path) -> None:
    db = tmp_path / "vodtender.db"
    fresh_db(db, vods=0)
    make(tmp_path / "data", "old", 40)
    make(tmp_path / "data", "young", 1)
    make(tmp_path / "data", "old-not-uploaded", 40, uploaded=False)
    env = env_for(tmp_path, db, RETENTION_KEEP_DAYS="30")
    dry = run_cli(tmp_path, "retention", "--dry-run", env=env)
    assert dry.returncode == 0 and "would delete old (alpha)" in dry.stdout
    assert "keeping old-not-uploaded: not uploaded" in dry.stdout
    assert (tmp_path / "data" / "alpha" / "old.mp4").exists()
    maint_dry = run_cli(tmp_path, "maintenance", "--dry-run", env=env)
    assert maint_dry.returncode == 0 and (tmp_path / "data" / "alpha" / "old.mp4").exists()
    assert not (tmp_path / "backups").exists()
    real = run_cli(tmp_path, "retention", env=env)
    assert real.returncode == 0 and "file deleted by retention vod_id=old" in real.stderr
    assert sorted(p.stem for p in (tmp_path / "data").rglob("*.mp4")) == ["old-not-uploaded", "young"]


def test_maintenance_runs_on_either_database(tmp_path: Path, migrated_db: peewee.Database, db_dsn: str) -> None:
    make(tmp_path / "data", "old", 40)
    env = env_for(tmp_path, db_dsn, RETENTION_KEEP_DAYS="30")
    result = run_cli(tmp_path, "maintenance", env=env)
    assert result.returncode == 0, result.stderr
    assert Vod.get(Vod.twitch_vod_id == "old").downloaded_path is None


def grown_wal(db: Path, rows: int = 3000) -> sqlite3.Connection:
    """A WAL of several MB that SQLite's own checkpoints leave at its size, as after a long writer; the
    connection stays open (closing the last one would checkpoint and remove the WAL by itself)."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
    conn.executemany("INSERT INTO filler VALUES (randomblob(4000))", [()] * rows)
    assert Path(f"{db}-wal").stat().st_size > 10_000_000
    return conn


def test_backups_are_private_whatever_the_umask_and_no_partial_copy_is_left(tmp_path: Path) -> None:
    db = tmp_path / "vodtender.db"
    fresh_db(db)
    folder = tmp_path / "backups"
    folder.mkdir()
    stale = folder / ".vodtender-20250101T000000000000Z.db.partial"  # what a killed backup leaves
    stale.write_bytes(b"half a copy")
    (folder / f"{stale.name}-journal").write_bytes(b"")
    old_umask = os.umask(0)  # the child inherits it: every file it creates would be world-writable
    try:
        result = run_cli(tmp_path, "maintenance", "--no-retention", env=env_for(tmp_path, db))
    finally:
        os.umask(old_umask)
    assert result.returncode == 0, result.stderr
    [backup] = backups_in(folder)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == [backup.name], "a partial copy was left behind"


def test_maintenance_truncates_the_wal_a_long_writer_left(tmp_path: Path) -> None:
    db = tmp_path / "vodtender.db"
    fresh_db(db)
    reader = grown_wal(db)
    try:
        result = run_cli(tmp_path, "maintenance", "--vacuum", "never", env=env_for(tmp_path, db))
        assert result.returncode == 0, result.stderr
        assert Path(f"{db}-wal").stat().st_size < 1_000_000  # only what was written after the checkpoint
        assert "WAL checkpointed and truncated" in result.stderr
    finally:
        reader.close()


def test_vacuum_frees_pages_in_short_steps_after_one_conversion_of_an_old_file(tmp_path: Path) -> None:
    db = tmp_path / "vodtender.db"
    fresh_db(db)
    conn = grown_wal(db)
    conn.execute("PRAGMA auto_vacuum = NONE")
    conn.execute("VACUUM")  # a file from before incremental vacuum
    conn.execute("DELETE FROM filler")
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    env = env_for(tmp_path, db)
    try:
        first = run_cli(tmp_path, "maintenance", "--vacuum", "always", "--no-backup", env=env)
        assert first.returncode == 0, first.stderr
        assert "converting the database to incremental vacuum" in first.stderr
        with contextlib.closing(sqlite3.connect(db)) as fresh:  # `conn` keeps the setting it was given
            assert fresh.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        conn.executemany("INSERT INTO filler VALUES (randomblob(4000))", [()] * 3000)
        conn.execute("DELETE FROM filler")
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        second = run_cli(tmp_path, "maintenance", "--vacuum", "always", "--no-backup", env=env)
        assert second.returncode == 0, second.stderr
        assert "converting" not in second.stderr
        steps = int(re.search(r"vacuum done .*steps=(\d+)", second.stderr).group(1))  # type: ignore[union-attr]
        assert steps >= free // VACUUM_STEP_PAGES >= 2
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    finally:
        conn.close()
