"""Migrations: idempotent and complete (every model field has a column).

That daemons starting at once apply each migration once: tests/integration/runtime/test_migrations_concurrent.py.
"""

from __future__ import annotations

from pathlib import Path

import peewee

from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import MIGRATIONS, migrate, pending
from vodtender.runtime.models import ALL_MODELS


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
