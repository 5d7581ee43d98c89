"""Migrations: idempotent and complete (every model field has a column).

That daemons starting at once apply each migration once: tests/integration/runtime/test_migrations_concurrent.py.
"""

from __future__ import annotations

from pathlib import Path

import peewee
import pytest

from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import MIGRATIONS, migrate, pending
from vodtender.runtime.models import ALL_MODELS, ChatMessage, SchemaMigration, Vod


def test_migrate_twice_applies_nothing_the_second_time(db_path: Path) -> None:
    db = open_database(str(db_path))
    assert migrate(db) == [name for name, _ in MIGRATIONS]
    assert migrate(db) == []
    assert pending(db) == []


def test_every_model_field_has_its_column(migrated_db: peewee.Database) -> None:
    for model in ALL_MODELS:
        columns = {c.name for c in migrated_db.get_columns(model._meta.table_name)}
        fields = {f.column_name for f in model._meta.sorted_fields}
        assert fields <= columns, f"{model._meta.table_name}: no migration adds {fields - columns}"


def test_migration_names_are_unique() -> None:
    names = [name for name, _ in MIGRATIONS]
    assert len(names) == len(set(names))


def test_sqlite_runs_in_wal_mode(db_path: Path) -> None:
    db = open_database(str(db_path))
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_an_older_database_gains_the_download_result_columns_and_keeps_its_rows(migrated_db: peewee.Database) -> None:
    new_columns = ("download_gaps", "video_codec", "video_resolution")
    Vod.create(twitch_vod_id="1", channel="c", download_state="downloaded")
    for name in new_columns:  # the schema before the migration
        migrated_db.execute_sql(f'ALTER TABLE "vods" DROP COLUMN "{name}"')
    SchemaMigration.delete().where(SchemaMigration.name == "download_gaps_and_video_format").execute()
    assert migrate(migrated_db) == ["download_gaps_and_video_format"]
    assert set(new_columns) <= {c.name for c in migrated_db.get_columns("vods")}
    row = Vod.get(Vod.twitch_vod_id == "1")
    assert (row.download_state, row.download_gaps, row.video_codec, row.video_resolution) == (
        "downloaded",
        None,
        None,
        None,
    )


def chat_indexes(db: peewee.Database) -> set[tuple[str, bool, tuple[str, ...]]]:
    return {(i.name, bool(i.unique), tuple(i.columns)) for i in db.get_indexes("chat_messages")}


def test_chat_ids_become_unique_per_channel_keeping_every_row(migrated_db: peewee.Database) -> None:
    fresh = chat_indexes(migrated_db)
    # The schema before: msg_id unique across channels, under peewee's name for that index.
    migrated_db.execute_sql("DROP INDEX chat_messages_channel_msg_id")
    migrated_db.execute_sql("CREATE UNIQUE INDEX chat_messages_msg_id ON chat_messages (msg_id)")
    SchemaMigration.delete().where(SchemaMigration.name == "chat_ids_unique_per_channel").execute()
    for n, channel in enumerate(("a", "a", "b")):
        ChatMessage.create(msg_id=f"m{n}", channel=channel, abs_timestamp=1.0 + n, message=f"text {n}", deleted=n % 2)
    with pytest.raises(peewee.IntegrityError), migrated_db.atomic():
        ChatMessage.create(msg_id="m0", channel="b", abs_timestamp=9.0)  # what the old index refused

    assert migrate(migrated_db) == ["chat_ids_unique_per_channel"]
    assert chat_indexes(migrated_db) == fresh
    assert ("chat_messages_channel_msg_id", True, ("channel", "msg_id")) in fresh
    stored = [(m.msg_id, m.channel, m.message, m.deleted) for m in ChatMessage.select().order_by(ChatMessage.id)]
    assert stored == [("m0", "a", "text 0", 0), ("m1", "a", "text 1", 1), ("m2", "b", "text 2", 0)]
    ChatMessage.create(msg_id="m0", channel="b", abs_timestamp=9.0)  # the same id in another channel
    with pytest.raises(peewee.IntegrityError), migrated_db.atomic():
        ChatMessage.create(msg_id="m0", channel="a", abs_timestamp=9.0)
