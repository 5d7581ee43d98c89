"""reprocess / cancel / priority act on the runbook's columns; the download queue follows them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import peewee
import pytest

from vodtender.ops import control as download_control
from vodtender.pipeline.vods import claim, download_due, upload_due
from vodtender.runtime.models import Vod, VodEvent, utcnow


def _vod(vod_id: str = "1", **fields: object) -> Vod:
    return Vod.create(twitch_vod_id=vod_id, channel="chan", date=dt.datetime(2026, 11, 1), **fields)


def _due() -> list[str]:
    return [v.twitch_vod_id for v in Vod.select().where(download_due())]


def test_cancel_of_an_idle_vod_marks_it_cancelled_at_once(migrated_db: peewee.Database) -> None:
    _vod()
    line = download_control.cancel("1")
    vod = Vod.get()
    assert "cancelled" in line and "download_state='cancelled'" in line
    assert (vod.download_state, vod.processing_error, vod.error_class, vod.cancel_requested) == (
        "cancelled",
        "cancelled by operator",
        "cancelled",
        0,
    )
    assert _due() == []


def test_cancel_of_a_vod_in_progress_asks_its_worker(migrated_db: peewee.Database) -> None:
    _vod(lease_owner="host:1", lease_until=utcnow() + dt.timedelta(minutes=2), download_state="downloading")
    assert "cancel requested" in download_control.cancel("1")
    assert Vod.get().cancel_requested == 1 and Vod.get().processing_error is None


def test_a_cancel_whose_worker_died_is_claimed_so_it_can_be_finished(migrated_db: peewee.Database) -> None:
    _vod(lease_owner="otherhost:1", lease_until=utcnow() - dt.timedelta(seconds=1), cancel_requested=1)
    vod = claim(download_due(), "me:1", 60)
    assert vod is not None and vod.cancel_requested == 1  # the job sees the flag and records the cancel


def test_runbook_reset_requeues_a_cancelled_vod(migrated_db: peewee.Database) -> None:
    _vod()
    download_control.cancel("1")
    migrated_db.execute_sql(
        "UPDATE vods SET processed=0, processing_error=NULL, youtube_url=NULL WHERE twitch_vod_id='1'"
    )
    assert _due() == ["1"]


def test_reprocess_without_the_file_goes_back_to_download(migrated_db: peewee.Database) -> None:
    _vod(
        processed=1,
        download_state="downloaded",
        downloaded_path="/nonexistent/x.ts",
        youtube_url="u",
        download_retries=3,
    )
    line = download_control.reprocess("1", reupload=True)
    vod = Vod.get()
    assert "queued for download" in line and "processed=0" in line
    assert "uploaded again as a new video (1600 quota units)" in line
    assert (vod.processed, vod.download_state, vod.downloaded_path, vod.youtube_url, vod.download_retries) == (
        0,
        "discovered",
        None,
        None,
        0,
    )
    assert _due() == ["1"]
    assert [e.kind for e in VodEvent.select()] == ["reprocess"]


def test_reprocess_with_the_file_goes_back_to_upload(migrated_db: peewee.Database, tmp_path: Path) -> None:
    file = tmp_path / "x.ts"
    file.write_bytes(b"x")
    _vod(processed=1, download_state="downloaded", downloaded_path=str(file), youtube_url="u")
    assert "queued for upload" in download_control.reprocess("#1", reupload=True)
    assert _due() == [] and [v.twitch_vod_id for v in Vod.select().where(upload_due())] == ["1"]


def test_reprocess_of_a_vod_on_youtube_only_verifies_it(migrated_db: peewee.Database, tmp_path: Path) -> None:
    file = tmp_path / "x.ts"
    file.write_bytes(b"x")
    _vod(processed=1, download_state="downloaded", downloaded_path=str(file), youtube_url="u")
    line = download_control.reprocess("1", insert_cost=1600)
    assert "verify only; not uploaded again" in line and "reprocess --reupload 1 (1600 quota units)" in line
    vod = Vod.get()
    assert (vod.processed, vod.download_state, vod.youtube_url) == (0, "discovered", "u")
    assert _due() == ["1"] and not Vod.select().where(upload_due()).exists()


def test_reprocess_refuses_a_vod_being_worked_on(migrated_db: peewee.Database) -> None:
    _vod(lease_owner="host:1", lease_until=utcnow() + dt.timedelta(minutes=2), download_state="downloading")
    with pytest.raises(download_control.ControlError, match="being worked on"):
        download_control.reprocess("1")


def test_priority_orders_the_queue(migrated_db: peewee.Database) -> None:
    _vod("old")
    Vod.create(twitch_vod_id="new", channel="chan", date=dt.datetime(2026, 11, 20))
    assert download_control.set_priority("new", 5) == "VOD new: priority 0 -> 5"
    assert claim(download_due(), "me:1", 60).twitch_vod_id == "new"


def test_unknown_vod_is_a_clear_error(migrated_db: peewee.Database) -> None:
    with pytest.raises(download_control.ControlError, match="no VOD '42'"):
        download_control.cancel("42")
