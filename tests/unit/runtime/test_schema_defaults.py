"""Database-level defaults: the runbook's INSERT queues a VOD, and an older database gains them keeping its rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import peewee
import pytest

from vodtender.pipeline.chat.search import search_chat
from vodtender.runtime import migrations
from vodtender.runtime.db import open_database
from vodtender.runtime.models import ALL_MODELS, ChatMessage, SchemaMigration, Vod, VodEvent
from vodtender.runtime.schema_defaults import with_defaults

RUNBOOK_INSERT = (
    "INSERT INTO vods (twitch_vod_id, channel, title, date, duration_seconds) "
    "VALUES ('900', 'alice', 'asked for', '2026-11-30 18:00:00', 3600)"
)


def test_a_vod_inserted_by_the_runbooks_sql_starts_as_the_pipeline_would_start_it(
    migrated_db: peewee.Database,
) -> None:
    migrated_db.execute_sql(RUNBOOK_INSERT)
    by_sql = Vod.get(Vod.twitch_vod_id == "900")
    by_model = Vod.create(twitch_vod_id="901", channel="alice")
    skipped = {"id", "twitch_vod_id", "title", "date", "duration_seconds", "created_at", "updated_at"}
    for field in Vod._meta.sorted_fields:
        if field.name not in skipped:
            assert getattr(by_sql, field.name) == getattr(by_model, field.name), field.name
    assert (by_sql.download_state, by_sql.processed, by_sql.priority) == ("discovered", 0, 0)
    assert abs(by_sql.created_at - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(minutes=1)


def database_defaults(db: peewee.Database, table: str) -> dict[str, object]:
    if isinstance(db, peewee.PostgresqlDatabase):
        rows = db.execute_sql(
            "SELECT column_name, column_default FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        ).fetchall()
        return dict(rows)
    return {row[1]: row[4] for row in db.execute_sql(f'PRAGMA table_info("{table}")').fetchall()}


def test_every_not_null_column_with_a_model_default_has_it_in_the_database(migrated_db: peewee.Database) -> None:
    for model in ALL_MODELS:
        defaults = database_defaults(migrated_db, model._meta.table_name)
        for field in model._meta.sorted_fields:
            if not (field.null or field.primary_key or field.default is None):
                assert defaults[field.column_name] is not None, f"{model._meta.table_name}.{field.column_name}"


def test_an_older_sqlite_database_gains_the_defaults_and_keeps_every_row(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database(str(db_path))
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in migrations.MIGRATIONS if m[0] != "database_defaults"])
    migrations.migrate(db)  # the release before
    vod = Vod.create(twitch_vod_id="1", channel="c", download_state="downloaded", title="kept")
    VodEvent.create(vod=vod, stage="download", kind="done", message="event kept")
    ChatMessage.create(msg_id="m1", channel="c", vod_id="1", abs_timestamp=5.0, message="hello archive")
    with pytest.raises(peewee.IntegrityError), db.atomic():
        db.execute_sql(RUNBOOK_INSERT)  # what the older schema refused
    monkeypatch.undo()

    assert migrations.migrate(db) == ["database_defaults"]
    db.execute_sql(RUNBOOK_INSERT)
    assert [(v.twitch_vod_id, v.title, v.download_state) for v in Vod.select().order_by(Vod.id)] == [
        ("1", "kept", "downloaded"),
        ("900", "asked for", "discovered"),
    ]
    assert [e.message for e in VodEvent.select()] == ["event kept"]
    assert [h.message for h in search_chat("archive")] == ["hello archive"]  # the index and its triggers work
    assert db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert SchemaMigration.select().count() == len(migrations.MIGRATIONS)
    db.close()


def test_only_definitions_without_a_default_are_given_one() -> None:
    created = (
        'CREATE TABLE "t" ("id" INTEGER NOT NULL PRIMARY KEY, "default" TEXT NOT NULL, '
        '"kind" TEXT NOT NULL DEFAULT \'a,b\', "n" DECIMAL(10, 2) NOT NULL, '
        'FOREIGN KEY ("id") REFERENCES "u" ("id") ON DELETE CASCADE)'
    )
    assert with_defaults(created, {"default": "''", "kind": "'x'", "n": "0"}) == (
        'CREATE TABLE "t" ("id" INTEGER NOT NULL PRIMARY KEY, "default" TEXT NOT NULL DEFAULT \'\', '
        '"kind" TEXT NOT NULL DEFAULT \'a,b\', "n" DECIMAL(10, 2) NOT NULL DEFAULT 0, '
        'FOREIGN KEY ("id") REFERENCES "u" ("id") ON DELETE CASCADE)'
    )
