"""What goes wrong is said in one line with a non-zero exit, never a traceback, and creates nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import DaemonProcess, base_env, free_port, run_cli


def one_clear_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


def test_migrate_refuses_a_database_in_a_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent/dir/v.db"
    result = run_cli(tmp_path, "db", "migrate", env=base_env(tmp_path, DB_DSN=str(target)))
    assert f"no such directory {target.parent}" in one_clear_line(result)
    assert not (tmp_path / "nonexistent").exists()


def test_migrate_on_a_read_only_database_names_it(tmp_path: Path) -> None:
    db = tmp_path / "ro/v.db"
    env = base_env(tmp_path, DB_DSN=str(db))
    db.parent.mkdir()
    assert run_cli(tmp_path, "db", "migrate", env=env).returncode == 0
    (db.parent / "v.db-wal").unlink(missing_ok=True)
    db.chmod(0o444)
    db.parent.chmod(0o555)
    immutable = os.geteuid() == 0  # root writes whatever the mode: make the file immutable instead
    if immutable and subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("root, and chattr +i is not allowed here")
    try:
        assert f"cannot open the database {db}: " in one_clear_line(run_cli(tmp_path, "db", "migrate", env=env))
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(db)], check=True)
        db.parent.chmod(0o755)


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`vodtender config check | head -1`: the reader is gone before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "wb") as stdout:
        result = subprocess.run(
            [sys.executable, "-m", "vodtender", "config", "check"],
            cwd=tmp_path,
            env=base_env(tmp_path),
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert (result.returncode, result.stderr) == (141, "")


def test_daemons_name_the_database_they_cannot_open(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"  # SQLite cannot open a folder
    folder.mkdir()
    dsn = f"postgresql://vt:pw-s3cret@127.0.0.1:{free_port()}/vt"  # nobody listens
    env = {"TWITCH_CHANNEL": "alpha"}
    with (
        DaemonProcess("poller", tmp_path, env=base_env(tmp_path, DB_DSN=str(folder), **env)) as sqlite,
        DaemonProcess("downloader", tmp_path, env=base_env(tmp_path, DB_DSN=dsn, **env)) as postgres,
    ):
        sqlite.wait_for_log(f"database unavailable.*cannot open the database {folder}: ")
        postgres.wait_for_log(f"database unavailable.*cannot open the database {dsn.replace(':pw-s3cret', '')}: ")
        assert "pw-s3cret" not in postgres.log()
