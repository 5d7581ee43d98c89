"""What becomes of a finished live recording once its stream's VOD has settled (LIVE_RECORD_KEEP), on
SQLite and PostgreSQL: kept beside a worse VOD, removed beside a whole one, or the stream's archive —
with its chat re-timed to the file — when no VOD came or the VOD could not be fetched."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import peewee
import pytest

from vodtender.pipeline import vods
from vodtender.pipeline.kv import kv_set, reconciled_key
from vodtender.pipeline.record import rows
from vodtender.pipeline.record.keep import Keeper
from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.models import ChatMessage, Recording, Vod, VodEvent

START = dt.datetime(2026, 11, 1, 18, 0, 0)  # the stream's start (Helix), naive UTC
RECORDED_FROM = START + dt.timedelta(seconds=20)  # the first recorded segment's program date time
HOST = "recorder-host"
STREAM = "4401"
PLACEHOLDER = f"live-{STREAM}"


@pytest.fixture
def recording(migrated_db: peewee.Database, tmp_path: Path) -> Recording:
    """A finished recording of a stream that has ended: 1 h, one 30 s ad break 10 minutes in."""
    Vod.create(
        twitch_vod_id=PLACEHOLDER,
        channel="chan",
        stream_id=STREAM,
        date=START,
        title="the stream",
        is_placeholder=1,
        live_ended_at=START + dt.timedelta(hours=1),
    )
    path = tmp_path / "chan" / f"2026-11-01_live-{STREAM}.ts"
    path.parent.mkdir()
    path.write_bytes(b"\x47" * 188 * 100)
    ad_start = (RECORDED_FROM + dt.timedelta(minutes=10)).replace(tzinfo=dt.UTC)
    gap = {"start": ad_start.isoformat(), "end": (ad_start + dt.timedelta(seconds=30)).isoformat()}
    return Recording.create(
        stream_id=STREAM,
        channel="chan",
        placeholder_vod_id=PLACEHOLDER,
        state=rows.FINISHED,
        path=str(path),
        host=HOST,
        started_at=RECORDED_FROM,
        ended_at=START + dt.timedelta(hours=1),
        seconds=3570.0,
        bytes=path.stat().st_size,
        gaps=json.dumps([{**gap, "seconds": 30.0, "why": "ad"}]),
        ads_seconds=30.0,
    )


def keeper(policy: str = "when-vod-worse", host: str | None = HOST) -> tuple[Keeper, list[str]]:
    settled: list[str] = []
    return Keeper(policy, host, settled.append), settled


def the_vod(**fields: object) -> Vod:
    """The stream's archive VOD as the poller found it (and the downloader left it)."""
    values: dict[str, object] = {
        "twitch_vod_id": "5401",
        "channel": "chan",
        "stream_id": STREAM,
        "date": START,
        "duration_seconds": 3600,
        "download_state": vods.DOWNLOADED,
        "downloaded_path": "/archive/chan/5401.mp4",
        **fields,
    }
    return Vod.create(**values)


def fresh(rec: Recording) -> Recording:
    return Recording.get_by_id(rec.id)


def chat_at(vod_id: str, *seconds_after_start: float) -> None:
    for n, offset in enumerate(seconds_after_start):
        sent = unix_seconds(START) + offset
        ChatMessage.create(
            msg_id=f"m{vod_id}-{n}", channel="chan", vod_id=vod_id, abs_timestamp=sent, rel_timestamp=offset
        )


def rel_of(vod_id: str) -> list[float]:
    rows_ = ChatMessage.select().where(ChatMessage.vod_id == vod_id).order_by(ChatMessage.abs_timestamp)
    return [round(m.rel_timestamp, 3) for m in rows_]


def test_a_whole_verified_vod_removes_the_recording_and_says_why(recording: Recording) -> None:
    the_vod()
    keep, settled = keeper()
    keep.step()
    rec = fresh(recording)
    assert rec.outcome == rows.REMOVED and settled == [rows.REMOVED]
    assert "5401 is verified: not muted, no gaps, not shorter" in rec.outcome_note
    assert not Path(rec.path).exists()


@pytest.mark.parametrize(
    ("vod_fields", "why"),
    [
        ({"muted_segments": json.dumps([{"offset": 60, "duration": 360}])}, "1 muted segment(s), 6m"),
        ({"download_gaps": json.dumps([{"offset": 90, "duration": 20, "segments": [9, 10]}])}, "1 gap(s) Twitch lost"),
        ({"duration_seconds": 1800}, "shorter than the recording"),
    ],
)
def test_a_worse_vod_keeps_the_recording_beside_it(
    recording: Recording, vod_fields: dict[str, object], why: str
) -> None:
    the_vod(**vod_fields)
    keep, settled = keeper()
    keep.step()
    rec = fresh(recording)
    assert rec.outcome == rows.KEPT and settled == [rows.KEPT]
    assert "5401 is worse" in rec.outcome_note and why in rec.outcome_note
    assert Path(rec.path).exists()


def test_always_keeps_beside_a_whole_vod_and_never_removes_beside_a_muted_one(recording: Recording) -> None:
    the_vod()
    keep, _ = keeper("always")
    keep.step()
    assert fresh(recording).outcome == rows.KEPT and Path(recording.path).exists()

    Recording.update(outcome=None).where(Recording.id == recording.id).execute()
    Vod.update(muted_segments=json.dumps([{"offset": 0, "duration": 60}])).where(Vod.twitch_vod_id == "5401").execute()
    keep, _ = keeper("never")
    keep.step()
    assert fresh(recording).outcome == rows.REMOVED and not Path(recording.path).exists()


def test_nothing_is_decided_while_the_vod_is_on_its_way_or_the_window_open(recording: Recording) -> None:
    keep, settled = keeper()
    keep.step()  # no VOD yet, and the poller has not given up on one
    vod = the_vod(download_state=vods.DOWNLOADING, downloaded_path=None)
    keep.step()
    assert fresh(recording).outcome is None and settled == [] and Path(recording.path).exists()
    Vod.update(download_state=vods.DOWNLOADED).where(Vod.id == vod.id).execute()
    keep.step()
    assert fresh(recording).outcome == rows.REMOVED


def test_a_recording_finished_before_the_poller_saw_its_stream_end_waits(recording: Recording) -> None:
    Vod.update(live_ended_at=None).where(Vod.twitch_vod_id == PLACEHOLDER).execute()  # ENDLIST came first
    keep, settled = keeper()
    keep.step()
    assert fresh(recording).outcome is None and settled == []
    Vod.delete().where(Vod.twitch_vod_id == PLACEHOLDER).execute()  # reconciled away, and no VOD row
    keep.step()
    assert fresh(recording).outcome == rows.KEPT and "VOD row is gone" in fresh(recording).outcome_note


def test_a_vod_without_a_stream_id_is_found_by_the_reconciliation_that_took_the_chat(recording: Recording) -> None:
    the_vod(stream_id=None)
    Vod.delete().where(Vod.twitch_vod_id == PLACEHOLDER).execute()
    kv_set(reconciled_key(PLACEHOLDER), json.dumps({"vod": "5401", "shift": -3.0, "start": 0, "at": 0}))
    keep, _ = keeper()
    keep.step()
    assert fresh(recording).outcome == rows.REMOVED and "5401 is verified" in fresh(recording).outcome_note


def test_no_vod_within_the_window_makes_the_recording_the_archive_with_its_chat_on_its_timeline(
    recording: Recording,
) -> None:
    # chat before the first segment, before the ad break, during it, after it
    chat_at(PLACEHOLDER, 10.0, 200.0, 625.0, 700.0, 3000.0)
    placeholder = Vod.get(Vod.twitch_vod_id == PLACEHOLDER)
    keep, settled = keeper()
    keep.step()
    assert fresh(recording).outcome is None  # the poller has not given up yet
    vods.never_reconciled(placeholder.id, "no archive VOD found within VOD_RECONCILE_WINDOW; chat kept here")
    keep.step()

    rec, archive = fresh(recording), Vod.get_by_id(placeholder.id)
    assert rec.outcome == rows.ARCHIVE and settled == [rows.ARCHIVE]
    assert (archive.is_placeholder, archive.download_state, archive.downloaded_path) == (0, "downloaded", rec.path)
    assert archive.download_host == HOST and archive.duration_seconds == 3570
    assert json.loads(archive.download_gaps) == [{"offset": 600.0, "duration": 30.0, "segments": []}]
    assert Vod.select().where(vods.upload_due() & (Vod.id == archive.id)).exists()  # the uploader takes it
    # seconds into the file: send time - 20 s (recording start) - 30 s once the ad break is past
    assert rel_of(PLACEHOLDER) == [-10.0, 180.0, 600.0, 650.0, 2950.0]
    events = [e.kind for e in VodEvent.select().where(VodEvent.vod == archive.id)]
    assert events[-1] == "recorded"


def test_a_vod_that_failed_for_good_takes_the_recording_as_its_file(recording: Recording) -> None:
    vod = the_vod(download_state=vods.FAILED, downloaded_path=None, processing_error="VOD deleted on Twitch (404)")
    chat_at("5401", 100.0, 800.0)  # moved there when the placeholder was reconciled
    Vod.delete().where(Vod.twitch_vod_id == PLACEHOLDER).execute()
    keep, _ = keeper()
    keep.step()
    rec, adopted = fresh(recording), Vod.get_by_id(vod.id)
    assert rec.outcome == rows.ARCHIVE and "could not be archived (VOD deleted on Twitch (404))" in rec.outcome_note
    assert vods.stage_of(adopted) == "downloaded" and adopted.downloaded_path == rec.path
    assert rel_of("5401") == [80.0, 750.0]


def test_a_vod_the_operator_cancelled_leaves_the_recording_kept(recording: Recording) -> None:
    the_vod(download_state=vods.CANCELLED, downloaded_path=None, processing_error=vods.CANCEL_MESSAGE)
    keep, _ = keeper()
    keep.step()
    assert fresh(recording).outcome == rows.KEPT and Vod.get(Vod.twitch_vod_id == "5401").downloaded_path is None


def test_a_file_changed_since_it_was_finished_is_reported_lost_not_archived(recording: Recording) -> None:
    Path(recording.path).write_bytes(b"truncated")
    placeholder = Vod.get(Vod.twitch_vod_id == PLACEHOLDER)
    vods.never_reconciled(placeholder.id, "no archive VOD found")
    keep, settled = keeper()
    keep.step()
    rec = fresh(recording)
    assert rec.outcome == rows.LOST and "9 bytes" in rec.outcome_note and settled == [rows.LOST]
    assert Vod.get_by_id(placeholder.id).is_placeholder == 1  # nothing to upload


def test_only_the_host_holding_the_file_decides_unless_the_data_dir_is_shared(recording: Recording) -> None:
    the_vod()
    elsewhere, _ = keeper(host="another-host")
    elsewhere.step()
    assert fresh(recording).outcome is None and Path(recording.path).exists()
    shared, _ = keeper(host=None)
    shared.step()
    assert fresh(recording).outcome == rows.REMOVED


def test_a_second_keeper_finds_the_outcome_decided(recording: Recording) -> None:
    the_vod(muted_segments=json.dumps([{"offset": 0, "duration": 60}]))
    first, first_settled = keeper()
    second, second_settled = keeper()
    first.step()
    second.step()
    assert first_settled == [rows.KEPT] and second_settled == []
