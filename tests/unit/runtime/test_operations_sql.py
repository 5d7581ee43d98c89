"""Every SQL statement of the runbook (OPERATIONS.md) runs as written and does what it says."""

from __future__ import annotations

import datetime as dt

import peewee

from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.vods import download_due, stage_of, upload_due
from vodtender.runtime.models import KV, Vod

RESET = "UPDATE vods SET processed=0, processing_error=NULL, youtube_url=NULL WHERE twitch_vod_id='{id}'"
CLEAR_BREAKER = "DELETE FROM kv WHERE key IN ('circuit_state','circuit_failures','circuit_open_until');"
PENDING = "SELECT twitch_vod_id, processed, processing_error FROM vods ORDER BY date;"


def _vod(vod_id: str, day: int, **fields: object) -> Vod:
    return Vod.create(twitch_vod_id=vod_id, channel="chan", date=dt.datetime(2026, 11, day), **fields)


def test_reset_requeues_a_failed_vod_for_download(migrated_db: peewee.Database) -> None:
    _vod("111", 1, processing_error="HTTP 404", error_class="fatal", download_state="failed")
    assert not Vod.select().where(download_due()).exists()
    migrated_db.execute_sql(RESET.format(id="111"))
    vod = Vod.get(Vod.twitch_vod_id == "111")
    assert stage_of(vod) == "discovered"
    assert Vod.select().where(download_due()).get().twitch_vod_id == "111"


def test_reset_requeues_an_uploaded_vod_for_upload_when_its_file_is_there(migrated_db: peewee.Database) -> None:
    _vod(
        "222",
        2,
        processed=1,
        download_state="downloaded",
        downloaded_path="/srv/x.mp4",
        youtube_url="https://youtu.be/x",
        upload_state="done",
    )
    migrated_db.execute_sql(RESET.format(id="222"))
    vod = Vod.get(Vod.twitch_vod_id == "222")
    assert (vod.processed, vod.youtube_url) == (0, None)
    assert stage_of(vod) == "downloaded"
    assert Vod.select().where(upload_due()).get().twitch_vod_id == "222"


def test_clearing_the_breaker_keys_closes_it(migrated_db: peewee.Database) -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=3600)
    breaker.record_failure("disk full")
    breaker.record_failure("disk full")
    assert breaker.current().state == "open" and not breaker.allow()
    migrated_db.execute_sql(CLEAR_BREAKER)
    assert KV.select().where(KV.key.in_(("circuit_state", "circuit_failures", "circuit_open_until"))).count() == 0
    assert breaker.current().state == "closed" and breaker.allow()
    breaker.record_failure("disk full")  # counting starts again from nothing
    assert breaker.current().state == "closed" and breaker.current().failures == 1


def test_pending_query_lists_vods_oldest_first(migrated_db: peewee.Database) -> None:
    _vod("late", 20)
    _vod("early", 3, processing_error="boom")
    _vod("mid", 10, processed=1)
    rows = migrated_db.execute_sql(PENDING).fetchall()
    assert rows == [("early", 0, "boom"), ("mid", 1, None), ("late", 0, None)]


def test_integrity_check_and_vacuum_run(migrated_db: peewee.Database) -> None:
    _vod("1", 1)
    if isinstance(migrated_db, peewee.SqliteDatabase):  # PostgreSQL checks pages itself; VACUUM is common
        assert migrated_db.execute_sql("PRAGMA integrity_check;").fetchall() == [("ok",)]
    migrated_db.execute_sql("VACUUM;")
    assert Vod.select().count() == 1
