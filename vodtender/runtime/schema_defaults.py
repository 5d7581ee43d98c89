"""Database-level defaults for every NOT NULL column whose model field has a default.

Operators work in SQL (the runbook is full of it): with these, a VOD is queued by
`INSERT INTO vods (twitch_vod_id, channel, title, date, duration_seconds) VALUES (...)` and every
pipeline column starts as the model would start it.  Columns without a model default (a VOD's id and
channel, a chat line's id and time...) stay required on purpose.

PostgreSQL sets a default with `ALTER TABLE ... ALTER COLUMN ... SET DEFAULT`.  SQLite has no such
statement; its documentation (ALTER TABLE, "Making Other Kinds Of Table Schema Changes") gives a
procedure for "adding, removing, or changing default values on a column", which leaves the rows on
disk untouched: rewrite the table's CREATE statement in `sqlite_schema` under `writable_schema`,
bump `schema_version`, then check the database's integrity.  Rebuilding the tables instead would
copy every chat line (millions) and fire the foreign keys' cascades.
"""

from __future__ import annotations

from collections.abc import Iterator

import peewee

from vodtender.runtime.clock import utcnow
from vodtender.runtime.models import BaseModel


class SchemaRewriteError(RuntimeError):
    """A table's CREATE statement is not the shape this module can edit; nothing was changed."""


def wanted_defaults(model: type[BaseModel], now_sql: str) -> dict[str, str]:
    """column -> the SQL literal of its model default, for each NOT NULL column that has one."""
    out = {}
    for field in model._meta.sorted_fields:
        if field.null or field.primary_key or field.default is None:
            continue
        out[field.column_name] = _literal(field.default, now_sql)
    return out


def _literal(value: object, now_sql: str) -> str:
    if value is utcnow:
        return now_sql
    if isinstance(value, bool | int | float):
        return str(int(value) if isinstance(value, bool) else value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL for the default {value!r}: add it here")  # a new kind of model default


def add_database_defaults(db: peewee.Database, models: list[type[BaseModel]]) -> None:
    """Give each model's table the defaults it lacks; call inside the migration's write transaction."""
    if isinstance(db, peewee.PostgresqlDatabase):
        for model in models:
            _postgres(db, model)
        return
    changed = [model for model in models if _sqlite_table(db, model)]
    if changed:
        problems = [row[0] for row in db.execute_sql("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise SchemaRewriteError("integrity check after adding defaults: " + "; ".join(problems[:5]))


def _postgres(db: peewee.Database, model: type[BaseModel]) -> None:
    table = model._meta.table_name
    present = {
        name
        for name, default in db.execute_sql(
            "SELECT column_name, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        ).fetchall()
        if default is not None
    }
    for column, literal in wanted_defaults(model, "(now() AT TIME ZONE 'UTC')").items():
        if column not in present:
            db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET DEFAULT {literal}')


def _sqlite_table(db: peewee.Database, model: type[BaseModel]) -> bool:
    """Rewrite one table's CREATE statement with the missing defaults; True when it changed."""
    table = model._meta.table_name
    row = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    if row is None:
        return False
    wanted = wanted_defaults(model, "CURRENT_TIMESTAMP")
    created = row[0]
    rewritten = with_defaults(created, wanted)
    if rewritten == created:
        return False
    (version,) = db.execute_sql("PRAGMA schema_version").fetchone()
    db.execute_sql("PRAGMA writable_schema = ON")
    try:
        db.execute_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (rewritten, table))
        db.execute_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        db.execute_sql("PRAGMA writable_schema = OFF")
    return True


def with_defaults(create_sql: str, wanted: dict[str, str]) -> str:
    """`create_sql` with ` DEFAULT <literal>` after each wanted column's definition that has none."""
    head, sep, rest = create_sql.partition("(")
    body, close, tail = rest.rpartition(")")
    if not sep or not close:
        raise SchemaRewriteError(f"not a CREATE TABLE statement: {create_sql[:80]!r}")
    parts = []
    for definition in _split_top_level(body):
        name = _column_name(definition)
        if name in wanted and "DEFAULT" not in _unquoted(definition).upper():
            parts.append(f"{definition.rstrip()} DEFAULT {wanted[name]}")
        else:
            parts.append(definition)
    return f"{head}({','.join(parts)}){tail}"


def _column_name(definition: str) -> str | None:
    """The column a definition names (`"col" TYPE ...` or `col TYPE ...`); None for a table constraint."""
    text = definition.strip()
    if text.startswith('"'):
        return text[1 : text.index('"', 1)]
    word = text.split(None, 1)[0] if text else ""
    return None if word.upper() in {"FOREIGN", "PRIMARY", "UNIQUE", "CHECK", "CONSTRAINT"} else word


def _split_top_level(body: str) -> Iterator[str]:
    """The comma-separated items of a column list: commas inside parentheses or quotes don't split."""
    depth, start, quote = 0, 0, ""
    for i, char in enumerate(body):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            yield body[start:i]
            start = i + 1
    yield body[start:]


def _unquoted(definition: str) -> str:
    """The definition without its quoted names and strings (a column named "default" is no DEFAULT)."""
    out, quote = [], ""
    for char in definition:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            out.append(char)
    return "".join(out)
