"""One `vodtender run` per database, and none on an address in use: checked before any daemon starts.

A second `run` on the same database would start a second set of daemons on it.  `RunLock.take`
holds a lock for `run`'s lifetime: on SQLite an flock on `<database>.run.lock` beside the database
(mode 0600, holding the holder's pid), on PostgreSQL a session advisory lock on a connection of its
own (named after the holder's pid, which pg_stat_activity shows).  The lock goes with the process,
however it ends.  `check_bindable` binds each daemon's HTTP address once, as its server will
(SO_REUSEADDR: a port left in TIME_WAIT by the last run is free), and closes it again.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import zlib
from pathlib import Path
from typing import Any

import peewee

from vodtender.runtime.db import is_postgres, postgres_params, sqlite_path

# The advisory lock's key: a fixed number of our own (below 2**31, so pg_locks shows it as `objid`).
ADVISORY_KEY = zlib.crc32(b"vodtender run") & 0x7FFFFFFF
APPLICATION_NAME = "vodtender run (pid {pid})"


class Refused(Exception):
    """`run` must not start; the message is the one line shown to the operator."""


class RunLock:
    """Held while `run` runs; `release()` (or the process's end) lets the next one in."""

    def __init__(self, handle: int | peewee.PostgresqlDatabase) -> None:
        self._handle = handle  # the lock file's descriptor, or the PostgreSQL connection

    @classmethod
    def take(cls, dsn: str) -> RunLock:
        """The lock on the database `dsn`; raises Refused when another `run` holds it."""
        path = sqlite_path(dsn)
        if path is not None:
            return cls(_lock_file(Path(path)))
        if is_postgres(dsn):
            return cls(_advisory_lock(dsn))
        raise Refused(f"unsupported DB_DSN {dsn.split('://', maxsplit=1)[0]!r}: use a SQLite path or postgresql://")

    def release(self) -> None:
        if isinstance(self._handle, int):
            os.close(self._handle)
        else:
            self._handle.close()


def _lock_file(database: Path) -> int:
    lock = database.resolve().with_name(database.resolve().name + ".run.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise Refused(f"cannot create the lock file {lock}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)  # an older file too: it names who runs the service
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        raise Refused(f"another vodtender run{_pid(holder)} is using the database {database}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _advisory_lock(dsn: str) -> peewee.PostgresqlDatabase:
    params: dict[str, Any] = postgres_params(dsn)  # keyword arguments for psycopg2
    name = params["database"]
    conn = peewee.PostgresqlDatabase(**params, application_name=APPLICATION_NAME.format(pid=os.getpid()))
    try:
        conn.connect()  # peewee's autocommit: no transaction is left open on this connection
    except peewee.DatabaseError as exc:
        raise Refused(f"cannot reach the database {name} to lock it: {str(exc).strip().splitlines()[0]}") from None
    if conn.execute_sql("SELECT pg_try_advisory_lock(%s)", (ADVISORY_KEY,)).fetchone()[0]:
        return conn
    holder = _advisory_holder(conn)
    conn.close()
    raise Refused(f"another vodtender run{_pid(holder)} is using the database {name}")


def _advisory_holder(conn: peewee.PostgresqlDatabase) -> str:
    """The pid in the application name of the connection holding our lock ('' when not visible to us)."""
    row = conn.execute_sql(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (ADVISORY_KEY,),
    ).fetchone()
    found = re.fullmatch(r"vodtender run \(pid (\d+)\)", row[0] if row else "")
    return found.group(1) if found else ""


def _pid(holder: str) -> str:
    return f" (pid {holder})" if holder.isdigit() else ""


def check_bindable(name: str, addr: tuple[str, int]) -> None:
    """Raises Refused when daemon `name`'s HTTP address cannot be bound now."""
    host, port = addr
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        raise Refused(
            f"the {name}'s address {host}:{port} cannot be bound ({exc.strerror}): "
            f"is another vodtender running? Choose another with --{name}-http-addr"
        ) from None
