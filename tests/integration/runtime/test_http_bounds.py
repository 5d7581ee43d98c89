"""A daemon's HTTP endpoint against idle clients: each is hung up after a few seconds, at most a cap are
held at once, /healthz still answers, and at the descriptor limit the accept loop waits instead of spinning."""

from __future__ import annotations

import contextlib
import os
import resource
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import DaemonProcess, wait_until
from vodtender.runtime.httpserver import MAX_CONNECTIONS as CAP

CPU_WINDOW = 3.0


def sockets_held(pid: int) -> int:
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed between the listing and the look: not held
            held += os.readlink(fd).startswith("socket:")
    return held


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@contextlib.contextmanager
def idle_clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that never send a byte; those the server cannot take yet wait in its backlog."""
    clients = []
    try:
        for _ in range(count):
            client = socket.socket()
            client.settimeout(0.5)
            with contextlib.suppress(TimeoutError):  # the backlog is full: the kernel goes on trying
                client.connect(("127.0.0.1", port))
            clients.append(client)
        yield clients
    finally:
        for client in clients:
            client.close()


def hung_up(client: socket.socket) -> bool:
    if not select.select([client], [], [], 0)[0]:
        return False
    try:
        return client.recv(1) == b""
    except OSError:
        return True  # reset, or never connected


@pytest.fixture
def daemon(workdir: Path) -> Iterator[DaemonProcess]:
    with DaemonProcess("poller", workdir) as proc:  # idle for want of a channel: it still serves HTTP
        proc.wait_http("/healthz")
        yield proc


def test_idle_connections_beyond_the_cap_are_hung_up_and_healthz_answers(daemon: DaemonProcess) -> None:
    assert daemon.proc is not None
    with idle_clients(daemon.http_port, CAP + 40) as clients:
        assert daemon.http("/healthz", timeout=3) == (200, "ok\n")  # before any idle one timed out
        assert sockets_held(daemon.proc.pid) <= CAP + 5, "the daemon holds a socket for every idle client"
        wait_until(lambda: all(hung_up(c) for c in clients), timeout=20, what="every idle client hung up")
        assert daemon.http("/healthz") == (200, "ok\n")


def test_at_the_descriptor_limit_the_loop_waits_and_recovers(daemon: DaemonProcess) -> None:
    assert daemon.proc is not None
    pid = daemon.proc.pid
    _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    limit = len(os.listdir(f"/proc/{pid}/fd")) + 8
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))
    with idle_clients(daemon.http_port, 40):
        wait_until(lambda: len(os.listdir(f"/proc/{pid}/fd")) >= limit, timeout=10, what="the descriptor limit")
        before = cpu_seconds(pid)
        time.sleep(CPU_WINDOW)
        used = cpu_seconds(pid) - before
        assert used < 0.5, f"{used:.2f} CPU seconds in {CPU_WINDOW:g} s at the descriptor limit: a busy loop"
        daemon.wait_for_log("cannot accept connections on .*: Too many open files; retrying every")
    assert daemon.wait_http("/healthz", timeout=20) == (200, "ok\n")
    daemon.wait_for_log("accepting connections on .* again")
    assert daemon.proc.poll() is None
