"""Opening the one shared database (SQLite by default, PostgreSQL by DSN) and writing to it safely.

SQLite runs in WAL mode with a busy timeout.  Write transactions start with
`BEGIN IMMEDIATE` (see `write_transaction`): a deferred transaction that upgrades from
read to write can fail with `database is locked` at once, without waiting, when another
process writes at the same moment; an immediate one waits its turn.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

import peewee

from vodtender.runtime.models import database_proxy

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000


def default_dsn() -> str:
    state = os.environ.get("STATE_DIRECTORY")
    if state:  # systemd StateDirectory=; may list several, the first is ours
        return str(Path(state.split(":")[0], "vodtender.db"))
    return "vodtender.db"


def sqlite_path(dsn: str) -> str | None:
    """The file behind a SQLite DSN, None for other databases."""
    if dsn.startswith("sqlite:///"):
        return unquote(dsn[len("sqlite:///") - 1:]) if dsn.startswith("sqlite:////") else unquote(
            dsn[len("sqlite:///"):])
    if "://" in dsn:
        return None
    return dsn


def is_postgres(dsn: str) -> bool:
    return dsn.startswith(("postgres://", "postgresql://"))


def open_database(dsn: str | None) -> peewee.Database:
    """Connect the models to the database named by `dsn` and return it (connected)."""
    dsn = dsn or default_dsn()
    path = sqlite_path(dsn)
    if path is not None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db: peewee.Database = peewee.SqliteDatabase(
            path,
            timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            pragmas={
                "journal_mode": "wal",
                "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
                "synchronous": "normal",  # safe with WAL: a crash loses no committed transaction's integrity
                "foreign_keys": 1,
            },
            check_same_thread=False,
        )
    elif is_postgres(dsn):
        url = urlparse(dsn)
        db = peewee.PostgresqlDatabase(
            unquote(url.path.lstrip("/")),
            user=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            host=url.hostname,
            port=url.port,
            autorollback=True,
        )
    else:
        raise ValueError(f"unsupported DB_DSN {dsn.split('://')[0]!r}: use a SQLite path or postgresql://")
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    return db


def is_locked_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


def retry_on_busy(fn: Callable[[], T], attempts: int = 20) -> T:
    """Run `fn`, retrying with jittered backoff when SQLite reports the database busy."""
    for attempt in range(attempts):
        try:
            return fn()
        except (peewee.OperationalError, sqlite3.OperationalError) as exc:
            if not is_locked_error(exc) or attempt == attempts - 1:
                raise
            time.sleep(min(2.0, 0.02 * 2**attempt) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


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
    dsn = dsn or default_dsn()
    path = sqlite_path(dsn)
    try:
        if path is not None:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
            try:
                conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
            finally:
                conn.close()
        else:
            database_proxy.obj.execute_sql("SELECT 1")
    except Exception as exc:  # any failure means "not ready", with the reason shown
        return f"database unavailable: {exc}"
    return None
