"""`vodtender run`: the four daemons as separate processes, prefixed output, all stopped on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.processes import addr_flag, base_env, free_port, run_cli, wait_until
from tests.integration.runtime.test_daemon_lifecycle import COMPLETE
from vodtender.daemons.registry import DAEMONS


def test_run_starts_every_daemon_as_its_own_process_and_stops_them(workdir: Path) -> None:
    ports = {name: free_port() for name in DAEMONS}
    args = [arg for name, port in ports.items() for arg in (addr_flag(name), f"127.0.0.1:{port}")]
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


def _started_children(pid: int, count: int = 2) -> list[int]:
    """The children once each has exec'd: a child forked but not yet exec'd still shows `run`'s own argv."""
    children = _children(pid)
    return [child for child in children if _cmdline(child) != _cmdline(pid)] if len(children) == count else []


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


# -- a supervisor: its children die with it, SIGHUP restarts them, a second one or a typo is refused ---------
class Run:
    """`vodtender run --only poller` on its own port, output in run-<port>.log (the poller idles: no Twitch app)."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = base_env(workdir, **env)
        self.log = workdir / f"run-{self.port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vodtender", "run", "--only", "poller", *self.flags(self.port)],
                cwd=workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @staticmethod
    def flags(port: int) -> list[str]:
        return ["--poller-http-addr", f"127.0.0.1:{port}", "--heartbeat-interval", "1s"]

    def poller(self) -> int:
        """The poller's pid (it has exec'd)."""
        children = wait_until(lambda: _started_children(self.proc.pid, 1), timeout=30, what="the poller")
        return children[0]  # type: ignore[index]

    def wait_ready(self, times: int = 1) -> None:
        """Until the poller has said it is ready `times` times (a restarted one says it again)."""
        wait_until(lambda: self.output().count(READY) >= times, timeout=30, what=f"{READY!r} x{times}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


READY = "poller     | poller: poller ready"


@contextmanager
def running(workdir: Path, **env: str) -> Iterator[Run]:
    run = Run(workdir, **env)
    orphans: list[int] = []
    try:
        orphans.append(run.poller())
        run.wait_ready()
        yield run
    finally:
        if run.proc.poll() is None:
            orphans += _children(run.proc.pid)
            run.proc.kill()
        for pid in orphans:  # what an unfixed `run` leaves behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running: not gone, and not a zombie waiting for whoever adopted it to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_run_s_daemons_die_with_it_even_when_it_is_killed(workdir: Path) -> None:
    with running(workdir) as run:
        poller = run.poller()
        run.proc.kill()  # no handler runs: Linux's parent-death signal stops the poller
        run.proc.wait()
        wait_until(lambda: not _alive(poller), timeout=15, what="the poller to stop with `run`")


def test_sighup_restarts_the_daemons_and_run_goes_on(workdir: Path) -> None:
    with running(workdir) as run:
        first = run.poller()
        run.proc.send_signal(signal.SIGHUP)  # a closed terminal
        second = wait_until(
            lambda: run.proc.poll() is None and [pid for pid in _started_children(run.proc.pid, 1) if pid != first],
            timeout=30,
            what="a new poller",
        )
        assert not _alive(first) and second
        run.wait_ready(2)
        run.proc.send_signal(signal.SIGINT)
        assert run.proc.wait(timeout=30) == 0
    assert "run        | SIGHUP: restarting every daemon" in run.output()


def test_a_second_run_on_the_same_database_is_refused_and_the_first_goes_on(workdir: Path, db_dsn: str) -> None:
    on_sqlite = "://" not in db_dsn
    with running(workdir, DB_DSN=db_dsn) as first:
        poller = first.poller()
        second = run_cli(workdir, "run", "--only", "poller", *Run.flags(free_port()), env=first.env, timeout=30)
        database = db_dsn if on_sqlite else db_dsn.rsplit("/", 1)[1]  # PostgreSQL's: named, no password
        assert (second.returncode, second.stdout) == (2, "")  # no daemon of its own started
        assert second.stderr.splitlines() == [
            f"vodtender run: another vodtender run (pid {first.proc.pid}) is using the database {database}"
        ]
        assert first.proc.poll() is None and _started_children(first.proc.pid, 1) == [poller]
    if on_sqlite:
        assert Path(f"{db_dsn}.run.lock").stat().st_mode & 0o777 == 0o600


def test_run_refuses_an_address_in_use_before_starting_anything(workdir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(workdir, "run", "--only", "poller", *Run.flags(port), timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert f"the poller's address 127.0.0.1:{port} cannot be bound" in line and "--poller-http-addr" in line
    assert not (workdir / "vodtender.db").exists()  # no daemon started


@pytest.mark.parametrize(
    ("argument", "named"),
    [
        (["--twitch-chanel", "foo"], "unknown option '--twitch-chanel': "),
        (["--twitch-chan", "foo"], "unknown option '--twitch-chan': "),  # no abbreviation passes for a flag
        (["--heartbeat-interval", "soon"], "--heartbeat-interval: bad duration 'soon'"),
    ],
)
def test_run_refuses_a_bad_option_on_its_command_line_before_starting_anything(
    workdir: Path, argument: list[str], named: str
) -> None:
    result = run_cli(workdir, "run", "--only", "poller", *Run.flags(free_port()), *argument, timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"vodtender run: {named}")
    assert not (workdir / "vodtender.db").exists()  # no daemon started
