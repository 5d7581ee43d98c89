"""Four daemons and two hammering writers on one SQLite file: no `database is locked`, no lost write."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.processes import REPO, DaemonProcess, base_env
from tests.integration.runtime.test_daemon_lifecycle import COMPLETE
from vodtender.daemons.registry import DAEMONS

HAMMER_SECONDS = 30
WRITER = """
import sys, time
from vodtender.runtime.db import open_database, write
from vodtender.runtime.models import KV, Vod
open_database(sys.argv[1])
name, deadline, n = sys.argv[2], time.monotonic() + float(sys.argv[3]), 0
while time.monotonic() < deadline:
    def step():
        KV.create(key=f"{name}-{n}", value="x" * 200)
        Vod.update(download_bytes=Vod.download_bytes + 1).where(Vod.twitch_vod_id == "hammered").execute()
    write(step)
    n += 1
print(n)
"""


def test_daemons_and_writers_share_sqlite_without_lock_errors(workdir: Path) -> None:
    env = base_env(workdir, HEARTBEAT_INTERVAL="50ms", **COMPLETE)
    daemons = [DaemonProcess(name, workdir, env=env).start() for name in DAEMONS]
    try:
        for d in daemons:
            d.wait_for_log(f"{d.daemon} ready", timeout=30)
        db_file = workdir / "vodtender.db"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from vodtender.runtime.db import open_database; "
                "from vodtender.runtime.models import Vod; open_database(sys.argv[1]); "
                "Vod.create(twitch_vod_id='hammered', channel='c', processed=1)",
                str(db_file),
            ],
            cwd=REPO,
            env=env,
            check=True,
        )
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(db_file), f"w{i}", str(HAMMER_SECONDS)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        outputs = [w.communicate(timeout=HAMMER_SECONDS + 120) for w in writers]
        assert all(w.returncode == 0 for w in writers), [err[-2000:] for _, err in outputs]
        written = sum(int(out.strip()) for out, _ in outputs)
        with sqlite3.connect(db_file) as conn:
            assert conn.execute("SELECT count(*) FROM kv WHERE key LIKE 'w%'").fetchone()[0] == written
            assert (
                conn.execute("SELECT download_bytes FROM vods WHERE twitch_vod_id='hammered'").fetchone()[0] == written
            )
            beats = conn.execute("SELECT count(DISTINCT daemon) FROM daemons").fetchone()[0]
        assert beats == len(DAEMONS)
        time.sleep(0.5)
    finally:
        for d in daemons:
            d.stop(timeout=30)
    for d in daemons:
        log = d.log()
        assert "database is locked" not in log, f"{d.daemon}: {log[-2000:]}"
        assert "heartbeat not written" not in log
        assert d.proc.returncode == 0
