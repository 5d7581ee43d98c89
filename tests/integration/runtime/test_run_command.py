"""`vodtender run`: the four daemons as separate processes, prefixed output, all stopped on Ctrl-C."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.helpers.processes import base_env, free_port, wait_until
from tests.integration.runtime.test_daemon_lifecycle import COMPLETE
from vodtender.daemons.registry import DAEMONS


def test_run_starts_every_daemon_as_its_own_process_and_stops_them(workdir: Path) -> None:
    ports = {name: free_port() for name in DAEMONS}
    args = [arg for name, port in ports.items() for arg in (f"--{name}-http-addr", f"127.0.0.1:{port}")]
    log = open(workdir / "run.log", "wb")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vodtender", "run", *args],
        cwd=workdir,
        env=base_env(workdir, **COMPLETE),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def heartbeats() -> list[tuple[str, str]]:
            try:
                with sqlite3.connect(workdir / "vodtender.db") as conn:
                    return conn.execute("SELECT daemon, instance FROM daemons").fetchall()
            except sqlite3.Error:
                return []

        rows = wait_until(
            lambda: len(heartbeats()) == len(DAEMONS) and heartbeats(), timeout=60, what="a heartbeat from every daemon"
        )
        pids = {instance.rsplit(":", 1)[1] for _, instance in rows}
        assert len(pids) == len(DAEMONS) and str(proc.pid) not in pids  # separate processes
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (workdir / "run.log").read_text()
    for name in DAEMONS:
        assert f"{name:<10} | {name}: {name} ready" in output
        assert f"{name:<10} | {name}: {name} stopped" in output
    assert heartbeats() == []  # each daemon removed its heartbeat on a clean stop
