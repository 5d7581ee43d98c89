"""`vodtender db copy`: move an archive from one database to another (SQLite -> PostgreSQL, usually).

The target is migrated first, then every table is copied in batches, keeping the ids, so
references between tables (vod_events.vod_id) and the chat's VOD binding stay intact.
Each batch is its own short write transaction; a SQLite target's WAL is checkpointed and truncated
at the end.  Rows whose key is already in the target are skipped, never written twice: an interrupted or
repeated copy just carries on.  Afterwards each table is verified: row counts and a content
checksum (an order-independent sum of per-row hashes over the columns both sides have) must
match, and PostgreSQL's id sequences are moved past the copied ids so new rows do not collide.

The source is only read (its schema may be older: columns it lacks get their defaults).
Stop the daemons before copying; start them against the target afterwards.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import peewee

from vodtender.runtime.db import (
    ReconnectingPostgresqlDatabase,
    checkpoint_wal,
    is_postgres,
    open_database,
    postgres_params,
    retry_on_busy,
    sqlite_path,
    write_transaction,
)
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ALL_MODELS, BaseModel, SchemaMigration

# The target's own migrations are its truth; the source's list may be older.
COPIED_MODELS = [m for m in ALL_MODELS if m is not SchemaMigration]
MAX_SQL_VARIABLES = 30_000  # under SQLite's limit of bound parameters per statement
_HASH_MODULUS = 2**256


class CopyError(Exception):
    """The copy cannot start or its verification failed; the message says why."""


@dataclass
class TableResult:
    table: str
    source_rows: int = 0
    copied: int = 0
    skipped: int = 0  # already in the target
    target_rows: int = 0
    source_checksum: str = ""
    target_checksum: str = ""

    @property
    def verified(self) -> bool:
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


@dataclass
class CopyResult:
    tables: list[TableResult] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return all(t.verified for t in self.tables)

    @property
    def copied(self) -> int:
        return sum(t.copied for t in self.tables)


class Progress:
    """A progress bar on a terminal, plain lines (every ~10%) otherwise."""

    def __init__(self, stream: IO[str] | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.width = width
        self.table, self.total, self.done, self.started, self._last_step = "", 0, 0, 0.0, -1

    def start(self, table: str, total: int) -> None:
        self.table, self.total, self.done, self.started, self._last_step = table, total, 0, time.monotonic(), -1
        self._show()

    def advance(self, rows: int) -> None:
        self.done += rows
        self._show()

    def finish(self, note: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(f"{self.table}: {note}\n")
        self.stream.flush()

    def _show(self) -> None:
        fraction = self.done / self.total if self.total else 1.0
        rate = self.done / max(1e-6, time.monotonic() - self.started)
        if self.tty:
            filled = int(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(
                f"\r\033[K{self.table:<16} [{bar}] {fraction:4.0%} {self.done}/{self.total} {rate:,.0f} rows/s"
            )
        else:
            step = int(fraction * 10)
            if step == self._last_step:
                return
            self._last_step = step
            self.stream.write(f"{self.table}: {self.done}/{self.total} rows ({fraction:.0%})\n")
        self.stream.flush()


def open_source(dsn: str) -> peewee.Database:
    """The source database, for reading only (not bound to the models, nothing set on it)."""
    path = sqlite_path(dsn)
    if path is not None:
        if not Path(path).is_file():
            raise CopyError(f"source database {path} does not exist")
        return peewee.SqliteDatabase(path, timeout=30)
    if is_postgres(dsn):
        return ReconnectingPostgresqlDatabase(**postgres_params(dsn))
    raise CopyError(
        f"unsupported source {dsn.split('://', maxsplit=1)[0]!r}: use a SQLite path, sqlite:/// or postgresql://"
    )


def shared_fields(model: type[BaseModel], source: peewee.Database) -> list[peewee.Field]:
    """The model's fields the source table has (an older source may lack newer columns)."""
    table = model._meta.table_name
    if not source.table_exists(table):
        return []
    columns = {c.name for c in source.get_columns(table)}
    return [f for f in model._meta.sorted_fields if f.column_name in columns]


def _batches(
    model: type[BaseModel], fields: list[peewee.Field], db: peewee.Database, size: int
) -> Iterator[list[dict[str, object]]]:
    """All rows as dicts, in primary-key order, `size` at a time (keyset pagination: no OFFSET)."""
    pk = model._meta.primary_key
    assert pk is not False, "every table copied has a primary key"
    last = None
    while True:
        query = model.select(*fields).order_by(pk).limit(size)
        if last is not None:
            query = query.where(pk > last)
        # cast: the stubs keep the model as the row type after .dicts(), which makes the rows dicts
        rows = cast(list[dict[str, object]], list(query.bind(db).dicts()))
        if not rows:
            return
        yield rows
        last = rows[-1][pk.name]


def _row_hash(row: dict[str, object], names: list[str]) -> int:
    values = []
    for name in names:
        value = row[name]
        values.append(value.isoformat() if hasattr(value, "isoformat") else value)
    return int.from_bytes(hashlib.sha256(repr(values).encode()).digest(), "big")


def table_checksum(
    model: type[BaseModel], fields: list[peewee.Field], db: peewee.Database, batch: int
) -> tuple[int, str]:
    """(rows, checksum) of `fields` over the whole table; the same content gives the same sum in any order."""
    names = [f.name for f in fields]
    count, total = 0, 0
    for rows in _batches(model, fields, db, batch):
        count += len(rows)
        for row in rows:
            total = (total + _row_hash(row, names)) % _HASH_MODULUS
    return count, f"{total:064x}"


def _insert_batch(model: type[BaseModel], rows: list[dict[str, object]], target: peewee.Database) -> int:
    def insert() -> int:
        with write_transaction(target):
            return int(model.insert_many(rows).on_conflict_ignore().as_rowcount().execute())

    return retry_on_busy(insert)


def fix_sequences(target: peewee.Database) -> None:
    """PostgreSQL: move each id sequence past the largest copied id (explicit ids do not advance it)."""
    if not isinstance(target, peewee.PostgresqlDatabase):
        return
    for model in COPIED_MODELS:
        pk = model._meta.primary_key
        if isinstance(pk, peewee.AutoField):
            table, column = model._meta.table_name, pk.column_name
            target.execute_sql(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL)"
                f" FROM {table}",
                (table, column),
            )


def copy_database(
    source_dsn: str, target_dsn: str, batch: int = 2000, progress: Progress | None = None, verify: bool = True
) -> CopyResult:
    """Copy every table from `source_dsn` into `target_dsn` (migrated first); returns what was done."""
    if source_dsn == target_dsn:
        raise CopyError("source and target are the same database")
    source = open_source(source_dsn)
    source.connect()
    target = open_database(target_dsn)
    migrate(target)
    progress = progress or Progress()
    result = CopyResult()
    try:
        for model in COPIED_MODELS:
            fields = shared_fields(model, source)
            table = TableResult(model._meta.table_name)
            result.tables.append(table)
            if not fields:
                progress.start(table.table, 0)
                progress.finish("not in the source, skipped")
                continue
            size = max(1, min(batch, MAX_SQL_VARIABLES // len(fields)))
            table.source_rows = model.select().bind(source).count()
            progress.start(table.table, table.source_rows)
            for rows in _batches(model, fields, source, size):
                inserted = _insert_batch(model, rows, target)
                table.copied += inserted
                table.skipped += len(rows) - inserted
                progress.advance(len(rows))
            note = f"{table.copied} copied, {table.skipped} already there"
            if verify:
                table.source_rows, table.source_checksum = table_checksum(model, fields, source, size)
                table.target_rows, table.target_checksum = table_checksum(model, fields, target, size)
                note += (
                    ", verified"
                    if table.verified
                    else (
                        f", MISMATCH: source {table.source_rows} rows {table.source_checksum[:12]}, "
                        f"target {table.target_rows} rows {table.target_checksum[:12]}"
                    )
                )
            progress.finish(note)
        fix_sequences(target)
        target_path = sqlite_path(target_dsn)
        if target_path is not None:
            checkpoint_wal(target_path)  # the copy went through the WAL: do not leave it archive-sized
    finally:
        source.close()
    return result
