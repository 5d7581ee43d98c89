"""The shared daemon runtime: every daemon is a `Daemon` subclass run by `Runtime`.

A daemon holds only its own job: constructing it prepares the work (clients, threads), and
`run_once()` does one short step and returns how long to wait before the next.  The runtime
around it does the rest, the same for all five: configuration (and SIGHUP reload), logging, the
database and its migrations, the HTTP endpoint, sd_notify (READY, STATUS, WATCHDOG, STOPPING),
the heartbeat row, and a clean stop on SIGTERM/SIGINT.  The construction runs in the same error
guard as each step: a daemon that cannot start yet is retried, never a crash loop.  A daemon whose
configuration is incomplete comes up idle: ready for systemd, not ready on /readyz, and its
STATUS says what to set where.

Long work (a download, an upload, an IRC connection) runs in the daemon's own threads;
`run_once()` supervises it, so the watchdog ping from this loop proves the loop is alive.  The loop
never waits long for a database lock another process holds (a VACUUM, an operator's open
transaction): its lock waits are bounded well under the watchdog interval, a step that finds the
database busy gives up and is tried again shortly, and the pings go on.

A test drives the same runtime in-process: `start()`, then `tick()` per step, then `stop()`;
`run()` is exactly that loop, with signals and sleeping.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

import peewee

from vodtender.runtime import db as dbmod
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.children import withhold_from_children
from vodtender.runtime.clock import Clock, SystemClock, from_unix
from vodtender.runtime.config import Config, Problem, config_dir, load_config
from vodtender.runtime.health import health_server
from vodtender.runtime.identity import instance_name
from vodtender.runtime.logs import ContextLogger, get_logger, setup_logging
from vodtender.runtime.metrics import (
    CONFIG_PROBLEMS,
    DAEMON_READY,
    LAST_LOOP,
    LOOP_ERRORS,
    LOOP_ITERATIONS,
    export_daemon_metrics,
)
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import DaemonHeartbeat
from vodtender.runtime.notify import Notifier
from vodtender.runtime.redact import redact, register_config_secrets

ERROR_BACKOFF_BASE = 1.0  # seconds after the first failed step; doubles per failure in a row
MAX_ERROR_BACKOFF = 60.0
DATABASE_RETRY = 5.0  # seconds between tries to open the database at start
LOOP_LOCK_WAIT = 10.0  # seconds the loop may wait for a database lock at most (less under a short watchdog)
BUSY_RETRY = 1.0  # seconds before a step that found the database busy is tried again


class HttpEndpoint(Protocol):
    """What a daemon serves at its address: bound when made, serving once started (runtime/httpserver.py)."""

    @property
    def address(self) -> tuple[str, int]: ...

    def start(self) -> object: ...

    def stop(self) -> None: ...


class Daemon:
    """One daemon's job.  Subclasses set `name`, prepare in `__init__` and implement `run_once`."""

    name: ClassVar[str] = "daemon"

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.cfg: Config = runtime.cfg
        self.clock: Clock = runtime.clock
        self.log: ContextLogger = get_logger(self.name)

    @classmethod
    def export_metrics(cls) -> None:
        """Register the daemon's own metrics; called before the endpoint serves, so the first scrape has them."""

    @classmethod
    def http_endpoint(cls, runtime: Runtime, addr: tuple[str, int]) -> HttpEndpoint:
        """What serves at the daemon's address, bound now (an address in use raises OSError): /metrics /healthz
        /readyz with `runtime.readiness`.  A daemon with pages of its own serves them beside these."""
        return health_server(addr, runtime.readiness)

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
        return "idle: " + "; ".join(str(p) for p in self.problems) + f" ({self._how_to_fix()})"

    def _how_to_fix(self) -> str:
        """Where to fix it: a value given as a flag is not in the config file, and a reload reads the same flags."""
        in_files = f"{config_dir()}/vodtender.conf or the environment, then reload"
        flagged = [p for p in self.problems if self.cfg.from_command_line(p)]
        if not flagged:
            return f"set it in {in_files}"
        if len(flagged) == len(self.problems):
            return "correct it on the command line, then restart"
        return f"correct the command line's, then restart; set the others in {in_files}"

    def readiness(self) -> list[str]:
        return [f"configuration: {p}" for p in self.problems]


class Runtime:
    """Runs one daemon class under systemd (or `vodtender run`, or a test).

    `cfg` is the configuration to start with (a reload reads it again, with the flags in `argv`).
    `database`, if given, is already open on `cfg.db_dsn`; the runtime migrates it but leaves
    closing it to the caller.  Without it the runtime opens `cfg.db_dsn` itself.
    """

    def __init__(
        self,
        daemon_cls: type[Daemon],
        cfg: Config,
        *,
        notifier: Notifier | None = None,
        clock: Clock | None = None,
        database: peewee.Database | None = None,
        argv: Sequence[str] = (),
    ) -> None:
        self.daemon_cls = daemon_cls
        self.name = daemon_cls.name
        self.cfg = cfg
        self.argv = list(argv)
        self.clock: Clock = clock or SystemClock()
        self.notifier = notifier or Notifier.systemd(self.clock)
        self.instance = instance_name()
        self.log = get_logger(self.name)
        self.stop_event = threading.Event()
        self.daemon: Daemon | None = None
        self._wake = threading.Event()
        self._reload_requested = False
        self._db = database
        self._owns_db = database is None
        self._db_ready = False  # open and migrated
        self._db_problem: str | None = None
        self._step_error: str | None = None  # the last step's failure, shown while the daemon cannot start
        self._failed_steps = 0  # in a row
        self._busy_since: float | None = None  # when steps began to find the database busy
        self._http: HttpEndpoint | None = None
        self._last_heartbeat: float | None = None
        export_daemon_metrics(self.name)  # before anything serves: the first scrape sees every series
        daemon_cls.export_metrics()

    @classmethod
    def from_argv(cls, daemon_cls: type[Daemon], argv: Sequence[str] = ()) -> Runtime:
        """The command line's runtime: configuration from files, credentials, environment and `argv`."""
        return cls(daemon_cls, load_config(argv), argv=argv)

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

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> int:
        """Start, turn the loop until SIGTERM/SIGINT, stop; the exit code."""
        withhold_from_children()  # a process of its own: no child, ours or a library's, inherits a secret
        self._install_signals()
        wait = self.start()
        while not self.stop_event.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if not self.stop_event.is_set():
                wait = self.tick()
        return self.stop()

    def start(self) -> float:
        """Everything before the loop, without blocking: the configuration applied, the database opened and
        migrated, the daemon constructed (what fails is retried by `tick()`), then the HTTP endpoint and
        READY=1.  Returns the seconds to wait before the first tick."""
        self._apply_config()
        self.log.info(f"{self.name} starting", instance=self.instance)
        dbmod.bound_lock_waits(self.lock_wait_bound())  # this thread turns the loop
        wait = self._bring_up()
        # Served only now: a scrape as soon as /healthz answers finds the daemon's metrics, the queue
        # length included (unless the database is still unavailable, which /readyz then says).
        self._start_http()
        self.notifier.ready(self.status())  # ready for systemd even when not for /readyz: STATUS says why
        self.notifier.watchdog()
        return self._capped(wait)

    def tick(self) -> float:
        """One turn of the loop: a requested reload, one step, the heartbeat, sd_notify.  Returns the seconds
        to wait before the next (a worker's `wake()` may cut it short)."""
        if self._reload_requested:
            self._reload()
        wait = self._guarded(self.daemon.run_once) if self.daemon is not None else self._bring_up()
        self._heartbeat()
        self.notifier.watchdog()
        self.notifier.status(self.status())
        DAEMON_READY.labels(self.name).set(0 if self.readiness() else 1)
        return self._capped(wait)

    def lock_wait_bound(self) -> float:
        """The longest the loop waits for a database lock: an eighth of systemd's watchdog timeout (twice the
        ping interval), so a step that waits twice over and then pings is still far from a kill."""
        interval = self.notifier.watchdog_interval
        return LOOP_LOCK_WAIT if interval is None else min(LOOP_LOCK_WAIT, interval / 4)

    def _capped(self, wait: float) -> float:
        """A wait short enough for the next watchdog ping and heartbeat to be on time."""
        return max(0.0, min(wait, self.notifier.watchdog_interval or wait, self.cfg.heartbeat_interval))

    def stop(self) -> int:
        """Shut the daemon down, clear its heartbeat, close what the runtime opened; the exit code."""
        self.notifier.stopping()
        self.notifier.status("stopping")
        self.log.info(f"{self.name} stopping")
        self._shutdown_daemon()
        if self._db_ready:
            try:
                dbmod.retry_on_busy(
                    lambda: (
                        DaemonHeartbeat.delete()
                        .where((DaemonHeartbeat.daemon == self.name) & (DaemonHeartbeat.instance == self.instance))
                        .execute()
                    )
                )
            except peewee.PeeweeException as exc:
                self.log.warning("heartbeat not cleared", error=str(exc))
        if self._db is not None and self._owns_db:
            self._db.close()
        if self._http is not None:
            self._http.stop()
        dbmod.bound_lock_waits(None)
        self.log.info(f"{self.name} stopped")
        return 0

    # -- state: what STATUS=, /readyz and the heartbeat row show, redacted --------------------------
    def readiness(self) -> list[str]:
        return [redact(problem) for problem in self._problems()]

    def status(self) -> str:
        return redact(self._status())

    def _problems(self) -> list[str]:
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
            problems.append(self._starting())
        return problems

    def _status(self) -> str:
        if self._db_problem:
            return self._db_problem
        return self.daemon.status() if self.daemon else self._starting()

    def _starting(self) -> str:
        return f"starting failed, will retry: {self._step_error}" if self._step_error else "starting"

    @property
    def http(self) -> HttpEndpoint | None:
        """The endpoint serving at the daemon's address, once started (None if it could not bind)."""
        return self._http

    def http_address(self) -> str | None:
        if self._http is None:
            return None
        host, port = self._http.address
        return f"{host}:{port}"

    # -- start-up --------------------------------------------------------------------------------
    def _apply_config(self) -> None:
        setup_logging(self.cfg.log_level or "info")
        register_config_secrets(self.cfg)
        for problem in self.cfg.problems:
            if problem.env is None:
                self.log.warning("configuration problem", problem=str(problem))

    def _bring_up(self) -> float:
        """Open the database, then construct the daemon; returns the seconds to wait before what is next."""
        if not self._db_ready and not self._open_database():
            return DATABASE_RETRY
        wait = self._guarded(self._construct_daemon)
        if self.daemon is not None:
            self.log.info(f"{self.name} ready", status=self.status())
        return wait

    def _open_database(self) -> bool:
        try:
            if self._db is None:
                self._db = dbmod.open_database(self.cfg.db_dsn)
            migrate(self._db)
        except Exception as exc:  # keep trying; systemd must not see a crash loop
            reason = f"waiting for database: {exc}"
            if reason != self._db_problem:
                self.log.error("database unavailable, retrying", error=str(exc))
            self._db_problem = reason
            return False
        self._db_problem = None
        self._db_ready = True
        return True

    def _construct_daemon(self) -> float:
        problems = self.cfg.problems_for_daemon(self.name)
        CONFIG_PROBLEMS.labels(self.name).set(len(problems))
        if problems:
            self.daemon = IdleDaemon(self, self.name, problems)
            self.log.warning(f"{self.name} idle: configuration incomplete", problems="; ".join(map(str, problems)))
            return 0.0
        self.daemon = self.daemon_cls(self)
        return 0.0

    def _start_http(self) -> None:
        addr = self.cfg.http_addr_for(self.name)
        if addr is None:
            return
        try:
            http = self.daemon_cls.http_endpoint(self, addr)
        except OSError as exc:
            self.log.error("cannot serve /metrics", addr=f"{addr[0]}:{addr[1]}", error=str(exc))
            return
        http.start()
        self._http = http
        self.log.info("serving /metrics /healthz /readyz", addr=self.http_address())

    # -- one step --------------------------------------------------------------------------------
    def _guarded(self, step: Callable[[], float]) -> float:
        """Run one step (the daemon's construction, or its `run_once`): one that raises must not kill the
        daemon; it is logged and tried again after a backoff that grows while the failures go on."""
        try:
            wait = step()
            self._failed_steps = 0
            self._step_error = None
            self._database_free()
        except Exception as exc:
            LOOP_ERRORS.labels(self.name).inc()
            if dbmod.is_locked_error(exc):
                return self._database_busy(exc)
            self._failed_steps += 1
            self._step_error = f"{type(exc).__name__}: {exc}"
            wait = backoff_delay(ERROR_BACKOFF_BASE, self._failed_steps, MAX_ERROR_BACKOFF)
            if not (dbmod.OUTAGE.active and dbmod.is_connection_error(exc)):  # an outage is logged once, by db
                self.log.error(
                    "step failed, will retry", error=self._step_error, retry_in=f"{wait:.0f}s", exc_info=True
                )
        self._count_loop()
        return wait

    def _count_loop(self) -> None:
        LOOP_ITERATIONS.labels(self.name).inc()
        LAST_LOOP.labels(self.name).set(self.clock.time())

    def _database_busy(self, exc: Exception) -> float:
        """A step gave up on a lock another process holds: no backoff, no failure streak (the lock is not the
        step's fault), one log line per busy spell; the step is tried again shortly."""
        if self._busy_since is None:
            self._busy_since = self.clock.monotonic()
            self.log.warning("database busy: another process holds a lock, steps are retried", error=str(exc))
        self._step_error = f"database busy: {exc}"
        self._count_loop()
        return BUSY_RETRY

    def _database_free(self) -> None:
        if self._busy_since is not None:
            busy_for = self.clock.monotonic() - self._busy_since
            self._busy_since = None
            self.log.info("database free again, work resumed", busy=f"{busy_for:.1f}s")

    def _heartbeat(self) -> None:
        if not self._db_ready:
            return
        now = self.clock.monotonic()
        if self._last_heartbeat is not None and now - self._last_heartbeat < self.cfg.heartbeat_interval:
            return
        self._last_heartbeat = now
        fields = {
            "status": self.status(),
            "ready": 0 if self.readiness() else 1,
            "updated_at": from_unix(self.clock.time()),
            "http_addr": self.http_address(),
        }
        try:
            dbmod.retry_on_busy(
                lambda: (
                    DaemonHeartbeat.insert(
                        daemon=self.name,
                        instance=self.instance,
                        host=socket.gethostname(),
                        **fields,
                    )
                    .on_conflict(conflict_target=[DaemonHeartbeat.daemon, DaemonHeartbeat.instance], update=fields)
                    .execute()
                )
            )
        except peewee.PeeweeException as exc:
            if dbmod.is_locked_error(exc):
                self._last_heartbeat = None  # written at the next tick the database is free
            elif not dbmod.OUTAGE.active:  # an outage is logged once, by db
                self.log.warning("heartbeat not written", error=str(exc))

    # -- reload and stop -------------------------------------------------------------------------
    def _reload(self) -> None:
        self._reload_requested = False
        self.notifier.reloading()
        new_cfg = load_config(self.argv)
        self.log.info("configuration reloaded", problems=len(new_cfg.problems))
        changed = new_cfg.as_dict() != self.cfg.as_dict() or new_cfg.problems != self.cfg.problems
        if changed or isinstance(self.daemon, IdleDaemon):
            self._shutdown_daemon()
            self.cfg = new_cfg
            self._apply_config()
            if self._db_ready:
                self._guarded(self._construct_daemon)
        self.notifier.ready(self.status())  # READY=1 ends the RELOADING=1 state

    def _shutdown_daemon(self) -> None:
        if self.daemon is None:
            return
        try:
            self.daemon.shutdown()
        except Exception as exc:
            self.log.error("shutdown step failed", error=f"{type(exc).__name__}: {exc}", exc_info=True)
        self.daemon = None


def run_daemon(daemon_cls: type[Daemon], argv: Sequence[str] = ()) -> int:
    return Runtime.from_argv(daemon_cls, argv).run()
