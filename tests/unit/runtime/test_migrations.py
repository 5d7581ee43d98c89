"""Migrations: idempotent, complete (every model field has a column), safe when daemons start at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import peewee

from tests.helpers.processes import REPO
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import MIGRATIONS, migrate, pending
from vodtender.runtime.models import ALL_MODELS, SchemaMigration


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


def test_four_processes_migrating_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    db_file = tmp_path / "race.db"
    code = ("import sys; from vodtender.runtime.db import open_database; from vodtender.runtime.migrations "
            "import migrate; print(len(migrate(open_database(sys.argv[1]))))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db_file)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    applied_counts = sorted(int(out.strip()) for out, _ in results)
    assert applied_counts == [0, 0, 0, len(MIGRATIONS)]
    db = open_database(str(db_file))
    assert SchemaMigration.select().count() == len(MIGRATIONS)
    db.close()
