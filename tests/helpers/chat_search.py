"""A database as it was before the `chat_search_index` migration: for timing and testing that migration."""

from __future__ import annotations

import peewee

from vodtender.runtime.models import SchemaMigration


def drop_chat_search_index(db: peewee.Database) -> None:
    """Remove the full-text index and its triggers, and forget that the migration ran."""
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql("ALTER TABLE chat_messages DROP COLUMN message_tsv")  # and its index
    else:
        for name in ("insert", "delete", "update"):
            db.execute_sql(f"DROP TRIGGER chat_messages_fts_{name}")
        db.execute_sql("DROP TABLE chat_messages_fts")
    SchemaMigration.delete().where(SchemaMigration.name == "chat_search_index").execute()
