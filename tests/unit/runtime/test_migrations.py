"""Migrations: idempotent and complete (every model field has a column).

That daemons starting at once apply each migration once: tests/integration/runtime/test_migrations_concurrent.py.
"""

from __future__ import annotations

from pathlib import Path

import peewee

from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import MIGRATIONS, migrate, pending
from vodtender.runtime.models import ALL_MODELS, SchemaMigration, Vod


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
