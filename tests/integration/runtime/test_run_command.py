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


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _cmdline(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def _started_children(pid: int) -> list[int]:
    """The children once each has exec'd: a child forked but not yet exec'd still shows `run`'s own argv."""
    children = _children(pid)
    return [child for child in children if _cmdline(child) != _cmdline(pid)] if len(children) == 2 else []


def test_run_hands_settings_to_its_children_in_the_environment_never_on_their_command_line(workdir: Path) -> None:
    secret, token = "run-client-secret-0123456789", "oauth:run-chat-token-abcdefghij"
    settings = ["--twitch-client-secret", secret, f"--twitch-oauth-token={token}", "--twitch-bot-username", "bot"]
    env = base_env(workdir, **{k: v for k, v in COMPLETE.items() if k != "TWITCH_CLIENT_SECRET"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "vodtender", "run", "--only", "poller,chat", *settings],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        children = wait_until(
            lambda: len(_started_children(proc.pid)) == 2 and _started_children(proc.pid), timeout=30, what="both"
        )
        for child in children:
            argv = _cmdline(child)
            assert not [arg for arg in argv if secret.encode() in arg or b"run-chat-token" in arg], argv
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            assert f"TWITCH_CLIENT_SECRET={secret}".encode() in environ  # readable by its own user only
            assert f"TWITCH_OAUTH_TOKEN={token}".encode() in environ
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
