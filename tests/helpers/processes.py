"""Run vodtender daemons and commands as real processes, the way systemd would."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05, what: str = "condition"
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def base_env(workdir: Path, **extra: str) -> dict[str, str]:
    """An environment with no stray vodtender settings, config read from `workdir/etc`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "TWITCH_",
                "YT_",
                "YOUTUBE_",
                "DB_DSN",
                "DATA_DIR",
                "NOTIFY_SOCKET",
                "WATCHDOG_",
                "CREDENTIALS_DIRECTORY",
                "STATE_DIRECTORY",
            )
        )
    }
    env["VODTENDER_CONFIG_DIR"] = str(workdir / "etc")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_cli(
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
    umask: int = -1,
) -> subprocess.CompletedProcess:
    """`python -m vodtender ARGS` in `workdir`; `umask` is the child's (-1: this process's)."""
    return subprocess.run(
        [sys.executable, "-m", "vodtender", *args],
        cwd=workdir,
        env=env or base_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        umask=umask,
    )


def addr_flag(daemon: str) -> str:
    """The flag of the address a daemon serves /metrics /healthz /readyz at (the web viewer's pages too)."""
    return "--web-addr" if daemon == "web" else f"--{daemon}-http-addr"


class DaemonProcess:
    """`python -m vodtender <daemon>` with its own log file and HTTP port (on `http_host`, loopback unless told)."""

    def __init__(
        self,
        daemon: str,
        workdir: Path,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        http_port: int | None = None,
        http_host: str = "127.0.0.1",
    ):
        self.daemon = daemon
        self.workdir = workdir
        self.http_host = http_host
        self.http_port = http_port or free_port()
        self.args = [addr_flag(daemon), f"{http_host}:{self.http_port}", *(args or [])]
        self.env = env if env is not None else base_env(workdir)
        self.log_path = workdir / f"{daemon}-{self.http_port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> DaemonProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vodtender", self.daemon, *self.args],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> re.Match:
        def found() -> re.Match | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.daemon} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            return re.search(pattern, self.log())

        return wait_until(found, timeout, what=f"{pattern!r} in the {self.daemon} log")  # type: ignore[return-value]

    def http(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.http_host}:{self.http_port}{path}", timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_http(self, path: str = "/healthz", timeout: float = 15.0) -> tuple[int, str]:
        def answer() -> tuple[int, str] | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.daemon} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                return self.http(path)
            except OSError:
                return None

        return wait_until(answer, timeout, what=f"{self.daemon} {path}")  # type: ignore[return-value]

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
