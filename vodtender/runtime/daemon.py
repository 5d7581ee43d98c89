"""The shared daemon runtime: every daemon is a `Daemon` subclass run by `Runtime`.

A daemon holds only its own job: `run_once()` does one short step and returns how long
to wait before the next.  The runtime around it does the rest, the same for all four:
configuration (and SIGHUP reload), logging, the database and its migrations, the HTTP
endpoint, sd_notify (READY, STATUS, WATCHDOG, STOPPING), the heartbeat row, and a clean
stop on SIGTERM/SIGINT.  A daemon whose configuration is incomplete comes up idle: ready
for systemd, not ready on /readyz, and its STATUS says what to set where.

Long work (a download, an upload, an IRC connection) runs in the daemon's own threads;
`run_once()` supervises it, so the watchdog ping from this loop proves the loop is alive.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from typing import ClassVar

import peewee

from vodtender.runtime import db as dbmod
from vodtender.runtime.config import Config, Problem, config_dir, load_config
from vodtender.runtime.health import HealthServer
from vodtender.runtime.logs import ContextLogger, get_logger, register_secret, setup_logging
from vodtender.runtime.metrics import (
    CONFIG_PROBLEMS,
    DAEMON_READY,
    LAST_LOOP,
    LOOP_ERRORS,
    LOOP_ITERATIONS,
    register_queue_collector,
)
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import DaemonHeartbeat, utcnow
from vodtender.runtime.notify import Notifier

MAX_ERROR_BACKOFF = 60.0


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Daemon:
    """One daemon's job.  Subclasses set `name` and `sections` and implement `run_once`."""

    name: ClassVar[str] = "daemon"
    sections: ClassVar[tuple[str, ...]] = ("general",)  # config sections whose problems idle it

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.cfg: Config = runtime.cfg
        self.log: ContextLogger = get_logger(self.name)

    @classmethod
    def config_problems(cls, cfg: Config) -> list[Problem]:
        """Settings this daemon needs but does not have (beyond values that failed to parse)."""
        return []

    def setup(self) -> None:
        """Prepare to work (open clients, start threads); called once the DB is ready."""

    def run_once(self) -> float:
        """One short step of work; returns the seconds to wait before the next step."""
        raise NotImplementedError

    def status(self) -> str:
        """The one-line human state for STATUS= and `vodtender status`."""
        return "running"

    def readiness(self) -> list[str]:
        """Reasons this daemon cannot work right now (empty when ready)."""
        return []

    def shutdown(self) -> None:
        """Finish or checkpoint the current step, flush, release claims.  Called once on stop."""


class IdleDaemon(Daemon):
    """Stands in for a daemon whose configuration is incomplete: does nothing, says why."""

    def __init__(self, runtime: Runtime, name: str, problems: list[Problem]):
        super().__init__(runtime)
        self.name = name  # type: ignore[misc]
        self.problems = problems

    def run_once(self) -> float:
        return 3600.0

    def status(self) -> str:
        return "idle: " + "; ".join(str(p) for p in self.problems) + \
            f" (set it in {config_dir()}/vodtender.conf or the environment, then reload)"

    def readiness(self) -> list[str]:
        return [f"configuration: {p}" for p in self.problems]


class Runtime:
    """Runs one daemon class under systemd (or `vodtender run`, or a test)."""

    def __init__(self, daemon_cls: type[Daemon], argv: Sequence[str] = ()):
        self.daemon_cls = daemon_cls
        self.name = daemon_cls.name
        self.argv = list(argv)
        self.cfg = load_config(self.argv)
        self.instance = instance_name()
        self.log = get_logger(self.name)
        self.notifier = Notifier()
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._reload_requested = False
        self._db: peewee.Database | None = None
        self._db_problem: str | None = None
        self._http: HealthServer | None = None
        self.daemon: Daemon | None = None
        self._last_heartbeat = 0.0
        self._error_backoff = 0.0
        for metric in (LOOP_ITERATIONS, LOOP_ERRORS, LAST_LOOP, DAEMON_READY, CONFIG_PROBLEMS):
            metric.labels(self.name)  # export every series from the first scrape on, at 0

    # -- signals ---------------------------------------------------------------------------------
    def request_stop(self, *_: object) -> None:
        self.stop_event.set()
        self._wake.set()

    def request_reload(self, *_: object) -> None:
        self._reload_requested = True
        self._wake.set()

    def wake(self) -> None:
        """Make the main loop run its next step now (from a worker thread)."""
        self._wake.set()

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)

    # -- start-up --------------------------------------------------------------------------------
    def _apply_config(self) -> None:
        setup_logging(self.cfg.log_level or "info")
        for secret in self.cfg.secrets():
            register_secret(secret)
        for problem in self.cfg.problems:
            if problem.env is None:
                self.log.warning("configuration problem", problem=str(problem))

    def _open_database(self) -> bool:
        try:
            self._db = dbmod.open_database(self.cfg.db_dsn)
            migrate(self._db)
        except Exception as exc:  # keep trying; systemd must not see a crash loop
            reason = f"waiting for database: {exc}"
            if reason != self._db_problem:
                self.log.error("database unavailable, retrying", error=str(exc))
            self._db_problem = reason
            return False
        self._db_problem = None
        return True

    def _start_http(self) -> None:
        addr = getattr(self.cfg, f"{self.name}_http_addr", None)
        if addr is None:
            return
        try:
            self._http = HealthServer(addr, self.readiness)
        except OSError as exc:
            self.log.error("cannot serve /metrics", addr=f"{addr[0]}:{addr[1]}", error=str(exc))
            return
        self._http.start()
        self.log.info("serving /metrics /healthz /readyz", addr=self.http_address())

    def _make_daemon(self) -> Daemon:
        problems = self.cfg.problems_for(self.daemon_cls.sections) + self.daemon_cls.config_problems(self.cfg)
        CONFIG_PROBLEMS.labels(self.name).set(len(problems))
        if problems:
            idle = IdleDaemon(self, self.name, problems)
            self.log.warning(f"{self.name} idle: configuration incomplete", problems="; ".join(map(str, problems)))
            return idle
        daemon = self.daemon_cls(self)
        daemon.setup()
        return daemon

    def http_address(self) -> str | None:
        return f"{self._http.address[0]}:{self._http.address[1]}" if self._http else None

    # -- the loop --------------------------------------------------------------------------------
    def readiness(self) -> list[str]:
        problems = []
        if self._db_problem:
            problems.append(self._db_problem)
        else:
            reason = dbmod.probe(self.cfg.db_dsn)
            if reason:
                problems.append(reason)
        if self.daemon is not None:
            problems.extend(self.daemon.readiness())
        elif not self._db_problem:
            problems.append("starting")
        return problems

    def status(self) -> str:
        if self._db_problem:
            return self._db_problem
        return self.daemon.status() if self.daemon else "starting"

    def run(self) -> int:
        self._install_signals()
        self._apply_config()
        self.log.info(f"{self.name} starting", instance=self.instance)
        self._start_http()
        announced = False
        while not self.stop_event.is_set() and not self._open_database():
            if not announced:  # ready for systemd, not for /readyz: STATUS says what is wrong
                self.notifier.ready(self.status())
                announced = True
            self.notifier.watchdog()
            self.notifier.status(self.status())
            self._wake.wait(min(5.0, self.notifier.watchdog_interval or 5.0))
            self._wake.clear()
        if self.stop_event.is_set():
            return self._stop()
        register_queue_collector()
        self.daemon = self._make_daemon()
        if announced:
            self.notifier.status(self.status())
        else:
            self.notifier.ready(self.status())
        self.log.info(f"{self.name} ready", status=self.status())
        while not self.stop_event.is_set():
            if self._reload_requested:
                self._reload()
            wait = self._step()
            self._heartbeat()
            self.notifier.watchdog()
            self.notifier.status(self.status())
            DAEMON_READY.labels(self.name).set(0 if self.readiness() else 1)
            timeout = min(wait, self.notifier.watchdog_interval or wait, self.cfg.heartbeat_interval)
            self._wake.wait(max(0.0, timeout))
            self._wake.clear()
        return self._stop()

    def _step(self) -> float:
        assert self.daemon is not None
        try:
            wait = self.daemon.run_once()
            self._error_backoff = 0.0
        except Exception as exc:  # one bad step must not kill the daemon
            LOOP_ERRORS.labels(self.name).inc()
            self._error_backoff = min(MAX_ERROR_BACKOFF, max(1.0, self._error_backoff * 2))
            if not (dbmod.OUTAGE.active and dbmod.is_connection_error(exc)):  # an outage is logged once, by db
                self.log.error("step failed, will retry", error=f"{type(exc).__name__}: {exc}",
                               retry_in=f"{self._error_backoff:.0f}s", exc_info=True)
            wait = self._error_backoff
        LOOP_ITERATIONS.labels(self.name).inc()
        LAST_LOOP.labels(self.name).set(time.time())
        return wait

    def _heartbeat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_heartbeat < self.cfg.heartbeat_interval:
            return
        self._last_heartbeat = now
        http = self.http_address()
        fields = {"status": self.status(), "ready": 0 if self.readiness() else 1, "updated_at": utcnow(),
                  "http_addr": http}
        try:
            dbmod.retry_on_busy(lambda: DaemonHeartbeat.insert(
                daemon=self.name, instance=self.instance, host=socket.gethostname(), **fields,
            ).on_conflict(conflict_target=[DaemonHeartbeat.daemon, DaemonHeartbeat.instance],
                          update=fields).execute())
        except peewee.PeeweeException as exc:
            if not dbmod.OUTAGE.active:  # an outage is logged once, by db
                self.log.warning("heartbeat not written", error=str(exc))

    def _reload(self) -> None:
        self._reload_requested = False
        self.notifier.reloading()
        new_cfg = load_config(self.argv)
        self.log.info("configuration reloaded", problems=len(new_cfg.problems))
        changed = new_cfg.as_dict() != self.cfg.as_dict() or new_cfg.problems != self.cfg.problems
        if changed or isinstance(self.daemon, IdleDaemon):
            if self.daemon is not None:
                self.daemon.shutdown()
            self.cfg = new_cfg
            self._apply_config()
            self.daemon = self._make_daemon()
        self.notifier.ready(self.status())  # READY=1 ends the RELOADING=1 state

    def _stop(self) -> int:
        self.notifier.stopping()
        self.notifier.status("stopping")
        self.log.info(f"{self.name} stopping")
        if self.daemon is not None:
            try:
                self.daemon.shutdown()
            except Exception as exc:
                self.log.error("shutdown step failed", error=f"{type(exc).__name__}: {exc}", exc_info=True)
            self.daemon = None
        if self._db is not None:
            try:
                dbmod.retry_on_busy(lambda: DaemonHeartbeat.delete().where(
                    (DaemonHeartbeat.daemon == self.name) & (DaemonHeartbeat.instance == self.instance)).execute())
            except peewee.PeeweeException as exc:
                self.log.warning("heartbeat not cleared", error=str(exc))
            self._db.close()
        if self._http is not None:
            self._http.stop()
        self.log.info(f"{self.name} stopped")
        return 0


def run_daemon(daemon_cls: type[Daemon], argv: Sequence[str] = ()) -> int:
    return Runtime(daemon_cls, argv).run()
