"""Versioned schema migrations, run by `vodtender db migrate` and by every daemon at start-up.

Each migration has a name and runs once; applied names are kept in `schema_migrations`.
All of them run in one write transaction holding the database's write lock (SQLite:
BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so five daemons starting at the same
moment apply each migration exactly once and the others wait, then find nothing to do.

The first migration creates the tables from the models.  Later ones that add a column
use `add_column`, which skips a column a fresh database already has from the first one:
so a new install and an upgraded one end with the same schema (checked by the tests).
"""

from __future__ import annotations

from collections.abc import Callable

import peewee
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator
from playhouse.migrate import migrate as run_operations

from vodtender.runtime.db import retry_on_busy, write_transaction
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import (
    ALL_MODELS,
    BaseModel,
    ChatMessage,
    ChatQuarantine,
    Recording,
    SchemaMigration,
    SharedLimit,
    Upload,
    Vod,
)

log = get_logger("db")

Migration = Callable[[peewee.Database, SchemaMigrator], None]
_ADVISORY_LOCK_ID = 0x766F6474  # "vodt"


def _initial(db: peewee.Database, migrator: SchemaMigrator) -> None:
    db.create_tables([m for m in ALL_MODELS if m is not SchemaMigration], safe=True)


def add_column(db: peewee.Database, migrator: SchemaMigrator, model: type[BaseModel], name: str) -> None:
    """Add `model`'s field `name` unless the table already has it."""
    table = model._meta.table_name
    if name not in {c.name for c in db.get_columns(table)}:
        field = model._meta.fields[name]
        run_operations(migrator.add_column(table, field.column_name, field))


def add_columns(model: type[BaseModel], *names: str) -> Migration:
    """A migration adding these fields of `model` (each unless the table already has it)."""

    def step(db: peewee.Database, migrator: SchemaMigrator) -> None:
        for name in names:
            add_column(db, migrator, model, name)

    return step


def _double_precision(db: peewee.Database, columns: dict[str, tuple[str, ...]]) -> None:
    """PostgreSQL: widen REAL columns to DOUBLE PRECISION (SQLite's REAL already is 8 bytes)."""
    if isinstance(db, peewee.PostgresqlDatabase):
        for table, names in columns.items():
            for name in names:
                db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{name}" TYPE DOUBLE PRECISION')


def _chat_ids_unique_per_channel(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """`chat_messages.msg_id` unique per channel instead of across channels.  Every existing row stays:
    ids unique across channels are unique per channel.  A fresh database already has the new index."""
    db.execute_sql("DROP INDEX IF EXISTS chat_messages_msg_id")  # peewee's name, in SQLite and PostgreSQL
    db.execute_sql("CREATE UNIQUE INDEX IF NOT EXISTS chat_messages_channel_msg_id ON chat_messages (channel, msg_id)")


def _chat_search_index(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """A full-text index over `chat_messages.message` for `vodtender chat search`, built for every row.

    SQLite: an FTS5 table over the rows (external content: the text is not stored twice, linked by
    `id`), kept in step by triggers, because the chat writer inserts by raw SQL.  Only a change of
    `message` touches it: marking a deletion or re-pointing a VOD does not.  PostgreSQL: a generated
    column holding the 'simple' configuration's tsvector (no stemming, no stop words: any language,
    emote names) under a GIN index; stored, because a phrase is checked against each candidate row's
    tsvector, which an expression index would compute again for every one of them."""
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql(
            "ALTER TABLE chat_messages ADD COLUMN IF NOT EXISTS message_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', message)) STORED"
        )
        db.execute_sql("CREATE INDEX IF NOT EXISTS chat_messages_message_tsv ON chat_messages USING GIN (message_tsv)")
        return
    statements = (
        "CREATE VIRTUAL TABLE IF NOT EXISTS chat_messages_fts USING fts5(message, content='chat_messages', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER IF NOT EXISTS chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN "
        "INSERT INTO chat_messages_fts (rowid, message) VALUES (new.id, new.message); END",
        "CREATE TRIGGER IF NOT EXISTS chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN "
        "INSERT INTO chat_messages_fts (chat_messages_fts, rowid, message) VALUES ('delete', old.id, old.message); END",
        "CREATE TRIGGER IF NOT EXISTS chat_messages_fts_update AFTER UPDATE OF message ON chat_messages BEGIN "
        "INSERT INTO chat_messages_fts (chat_messages_fts, rowid, message) VALUES ('delete', old.id, old.message); "
        "INSERT INTO chat_messages_fts (rowid, message) VALUES (new.id, new.message); END",
        "INSERT INTO chat_messages_fts (chat_messages_fts) VALUES ('rebuild')",
    )
    for statement in statements:
        db.execute_sql(statement)


# Append only; never edit or reorder an applied migration.
MIGRATIONS: list[tuple[str, Migration]] = [
    ("0001_initial", _initial),
    ("poller_helix_seen_at", lambda db, m: add_column(db, m, Vod, "helix_seen_at")),
    ("scaleout_shared_limits", lambda db, m: db.create_tables([SharedLimit], safe=True)),
    (
        "chat_double_timestamps",
        lambda db, m: _double_precision(
            db, {"chat_messages": ("abs_timestamp", "rel_timestamp"), "chat_gaps": ("started_at", "ended_at")}
        ),
    ),
    ("scaleout_shared_limits_double", lambda db, m: _double_precision(db, {"shared_limits": ("tokens", "stamp")})),
    ("download_gaps_and_video_format", add_columns(Vod, "download_gaps", "video_codec", "video_resolution")),
    ("live_recordings", lambda db, m: db.create_tables([Recording], safe=True)),
    ("recording_outcomes", add_columns(Recording, "host", "outcome", "outcome_note")),
    ("chat_quarantine", lambda db, m: db.create_tables([ChatQuarantine], safe=True)),
    ("youtube_uploads", lambda db, m: db.create_tables([Upload], safe=True)),
    (
        "chat_shared_and_replayed",
        add_columns(ChatMessage, "mirrored", "source_room_id", "source_channel", "source_msg_id", "origin"),
    ),
    ("chat_ids_unique_per_channel", _chat_ids_unique_per_channel),
    ("chat_search_index", _chat_search_index),
    (
        "chat_window_index",
        lambda db, m: db.execute_sql(
            "CREATE INDEX IF NOT EXISTS chat_messages_vod_id_rel_timestamp ON chat_messages (vod_id, rel_timestamp)"
        ),
    ),
]


def _migrator(db: peewee.Database) -> SchemaMigrator:
    return SqliteMigrator(db) if isinstance(db, peewee.SqliteDatabase) else PostgresqlMigrator(db)


def pending(db: peewee.Database) -> list[str]:
    if not db.table_exists(SchemaMigration._meta.table_name):
        return [name for name, _ in MIGRATIONS]
    applied = {row.name for row in SchemaMigration.select(SchemaMigration.name)}
    return [name for name, _ in MIGRATIONS if name not in applied]


def migrate(db: peewee.Database) -> list[str]:
    """Apply every pending migration; returns the names applied by this call."""

    def run() -> list[str]:
        done: list[str] = []
        with write_transaction(db):
            if isinstance(db, peewee.PostgresqlDatabase):
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_ID,))
            db.create_tables([SchemaMigration], safe=True)
            applied = {row.name for row in SchemaMigration.select(SchemaMigration.name)}
            migrator = _migrator(db)
            for name, step in MIGRATIONS:
                if name in applied:
                    continue
                step(db, migrator)
                SchemaMigration.create(name=name)
                done.append(name)
        return done

    done = retry_on_busy(run)
    for name in done:
        log.info("migration applied", migration=name)
    return done
