"""The vodtender daemons (the four of the pipeline, and the recorder when a test wants it) as separate
processes with one config file, database and data folder.

This is what `vodtender run` (or systemd) does, with a handle on each process so a test can
SIGKILL one and start it again, and read every log a daemon wrote across its restarts.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee

from tests.helpers.processes import DaemonProcess, base_env, free_port, run_cli
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate

DAEMON_NAMES = ("poller", "downloader", "uploader", "chat")  # what `start_all` starts unless told
WITH_RECORDER = (*DAEMON_NAMES, "recorder")  # all five, for the live-recording tests

# Lines that must never appear in a daemon's log, whatever faults were injected.
FORBIDDEN_LOG_LINES = re.compile(r"database is locked|Traceback \(most recent call last\)")

# Fast clocks: minutes of a real deployment become seconds.
FAST_SETTINGS = {
    "CHAT_AUTO_START": "1",
    "CHAT_AUTO_POLL_INTERVAL": "1s",
    "VOD_RECONCILE_DELAY": "2s",
    "VOD_RECONCILE_WINDOW": "2m",  # the poller retries every window/10: a missed first look costs 12 s
    "VOD_CATALOG_BACKFILL_INTERVAL": "5s",
    "HELIX_BACKOFF_BASE": "200ms",  # the poller's retries of failed Helix requests (faults stack up in chaos)
    "HEARTBEAT_INTERVAL": "1s",
    "LEASE_DURATION": "10s",
    "DOWNLOAD_BACKOFF_BASE": "1s",
    "DOWNLOAD_MAX_ATTEMPTS": "100",
    "DOWNLOAD_MIN_FREE": "64K",
    "UPLOAD_BACKOFF_BASE": "1s",
    "UPLOAD_PROCESSING_CHECK": "0.2s",
    "UPLOAD_MAX_ATTEMPTS": "100",
    "UPLOAD_CHUNK_SIZE": "256K",
    "UPLOAD_TIMEOUT": "10s",
    "UPLOAD_QUOTA_DAILY": "1000000",
    "CIRCUIT_FAILURE_THRESHOLD": "3",
    "CIRCUIT_OPEN_COOLDOWN": "3s",
    "CHAT_BATCH_INTERVAL": "200ms",
    "LOG_LEVEL": "info",
}


def config_text(settings: dict[str, str]) -> str:
    """A vodtender.conf: one `key = value` line per setting (the flag without its dashes)."""
    lines = ["# written by tests/e2e: a vodtender pointed at loopback stand-ins"]
    lines += [f"{env.lower().replace('_', '-')} = {value}" for env, value in sorted(settings.items())]
    return "\n".join(lines) + "\n"


class Stack:
    """One vodtender installation in `workdir`: etc/vodtender.conf, vodtender.db, data/, a log per daemon.

    `env` is added to the environment of every daemon and `vodtender` command (e.g. FakeTwitch.environment())."""

    def __init__(
        self,
        workdir: Path,
        settings: dict[str, str],
        data_dir: Path | None = None,
        dsn: str | None = None,
        env: dict[str, str] | None = None,
    ):
        self.workdir = workdir
        self.dsn = dsn or str(workdir / "vodtender.db")  # SQLite in the folder, or e.g. postgresql://...
        self.data_dir = data_dir or workdir / "data"
        self.settings = {**FAST_SETTINGS, **settings, "DB_DSN": self.dsn, "DATA_DIR": str(self.data_dir)}
        self.ports = {name: free_port() for name in WITH_RECORDER}
        self.settings.update({f"{name.upper()}_HTTP_ADDR": f"127.0.0.1:{port}" for name, port in self.ports.items()})
        (workdir / "etc").mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (workdir / "etc" / "vodtender.conf").write_text(config_text(self.settings))
        self.env = base_env(workdir, **(env or {}))
        self.processes: dict[str, DaemonProcess] = {}
        self.starts: dict[str, int] = dict.fromkeys(WITH_RECORDER, 0)

    # -- processes ------------------------------------------------------------------------

    def migrate(self) -> None:
        result = run_cli(self.workdir, "db", "migrate", env=self.env)
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self, name: str) -> DaemonProcess:
        # The same port across restarts (as under systemd), and the same log file: one log per daemon.
        process = DaemonProcess(name, self.workdir, env=self.env, http_port=self.ports[name])
        process.log_path = self.workdir / f"{name}.log"
        self.processes[name] = process.start()
        self.starts[name] += 1
        return process

    def start_all(self, names: tuple[str, ...] = DAEMON_NAMES) -> None:
        for name in names:
            self.start(name)
        for name in names:
            self.processes[name].wait_http("/healthz", timeout=60)

    def kill(self, name: str) -> None:
        self.processes[name].kill()

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start(name)

    def alive(self, name: str) -> bool:
        process = self.processes.get(name)
        return bool(process and process.proc and process.proc.poll() is None)

    def stop_all(self) -> dict[str, int]:
        """SIGTERM every daemon (as `systemctl stop` would); returns the exit codes of those that did not
        stop cleanly.  Clean is systemd's meaning: status 0, or death by the SIGTERM itself (a daemon
        started a moment ago may not have installed its handler yet)."""
        codes = {name: process.stop(timeout=60) for name, process in self.processes.items()}
        return {name: code for name, code in codes.items() if code not in (0, -signal.SIGTERM)}

    def kill_all(self) -> None:
        for process in self.processes.values():
            process.kill()

    # -- what they left behind -----------------------------------------------------------

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def forbidden_log_lines(self) -> dict[str, list[str]]:
        """Per daemon, the lines around each `database is locked` or traceback."""
        found: dict[str, list[str]] = {}
        for name in WITH_RECORDER:
            lines = self.log(name).splitlines()
            hits = [i for i, line in enumerate(lines) if FORBIDDEN_LOG_LINES.search(line)]
            if hits:
                found[name] = ["\n".join(lines[max(0, i - 2) : i + 12]) for i in hits[:3]]
        return found

    @contextmanager
    def database(self) -> Iterator[peewee.Database]:
        """The daemons' database, bound to the models, for the test's own reads and set-up writes."""
        db = open_database(self.dsn)
        migrate(db)
        try:
            yield db
        finally:
            db.close()

    def cli(self, *args: str, timeout: float = 60, stderr: bool = True) -> str:
        """A `vodtender` command against this installation (same config file); its output."""
        result = run_cli(self.workdir, *args, env=self.env, timeout=timeout)
        return result.stdout + (result.stderr if stderr else "")
