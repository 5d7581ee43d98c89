"""Opening the one shared database (SQLite by default, PostgreSQL by DSN) and writing to it safely.

SQLite runs in WAL mode with a busy timeout.  Write transactions start with
`BEGIN IMMEDIATE` (see `write_transaction`): a deferred transaction that upgrades from
read to write can fail with `database is locked` at once, without waiting, when another
process writes at the same moment; an immediate one waits its turn.

PostgreSQL (psycopg2) may go away: a restart, a failover, a network blip.  A statement
outside a transaction is retried on a new connection; `write()` retries its whole
transaction (and deadlocks or serialization failures), for up to `RECONNECT_PATIENCE`
seconds.  The outage is logged once when it starts and once when it ends.  Once an outage has
lasted that long, calls fail after one try instead of each waiting again, so a daemon's loop
keeps turning (and pinging the watchdog) through a long outage.

A lock another process holds (a VACUUM, an operator's open `sqlite3` transaction, a PostgreSQL
row lock) is waited for at most the calling thread's bound (`bound_lock_waits`): a daemon's main
loop sets one well under its watchdog interval, so a busy step gives up with `DatabaseBusy` and
is tried again later while the loop goes on pinging.  Worker threads and commands keep the long
patience (`SQLITE_BUSY_TIMEOUT_MS`, retried by `retry_on_busy`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlparse

import peewee

from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.files import private_database
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import database_proxy
from vodtender.runtime.options import default_db_dsn

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
WAL_CHECKPOINT_WAIT = 2.0  # seconds a TRUNCATE checkpoint waits for readers (writers wait with it)
WAL_CHECKPOINT_TRIES = 5
RECONNECT_PATIENCE = 30.0  # seconds a call waits for PostgreSQL to come back (within one outage) before it fails
PG_CONNECT_TIMEOUT = 5  # seconds; a host that does not answer must not hang a daemon's loop
# SQLSTATEs after which a new connection (or a new try of the transaction) will do:
# connection exceptions (08xxx), admin shutdown / crash shutdown / cannot connect now (57P0x),
# serialization failure, deadlock.
_PG_RETRY_STATES = ("08", "57P01", "57P02", "57P03", "40001", "40P01")

log = get_logger("db")
_thread_bound = threading.local()  # .seconds: this thread's bound on one call's lock waits (None: no bound)


class DatabaseBusy(peewee.OperationalError):
    """Another process held a lock longer than the calling thread may wait: try the step again later."""


def bound_lock_waits(seconds: float | None) -> None:
    """Bound every lock wait of the calling thread (None: the long default again); applies to its open
    connection at once and to any it opens later."""
    _thread_bound.seconds = seconds
    db = database_proxy.obj
    if isinstance(db, (BoundedSqliteDatabase, ReconnectingPostgresqlDatabase)) and not db.is_closed():
        db.apply_lock_wait(db.connection())


def lock_wait_bound() -> float | None:
    return getattr(_thread_bound, "seconds", None)


def _lock_wait_ms() -> int | None:
    bound = lock_wait_bound()
    return None if bound is None else max(1, int(bound * 1000))


class BoundedSqliteDatabase(peewee.SqliteDatabase):
    """SQLite whose busy timeout is the opening thread's bound on lock waits, if it has one."""

    def _add_conn_hooks(self, conn: sqlite3.Connection) -> None:
        super()._add_conn_hooks(conn)  # type: ignore[misc]  # peewee's stubs leave out this hook
        self.apply_lock_wait(conn)

    @staticmethod
    def apply_lock_wait(conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {_lock_wait_ms() or SQLITE_BUSY_TIMEOUT_MS}")


def sqlite_path(dsn: str) -> str | None:
    """The file behind a SQLite DSN, None for other databases."""
    if dsn.startswith("sqlite:///"):
        return (
            unquote(dsn[len("sqlite:///") - 1 :])
            if dsn.startswith("sqlite:////")
            else unquote(dsn[len("sqlite:///") :])
        )
    if "://" in dsn:
        return None
    return dsn


def is_postgres(dsn: str) -> bool:
    return dsn.startswith(("postgres://", "postgresql://"))


class DatabaseUnavailable(peewee.OperationalError):
    """The database named by DB_DSN cannot be opened; the message names it (never with its password)."""


def describe_dsn(dsn: str) -> str:
    """The database as an error message names it: a SQLite file's absolute path, a URL without password."""
    path = sqlite_path(dsn)
    if path is not None:
        return str(Path(path).absolute())
    url = urlparse(dsn)
    if url.password is None:
        return dsn
    host = url.netloc.rsplit("@", 1)[1]
    return url._replace(netloc=f"{url.username}@{host}" if url.username else host).geturl()


def open_database(dsn: str | None) -> peewee.Database:
    """Connect the models to the database named by `dsn` and return it (connected).

    Raises `DatabaseUnavailable`, naming the database, when it cannot be opened; a SQLite file's
    folder is never created (a typo in DB_DSN must not become a new, empty archive somewhere)."""
    dsn = dsn or default_db_dsn()
    try:
        return _connect(dsn)
    except (peewee.OperationalError, OSError) as exc:
        if isinstance(exc, DatabaseUnavailable):
            raise
        raise DatabaseUnavailable(f"cannot open the database {describe_dsn(dsn)}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)


def _connect(dsn: str) -> peewee.Database:
    path = sqlite_path(dsn)
    if path is not None:
        folder = Path(path).absolute().parent
        if path != ":memory:" and not path.startswith("file:") and not folder.is_dir():
            raise DatabaseUnavailable(f"no such directory {folder} for the database {Path(path).absolute()}")
        private_database(path)
        db: peewee.Database = BoundedSqliteDatabase(
            path,
            timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            pragmas={
                "auto_vacuum": "incremental",  # takes on a new file; maintenance's VACUUM converts an old one
                "journal_mode": "wal",
                "synchronous": "normal",  # safe with WAL: a crash loses no committed transaction's integrity
                "foreign_keys": 1,
            },
            check_same_thread=False,
        )
    elif is_postgres(dsn):
        db = ReconnectingPostgresqlDatabase(**postgres_params(dsn))
    else:
        raise ValueError(f"unsupported DB_DSN {dsn.split('://', maxsplit=1)[0]!r}: use a SQLite path or postgresql://")
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    return db


def postgres_params(dsn: str) -> dict[str, object]:
    """peewee/psycopg2 connection parameters from a postgresql:// DSN.

    Query parameters pass through to libpq (`?sslmode=require`, `?host=/run/postgresql`, ...).
    """
    url = urlparse(dsn)
    params: dict[str, object] = {"database": unquote(url.path.lstrip("/")), "connect_timeout": PG_CONNECT_TIMEOUT}
    for key, value in (("user", url.username), ("password", url.password), ("host", url.hostname)):
        if value:
            params[key] = unquote(value)
    if url.port:
        params["port"] = url.port
    params.update(parse_qsl(url.query))
    return params


class Outage:
    """Whether the database is unreachable right now; logs the start and the end once each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.since: float | None = None
        self.last_started = float("-inf")

    def lost(self, exc: BaseException, stale: bool = False) -> None:
        """`stale`: the failing connection predates the last outage (a leftover of it, not a new one)."""
        with self._lock:
            if self.since is not None or stale:
                return
            self.since = self.last_started = time.monotonic()
        log.error("database connection lost, retrying", error=_first_line(exc))

    def restored(self) -> None:
        if self.since is None:  # the common case: no lock taken
            return
        with self._lock:
            if self.since is None:
                return
            lasted, self.since = time.monotonic() - self.since, None
        log.warning("database connection restored", outage=f"{lasted:.1f}s")

    @property
    def active(self) -> bool:
        return self.since is not None

    def gives_up(self, call_deadline: float) -> bool:
        """Whether a call should stop retrying: its own time is up, or the outage outlasted the patience."""
        now, since = time.monotonic(), self.since
        return now >= call_deadline or (since is not None and now - since >= RECONNECT_PATIENCE)


OUTAGE = Outage()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's exception behind peewee's wrapper(s) (kept as `orig`; a failed connect is wrapped twice)."""
    while isinstance(getattr(exc, "orig", None), BaseException):
        exc = exc.orig  # type: ignore[attr-defined]
    return exc


def is_connection_error(exc: BaseException) -> bool:
    """A PostgreSQL error that a new connection may cure (server gone, restarting, unreachable)."""
    if not isinstance(exc, (peewee.OperationalError, peewee.InterfaceError)):
        return False
    driver = _driver_error(exc)
    code = getattr(driver, "pgcode", None)
    if code is None:  # raised by libpq itself, not by the server: the connection is the problem
        return type(driver).__module__.startswith("psycopg")
    return code.startswith("08") or code in _PG_RETRY_STATES[1:4]


def is_retryable_conflict(exc: BaseException) -> bool:
    """PostgreSQL aborted the transaction to resolve a conflict: trying again is the cure."""
    code = getattr(_driver_error(exc), "pgcode", None)
    return code in ("40001", "40P01")


class ReconnectingPostgresqlDatabase(peewee.PostgresqlDatabase):
    """PostgreSQL that replaces a lost connection.

    A statement outside a transaction is retried on a new connection at once and then with
    backoff for up to `RECONNECT_PATIENCE`; inside a transaction the error goes up to `write()`,
    which retries the whole transaction (a half-done transaction must never be resumed).
    """

    _state: peewee._ConnectionState  # this thread's connection; set by peewee, left out of its stubs

    # peewee's parameters and the driver's connect parameters, which peewee itself leaves untyped
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._opened = threading.local()  # when this thread's connection was opened

    def _connect(self) -> object:
        conn = super()._connect()  # type: ignore[misc]  # peewee's stubs leave out this hook its drivers override
        self.apply_lock_wait(conn)
        self._opened.at = time.monotonic()
        return conn

    @staticmethod
    def apply_lock_wait(conn: Any) -> None:
        """A row or table lock is waited for at most the thread's bound (0: as long as it takes)."""
        with conn.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", (_lock_wait_ms() or 0,))

    def connection_lost(self, exc: BaseException) -> None:
        """Report a lost connection; after a restart each thread finds its old connection dead once,
        which is the same outage, not a new one."""
        opened = getattr(self._opened, "at", None)
        OUTAGE.lost(exc, stale=opened is not None and opened < OUTAGE.last_started)

    def execute_sql(self, sql: str, params: object = None) -> object:
        deadline = time.monotonic() + RECONNECT_PATIENCE
        attempt = 0
        while True:
            try:
                cursor = super().execute_sql(sql, params)
            except (peewee.OperationalError, peewee.InterfaceError) as exc:
                if not is_connection_error(exc):
                    raise
                self.connection_lost(exc)
                if self.in_transaction() or OUTAGE.gives_up(deadline):
                    raise
                self.drop_connection()
                _pause(attempt)
                attempt += 1
                continue
            OUTAGE.restored()
            return cursor

    def ping(self) -> None:
        """One `SELECT 1`, not retried (readiness must answer at once); a broken connection is dropped."""
        try:
            super().execute_sql("SELECT 1")
        except (peewee.OperationalError, peewee.InterfaceError):
            if not self.in_transaction():
                self.drop_connection()
            raise

    def drop_connection(self) -> None:
        """Forget this thread's connection (it is broken); the next statement opens a new one."""
        conn = self._state.conn
        try:
            if conn is not None:
                conn.close()
        except Exception:  # already dead: closing it can fail too, and that changes nothing
            pass
        self._state.reset()
        self._opened.at = None


def is_locked_error(exc: BaseException) -> bool:
    """SQLite's write lock was not free in time, or PostgreSQL's lock_timeout ran out (55P03)."""
    if isinstance(exc, DatabaseBusy) or getattr(_driver_error(exc), "pgcode", None) == "55P03":
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


def _pause(attempt: int) -> None:
    time.sleep(backoff_delay(0.02, attempt + 1, cap=2.0, jitter=0.5))


def retry_on_busy(fn: Callable[[], T], attempts: int = 20) -> T:
    """Run `fn`, retrying with jittered backoff while the database is busy or unreachable.

    Busy: SQLite's write lock, PostgreSQL's lock timeout, deadlock or serialization failure (`attempts`
    tries, and in a thread with a bound on lock waits no longer than it: then `DatabaseBusy`).
    Unreachable: a lost PostgreSQL connection, retried on a new one for up to `RECONNECT_PATIENCE`.
    """
    started = time.monotonic()
    deadline = started + RECONNECT_PATIENCE
    bound = lock_wait_bound()
    attempt = 0
    while True:
        try:
            result = fn()
        except (peewee.OperationalError, peewee.InterfaceError, sqlite3.OperationalError) as exc:
            db = database_proxy.obj
            if isinstance(db, ReconnectingPostgresqlDatabase) and is_connection_error(exc):
                db.connection_lost(exc)
                if db.in_transaction() or OUTAGE.gives_up(deadline):
                    raise  # a caller's transaction is broken: only the caller can start it again
                db.drop_connection()
            elif not (is_locked_error(exc) or is_retryable_conflict(exc)) or attempt >= attempts - 1:
                raise
            elif bound is not None and time.monotonic() - started >= bound:
                raise DatabaseBusy(f"{_first_line(exc)} (gave up after {bound:g}s; tried again later)") from exc
            _pause(attempt)
            attempt += 1
            continue
        OUTAGE.restored()
        return result


@contextlib.contextmanager
def write_transaction(db: peewee.Database | None = None) -> Iterator[None]:
    """A transaction that writes: IMMEDIATE on SQLite, plain on PostgreSQL."""
    db = db or database_proxy.obj
    if isinstance(db, peewee.SqliteDatabase):
        with db.atomic("IMMEDIATE"):
            yield
    else:
        with db.atomic():
            yield


def write(fn: Callable[[], T]) -> T:
    """Run `fn` in a write transaction, retried when busy: the one way daemons write."""

    def attempt() -> T:
        with write_transaction():
            return fn()

    return retry_on_busy(attempt)


def probe(dsn: str | None) -> str | None:
    """Readiness: None if the database answers on a fresh connection, else the reason."""
    dsn = dsn or default_db_dsn()
    path = sqlite_path(dsn)
    try:
        if path is not None:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
            try:
                conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
            finally:
                conn.close()
        else:
            database_proxy.obj.ping()
    except Exception as exc:  # any failure means "not ready", with the reason shown
        return f"database unavailable: {_first_line(exc)}"
    return None


def checkpoint_wal(path: str) -> bool:
    """After a long writer (a VACUUM, a backup, a copy, retention): move the WAL into the database and
    truncate it to zero bytes, so it does not keep the size the long writer made it grow to.  On its own
    connection with a short busy timeout: the checkpoint holds writers off while it waits for readers to
    finish.  False when a reader or writer kept it from finishing (SQLite's own checkpoints go on; the
    next long writer truncates)."""
    wal = Path(f"{path}-wal")
    before = wal.stat().st_size if wal.exists() else 0
    conn = sqlite3.connect(path, timeout=WAL_CHECKPOINT_WAIT)
    try:
        for attempt in range(WAL_CHECKPOINT_TRIES):
            # busy at once, not after the wait, while a daemon's commit runs SQLite's own checkpoint
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                break
            _pause(attempt + 4)
    finally:
        conn.close()
    after = wal.stat().st_size if wal.exists() else 0
    if busy:
        log.warning("WAL not truncated: the database stayed busy, SQLite checkpoints it later", wal_bytes=after)
    else:
        log.info("WAL checkpointed and truncated", wal_bytes_before=before)
    return not busy


def close_thread_connection() -> None:
    """Close the calling thread's own connection (peewee keeps one per thread): a worker thread calls
    it as it ends, so finished workers leave no open connection behind."""
    if not database_proxy.is_closed():
        database_proxy.close()
