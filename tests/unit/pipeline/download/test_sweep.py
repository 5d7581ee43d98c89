"""The downloader's sweep: downloaded VODs whose file has gone go back to the download stage (this host's
files only); what a finished download left in the partial folder goes, a download in progress keeps its own."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import peewee
import pytest

from tests.helpers.clock import ManualClock
from vodtender.pipeline.download.sweep import FileSweep, discard_finished_partials, requeue_missing_files
from vodtender.pipeline.vods import download_due
from vodtender.runtime.models import Vod, VodEvent, utcnow


def _vod(vod_id: str, **fields: object) -> Vod:
    return Vod.create(twitch_vod_id=vod_id, channel="chan", date=dt.datetime(2026, 11, 1), **fields)


def _due() -> list[str]:
    return [v.twitch_vod_id for v in Vod.select().where(download_due())]


def test_a_downloaded_vod_whose_file_is_gone_goes_back_to_download(
    migrated_db: peewee.Database, tmp_path: Path
) -> None:
    kept = tmp_path / "kept.ts"
    kept.write_bytes(b"x")
    _vod("gone", download_state="downloaded", downloaded_path=str(tmp_path / "gone.ts"), download_host=None)
    _vod("kept", download_state="downloaded", downloaded_path=str(kept))
    _vod("elsewhere", download_state="downloaded", downloaded_path="/nonexistent", download_host="otherhost")
    assert [v.twitch_vod_id for v in requeue_missing_files(False)] == ["gone"]
    assert _due() == ["gone"]
    assert [v.twitch_vod_id for v in requeue_missing_files(True)] == ["elsewhere"]


def test_a_vod_some_worker_holds_is_left_alone(migrated_db: peewee.Database) -> None:
    _vod(
        "held",
        download_state="downloaded",
        downloaded_path="/nonexistent",
        lease_owner="w:1",
        lease_until=utcnow() + dt.timedelta(minutes=5),
    )
    assert requeue_missing_files(False) == []


def test_the_sweep_runs_at_once_then_once_per_interval(migrated_db: peewee.Database) -> None:
    clock = ManualClock()
    sweep = FileSweep(Path("/nonexistent"), False, clock, interval=60)
    _vod("1", download_state="downloaded", downloaded_path="/nonexistent/1.ts")
    sweep.run_if_due()
    _vod("2", download_state="downloaded", downloaded_path="/nonexistent/2.ts")
    clock.advance(59)
    sweep.run_if_due()
    assert _due() == ["1"]
    clock.advance(1)
    sweep.run_if_due()
    assert sorted(_due()) == ["1", "2"]
    assert VodEvent.select().where(VodEvent.kind == "requeued").count() == 2


def test_what_a_finished_download_left_in_the_partial_folder_goes(
    migrated_db: peewee.Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    partial = tmp_path / ".partial"
    partial.mkdir()
    left = {name: partial / name for name in ("10.part.frags", "10.part", "10.f137.mp4")}  # a kill after the commit
    kept = {name: partial / name for name in ("11.part", "11.part.frags", "12.part", "unknown.part")}
    for path in (*left.values(), *kept.values()):
        path.write_bytes(b"x" * 100)
    _vod("10", download_state="downloaded", downloaded_path=str(tmp_path / "10.mp4"))
    _vod("11", download_state="downloading", lease_owner="w:1", lease_until=utcnow() + dt.timedelta(minutes=5))
    _vod("12")  # to be downloaded again: its resumable part stays
    assert sorted(discard_finished_partials(tmp_path)) == sorted(left.values())
    assert sorted(partial.iterdir()) == sorted(kept.values())
    assert caplog.text.count("removed what a finished download left in the partial folder") == 3
    assert discard_finished_partials(tmp_path / "no-such-folder") == []


def test_the_sweep_removes_finished_partials_too(migrated_db: peewee.Database, tmp_path: Path) -> None:
    (tmp_path / ".partial").mkdir()
    (tmp_path / ".partial/20.part.frags").write_text("journal")
    _vod("20", download_state="downloaded", downloaded_path=str(tmp_path / "20.mp4"))
    (tmp_path / "20.mp4").write_bytes(b"video")
    FileSweep(tmp_path, False, ManualClock()).run_if_due()
    assert list((tmp_path / ".partial").iterdir()) == [] and _due() == []
