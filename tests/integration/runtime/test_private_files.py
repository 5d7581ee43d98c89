"""Files and folders the service creates are private whatever the umask it is started with: 0600/0700,
or 0640/0750 (group vodtender) under systemd; an older install's 0644 database is narrowed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.helpers.processes import DaemonProcess, base_env, wait_until


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def vodtender(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "vodtender", *args],
        cwd=workdir,
        env=base_env(workdir, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_a_daemon_started_with_umask_022_keeps_the_database_and_its_wal_private(
    loose_umask: None, workdir: Path
) -> None:
    db = workdir / "state" / "vodtender.db"
    db.parent.mkdir()  # the database's folder is never created for it (a typo in DB_DSN, an unmounted disk)
    with DaemonProcess("poller", workdir, env=base_env(workdir, DB_DSN=str(db), HEARTBEAT_INTERVAL="0.2s")) as poller:
        poller.wait_http("/healthz")
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        wait_until(lambda: wal.exists() and shm.exists(), 15, what="the daemon's -wal and -shm")
        assert (mode(db), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)


def test_an_older_world_readable_database_is_narrowed_with_its_wal(loose_umask: None, workdir: Path) -> None:
    db = workdir / "vodtender.db"
    conn = sqlite3.connect(db)  # as an older version left it: 0644, and a -wal beside it
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    wal = Path(f"{db}-wal")
    assert mode(db) == 0o644 and mode(wal) == 0o644
    vodtender(workdir, "db", "migrate", DB_DSN=str(db))
    assert mode(db) == 0o600 and mode(wal) == 0o600
    conn.close()


def test_under_systemd_group_vodtender_reads_and_others_never(workdir: Path) -> None:
    state = workdir / "state"
    state.mkdir(mode=0o750)
    previous = os.umask(0o002)  # even a umask that lets others write
    try:
        vodtender(workdir, "db", "migrate", STATE_DIRECTORY=str(state))
    finally:
        os.umask(previous)
    assert mode(state / "vodtender.db") == 0o640
