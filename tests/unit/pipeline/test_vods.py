"""The VOD row's owner: claims (order, leases, expiry), the lease rule's boundary, every move and its event."""

from __future__ import annotations

import datetime as dt
import json
import socket

import peewee
import pytest

from vodtender.pipeline import vods
from vodtender.pipeline.errors import ErrorClass
from vodtender.pipeline.vods import claim, download_due, release, renew
from vodtender.runtime.db import write
from vodtender.runtime.models import Upload, Vod, VodEvent, utcnow

NOW = dt.datetime(2026, 11, 1, 12, 0, 0, 500000)
MICROSECOND = dt.timedelta(microseconds=1)


def _vod(vod_id: str, day: int = 1, **fields: object) -> Vod:
    return Vod.create(twitch_vod_id=vod_id, channel="c", date=dt.datetime(2026, 11, day), **fields)


def _claimed(vod_id: str = "1", owner: str = "w:1", **fields: object) -> Vod:
    return _vod(vod_id, lease_owner=owner, lease_until=utcnow() + dt.timedelta(minutes=5), **fields)


def _events(vod: Vod) -> list[tuple[str, str, str | None, str]]:
    return [
        (e.stage, e.kind, e.error_class, e.message)
        for e in VodEvent.select().where(VodEvent.vod == vod.id).order_by(VodEvent.id)
    ]


def _fresh(vod: Vod) -> Vod:
    return Vod.get_by_id(vod.id)


# -- claims -----------------------------------------------------------------------------------
def test_claims_follow_priority_then_oldest_first(migrated_db: peewee.Database) -> None:
    _vod("new", 20)
    _vod("old", 1)
    _vod("urgent", 25, priority=5)
    order = [claim(download_due(), "w:1", 60).twitch_vod_id for _ in range(3)]
    assert order == ["urgent", "old", "new"]
    assert claim(download_due(), "w:1", 60) is None


def test_of_equal_priority_the_vod_twitch_deletes_first_is_claimed_first(migrated_db: peewee.Database) -> None:
    _vod("partner-old", 1, deletion_deadline=dt.datetime(2026, 12, 31))  # 60 days
    _vod("regular-new", 20, deletion_deadline=dt.datetime(2026, 11, 27))  # 7 days: sooner, though newer
    _vod("highlight", 2)  # no deadline: after every one that has one
    _vod("urgent", 25, priority=5, deletion_deadline=dt.datetime(2027, 1, 1))
    order = [claim(download_due(), "w:1", 60).twitch_vod_id for _ in range(4)]
    assert order == ["urgent", "regular-new", "partner-old", "highlight"]


def test_a_held_lease_is_not_claimed_twice_until_it_expires(migrated_db: peewee.Database) -> None:
    _vod("1", 1)
    first = claim(download_due(), "hostA:1", 0.2)
    assert first is not None and first.lease_owner == "hostA:1"
    assert claim(download_due(), "hostB:2", 60) is None
    Vod.update(lease_until=utcnow() - dt.timedelta(seconds=1)).execute()
    second = claim(download_due(), "hostB:2", 60)
    assert second is not None and second.lease_owner == "hostB:2"
    assert not renew(first.id, "hostA:1", 60)  # the old owner learns it lost the VOD
    assert renew(second.id, "hostB:2", 60, download_bytes=10)
    assert release(second.id, "hostB:2", download_state="downloaded")
    assert Vod.get_by_id(second.id).lease_owner is None


def test_due_time_is_respected(migrated_db: peewee.Database) -> None:
    _vod("later", 1, next_attempt_at=utcnow() + dt.timedelta(hours=1))
    assert claim(download_due(), "w:1", 60) is None


# -- the lease rule ---------------------------------------------------------------------------
def _free_and_busy(now: dt.datetime) -> tuple[bool, bool]:
    free = Vod.select().where(vods.lease_free(now)).exists()
    busy = Vod.select().where(vods.lease_busy(now)).exists()
    return free, busy


def test_a_lease_is_free_at_exactly_its_end_and_busy_one_microsecond_before(migrated_db: peewee.Database) -> None:
    vod = _vod("1", lease_owner="w:1", lease_until=NOW)
    assert _free_and_busy(NOW) == (True, False)
    assert not vods.is_leased(vod, NOW) and vods.lease_ran_out(vod, NOW)
    before = NOW - MICROSECOND
    assert _free_and_busy(before) == (False, True)
    assert vods.is_leased(vod, before) and not vods.lease_ran_out(vod, before)


def test_a_vod_without_owner_or_lease_time_is_free(migrated_db: peewee.Database) -> None:
    nobody = _vod("1")
    no_time = _vod("2", lease_owner="w:1")
    assert Vod.select().where(vods.lease_free(NOW)).count() == 2
    assert not Vod.select().where(vods.lease_busy(NOW)).exists()
    assert not vods.is_leased(nobody, NOW) and not vods.is_leased(no_time, NOW)
    assert not vods.lease_ran_out(nobody, NOW)


# -- the event record -------------------------------------------------------------------------
def test_an_event_message_is_cut_to_the_limit(migrated_db: peewee.Database) -> None:
    vod = _vod("1")
    vods.record_event(vod.id, "download", "error", "x" * 5000, "transient")
    assert _events(vod) == [("download", "error", "transient", "x" * vods.EVENT_MESSAGE_MAX)]


def test_an_event_inside_an_open_transaction_is_part_of_it(migrated_db: peewee.Database) -> None:
    vod = _vod("1")

    def move_then_fail() -> None:
        vods.record_event(vod.id, "operator", "reprocess", "queued")
        raise RuntimeError("the move fails after its event")

    with pytest.raises(RuntimeError):
        write(move_then_fail)
    assert _events(vod) == []


# -- download moves ---------------------------------------------------------------------------
def test_progress_renews_the_lease_and_a_starting_download_names_its_host(migrated_db: peewee.Database) -> None:
    vod = _claimed()
    assert vods.renew_download(vod.id, "w:1", 60, done=10, total=100, speed=5.0, starting=True)
    row = _fresh(vod)
    assert (row.download_state, row.download_host, row.download_bytes, row.download_total, row.download_speed) == (
        "downloading",
        socket.gethostname(),
        10,
        100,
        5.0,
    )
    assert row.progress_updated_at is not None and row.lease_until > utcnow() + dt.timedelta(seconds=50)
    assert vods.renew_download(vod.id, "w:1", 60, done=20, total=100, speed=6.0)
    assert not vods.renew_download(vod.id, "other:2", 60, done=30, total=100, speed=6.0)
    assert _fresh(vod).download_bytes == 20


def test_cancel_requested_reads_the_flag(migrated_db: peewee.Database) -> None:
    vod = _claimed()
    assert not vods.cancel_requested(vod.id)
    vods.request_cancel(vod.id)
    assert vods.cancel_requested(vod.id)
    assert _events(vod) == [("operator", "cancel", None, "cancel requested")]


def test_downloaded_hands_the_vod_to_the_uploader(migrated_db: peewee.Database) -> None:
    vod = _claimed(download_state="downloading", error_class="transient", cancel_requested=1, next_attempt_at=utcnow())
    muted = '[{"offset": 4.0, "duration": 2.0}]'
    assert vods.mark_downloaded(vod.id, "w:1", lambda: "/data/x.ts", 1234, muted, "") == "/data/x.ts"
    row = _fresh(vod)
    assert (row.download_state, row.downloaded_path, row.download_bytes, row.download_total, row.muted_segments) == (
        "downloaded",
        "/data/x.ts",
        1234,
        1234,
        muted,
    )
    assert (row.lease_owner, row.error_class, row.next_attempt_at, row.cancel_requested) == (None, None, None, 0)
    assert row.download_host == socket.gethostname()
    assert _events(vod) == [("download", "done", None, "1234 bytes at /data/x.ts")]
    assert Vod.select().where(vods.upload_due()).get().id == vod.id


def test_downloaded_records_the_gaps_codec_and_resolution_this_download_got(migrated_db: peewee.Database) -> None:
    gaps = '[{"offset": 3723.0, "duration": 10.0, "segments": [372]}]'
    with_gaps = _claimed("1", download_state="downloading")
    assert vods.mark_downloaded(
        with_gaps.id,
        "w:1",
        lambda: "/data/1.mp4",
        9,
        None,
        "done",
        gaps=gaps,
        video_codec="h265",
        video_resolution="1920x1080",
    )
    row = _fresh(with_gaps)
    assert (row.download_gaps, row.video_codec, row.video_resolution) == (gaps, "h265", "1920x1080")
    # a new download of a VOD that had them decides them again: nothing lost, codec unknown
    again = _claimed("2", download_gaps=gaps, video_codec="av1", video_resolution="1280x720")
    assert vods.mark_downloaded(again.id, "w:1", lambda: "/data/2.ts", 9, None, "done")
    row = _fresh(again)
    assert (row.download_gaps, row.video_codec, row.video_resolution) == (None, None, None)


def test_a_vod_still_recorded_waits_without_counting_an_attempt(migrated_db: peewee.Database) -> None:
    vod = _claimed(download_state="downloading", download_retries=2, download_speed=4.0, error_class="transient")
    at = utcnow() + dt.timedelta(minutes=10)
    assert vods.wait_for_recording_end(vod.id, "w:1", at, "still being recorded on Twitch")
    row = _fresh(vod)
    assert (row.download_state, row.download_retries, row.next_attempt_at, row.download_speed) == (
        "discovered",
        2,
        at,
        0,
    )
    assert (row.lease_owner, row.error_class, row.processing_error) == (None, None, None)
    assert _events(vod) == [("download", "waiting", None, "still being recorded on Twitch")]
    assert claim(download_due(), "w:1", 60) is None  # not before `at`
    assert not vods.wait_for_recording_end(vod.id, "w:1", at, "again")  # no longer ours


def test_a_stream_is_live_while_its_placeholder_is_open(migrated_db: peewee.Database) -> None:
    placeholder = vods.open_placeholder("live-1", "c", "1001", "s1", NOW, "live")
    _vod("777", stream_id="s2")  # a real VOD of another stream is no live placeholder
    assert vods.stream_still_live("s1")
    assert not vods.stream_still_live("s2") and not vods.stream_still_live(None) and not vods.stream_still_live("")
    vods.close_placeholders([placeholder.id], NOW)
    assert not vods.stream_still_live("s1")


def test_a_move_of_a_lost_lease_writes_nothing_and_does_nothing(migrated_db: peewee.Database) -> None:
    vod = _claimed(owner="other:2", download_state="downloading", muted_segments="[]")
    published: list[str] = []
    assert vods.mark_downloaded(vod.id, "w:1", lambda: published.append("x") or "/data/x.ts", 1, None, "done") is None
    assert published == [], "the file is renamed only while the claim is ours"
    assert not vods.fail_download(vod.id, "w:1", ErrorClass.FATAL, "gone", "gone")
    assert not vods.await_processing(vod.id, "w:1", 1, "every byte on YouTube")
    row = _fresh(vod)
    assert (row.download_state, row.lease_owner, row.muted_segments) == ("downloading", "other:2", "[]")
    assert _events(vod) == []


def test_a_failing_publish_writes_nothing(migrated_db: peewee.Database) -> None:
    vod = _claimed(download_state="downloading")

    def publish() -> str:
        raise OSError("disk gone")

    with pytest.raises(OSError):
        vods.mark_downloaded(vod.id, "w:1", publish, 1, None, "done")
    row = _fresh(vod)
    assert (row.download_state, row.lease_owner, row.downloaded_path) == ("downloading", "w:1", None)
    assert _events(vod) == []


def test_retry_later_counts_the_attempt_and_sets_the_due_time(migrated_db: peewee.Database) -> None:
    vod = _claimed(download_state="downloading", download_speed=9.0)
    at = utcnow() + dt.timedelta(minutes=2)
    assert vods.retry_download_later(vod.id, "w:1", 2, at, ErrorClass.TRANSIENT, "timeout (retry 2 in 2m)")
    row = _fresh(vod)
    assert (row.download_state, row.download_retries, row.next_attempt_at, row.error_class, row.download_speed) == (
        "discovered",
        2,
        at,
        "transient",
        0,
    )
    assert row.lease_owner is None and row.processing_error is None
    assert _events(vod) == [("download", "retry", "transient", "timeout (retry 2 in 2m)")]


def test_failed_stops_the_vod_until_an_operator_resets_it(migrated_db: peewee.Database) -> None:
    fatal = _claimed("1", download_state="downloading")
    gave_up = _claimed("2", download_state="downloading", download_retries=4)
    assert vods.fail_download(fatal.id, "w:1", ErrorClass.FATAL, "HTTP 404", "HTTP 404")
    assert vods.fail_download(
        gave_up.id, "w:1", ErrorClass.TRANSIENT, "gave up after 5 attempts: timeout", "timeout", 5
    )
    one, two = _fresh(fatal), _fresh(gave_up)
    assert (one.download_state, one.processing_error, one.error_class, one.download_retries) == (
        "failed",
        "HTTP 404",
        "fatal",
        0,
    )
    assert (two.download_state, two.processing_error, two.download_retries) == (
        "failed",
        "gave up after 5 attempts: timeout",
        5,
    )
    assert _events(fatal) == [("download", "error", "fatal", "HTTP 404")]
    assert _events(gave_up) == [("download", "error", "transient", "timeout")]
    assert claim(download_due(), "w:1", 60) is None


def test_a_worker_that_saw_the_cancel_marks_it_cancelled(migrated_db: peewee.Database) -> None:
    vod = _claimed(download_state="downloading", cancel_requested=1, download_speed=3.0)
    assert vods.cancel_download(vod.id, "w:1")
    row = _fresh(vod)
    assert (row.download_state, row.processing_error, row.error_class, row.cancel_requested, row.download_speed) == (
        "cancelled",
        "cancelled by operator",
        "cancelled",
        0,
        0,
    )
    assert row.lease_owner is None
    assert _events(vod) == [("download", "cancelled", "cancelled", "cancelled by operator")]


def test_giving_back_leaves_the_vod_as_it_was(migrated_db: peewee.Database) -> None:
    vod = _claimed(download_state="downloading", download_bytes=500, download_retries=1, download_speed=2.0)
    assert vods.give_back_download(vod.id, "w:1")
    row = _fresh(vod)
    assert (row.download_state, row.download_bytes, row.download_retries, row.download_speed, row.lease_owner) == (
        "discovered",
        500,
        1,
        0,
        None,
    )
    assert _events(vod) == []


# -- shared moves -----------------------------------------------------------------------------
def test_a_missing_file_sends_the_vod_back_unless_it_moved_on(migrated_db: peewee.Database) -> None:
    gone = _vod(
        "1",
        download_state="downloaded",
        downloaded_path="/data/1.ts",
        download_bytes=9,
        upload_state="uploading",
        upload_session_uri="https://upload/1",
        upload_offset=5,
    )
    moved_on = _vod("2", download_state="discovered", downloaded_path=None)
    assert vods.requeue_missing_file(gone.id, "/data/1.ts")
    assert not vods.requeue_missing_file(moved_on.id, "/data/2.ts")
    row = _fresh(gone)
    assert {k: getattr(row, k) for k in vods.BACK_TO_DOWNLOAD} == vods.BACK_TO_DOWNLOAD
    assert _events(gone) == [("download", "requeued", None, "file /data/1.ts is gone: downloading again")]
    assert _events(moved_on) == []


def test_forgetting_a_file_records_only_a_deletion(migrated_db: peewee.Database) -> None:
    deleted = _vod("1", downloaded_path="/data/1.ts")
    gone = _vod("2", downloaded_path="/data/2.ts")
    vods.forget_file(deleted.id, "deleted /data/1.ts (9 bytes): older than 30 days")
    vods.forget_file(gone.id)
    assert _fresh(deleted).downloaded_path is None and _fresh(gone).downloaded_path is None
    assert _events(deleted) == [("retention", "file_deleted", None, "deleted /data/1.ts (9 bytes): older than 30 days")]
    assert _events(gone) == []


# -- operator moves ---------------------------------------------------------------------------
def test_reprocess_at_download_resets_and_forgets_the_file(migrated_db: peewee.Database) -> None:
    vod = _vod(
        "1",
        processed=1,
        download_state="downloaded",
        downloaded_path="/gone.ts",
        youtube_url="u",
        download_retries=3,
        upload_retries=2,
        upload_offset=7,
        error_class="fatal",
    )
    requeued = vods.reprocess_at_download(vod.id)
    assert requeued.where == "download"
    row = _fresh(vod)
    expected = {**vods.OPERATOR_RESET, **vods.BACK_TO_DOWNLOAD}
    assert {k: getattr(row, k) for k in expected} == expected
    assert {k: v for k, v in requeued.fields.items() if k != "updated_at"} == expected
    assert _events(vod) == [("operator", "reprocess", None, "queued for download")]


def test_downloading_again_forgets_what_the_last_file_was(migrated_db: peewee.Database) -> None:
    found = {"download_gaps": '[{"offset": 0, "duration": 2, "segments": [0]}]', "video_codec": "h264"}
    reprocessed = _vod("1", processed=1, download_state="downloaded", video_resolution="1920x1080", **found)
    gone = _vod("2", download_state="downloaded", downloaded_path="/data/2.ts", video_resolution="1280x720", **found)
    vods.reprocess_at_download(reprocessed.id)
    vods.requeue_missing_file(gone.id, "/data/2.ts")
    for row in (_fresh(reprocessed), _fresh(gone)):
        assert (row.download_gaps, row.video_codec, row.video_resolution) == (None, None, None)


def test_reprocess_at_upload_keeps_the_file(migrated_db: peewee.Database) -> None:
    vod = _vod(
        "1", processed=1, download_state="downloaded", downloaded_path="/x.ts", youtube_url="u", upload_state="done"
    )
    assert vods.reprocess_at_upload(vod.id).where == "upload (its file is there)"
    row = _fresh(vod)
    assert (row.processed, row.youtube_url, row.download_state, row.downloaded_path) == (0, None, "downloaded", "/x.ts")
    assert _events(vod) == [("operator", "reprocess", None, "queued for upload (its file is there)")]
    assert Vod.select().where(vods.upload_due()).get().id == vod.id


def test_the_operator_cancels_an_idle_vod_at_once(migrated_db: peewee.Database) -> None:
    vod = _vod("1", next_attempt_at=utcnow())
    written = vods.mark_cancelled(vod.id)
    row = _fresh(vod)
    assert {k: getattr(row, k) for k in vods.CANCELLED_FIELDS} == vods.CANCELLED_FIELDS
    assert {k: v for k, v in written.items() if k != "updated_at"} == vods.CANCELLED_FIELDS
    assert _events(vod) == [("operator", "cancelled", "cancelled", "cancelled by operator")]


def test_set_priority(migrated_db: peewee.Database) -> None:
    vod = _vod("1")
    vods.set_priority(vod.id, 7)
    assert _fresh(vod).priority == 7


# -- catalog moves ----------------------------------------------------------------------------
def _listed(vod_id: str, title: str) -> dict[str, object]:
    return {
        "twitch_vod_id": vod_id,
        "user_id": "1001",
        "title": title,
        "description": "",
        "date": NOW,
        "duration_seconds": 60,
        "stream_id": None,
        "type": "archive",
        "vod_url": None,
        "thumbnail_url": None,
        "muted_segments": None,
    }


def test_listed_vods_are_inserted_or_refreshed_never_their_pipeline_columns(migrated_db: peewee.Database) -> None:
    known = _vod("1", title="old", download_state="downloaded", priority=3, helix_missing=1)
    assert vods.store_listed("c", [_listed("1", "new title"), _listed("2", "fresh")]) == 1
    row = _fresh(known)
    assert (row.title, row.download_state, row.priority, row.helix_missing) == ("new title", "downloaded", 3, 0)
    assert row.helix_seen_at is not None
    assert Vod.get(Vod.twitch_vod_id == "2").channel == "c"
    assert vods.store_listed("c", []) == 0


def test_a_listing_without_muted_segments_keeps_those_the_download_found(migrated_db: peewee.Database) -> None:
    found = json.dumps([{"offset": 10, "duration": 10}])
    known = _vod("1", download_state="downloaded", muted_segments=found)
    vods.store_listed("c", [_listed("1", "again")])
    assert _fresh(known).muted_segments == found
    listed = json.dumps([{"offset": 0, "duration": 30}])
    vods.store_listed("c", [{**_listed("1", "muted by Twitch"), "muted_segments": listed}])
    assert _fresh(known).muted_segments == listed  # what Helix names wins


def test_helix_missing_marks_and_records_each(migrated_db: peewee.Database) -> None:
    one, two = _vod("1"), _vod("2")
    vods.mark_helix_missing([one, two])
    assert [v.helix_missing for v in Vod.select().order_by(Vod.id)] == [1, 1]
    assert _events(two) == [("poller", "helix_missing", None, "no longer listed by Helix; not downloaded")]
    assert claim(download_due(), "w:1", 60) is None


# -- live moves -------------------------------------------------------------------------------
def test_a_placeholder_opens_follows_its_title_closes_and_reopens(migrated_db: peewee.Database) -> None:
    vod = vods.open_placeholder("live-1", "c", "1001", "s1", NOW, "live")
    assert (vod.is_placeholder, vod.type, vod.stream_id, vod.date, vod.live_ended_at) == (1, "archive", "s1", NOW, None)
    vods.retitle_placeholder(vod.id, "new title")
    vods.close_placeholders([vod.id], NOW)
    row = _fresh(vod)
    assert (row.title, row.live_ended_at) == ("new title", NOW)
    vods.reopen_placeholder(vod.id)
    assert _fresh(vod).live_ended_at is None


def test_the_real_vod_replaces_its_placeholder(migrated_db: peewee.Database) -> None:
    placeholder = vods.open_placeholder("live-1", "c", "1001", "s1", NOW, "live")
    Vod.update(priority=4).where(Vod.id == placeholder.id).execute()
    real = _vod("777")
    vods.replace_placeholder(_fresh(placeholder), real, "chat of live-1 moved here")
    assert Vod.get_or_none(Vod.id == placeholder.id) is None
    assert _fresh(real).priority == 4
    assert _events(real) == [("poller", "reconciled", None, "chat of live-1 moved here")]


def test_a_placeholder_never_reconciled_is_reported_once(migrated_db: peewee.Database) -> None:
    placeholder = vods.open_placeholder("live-1", "c", "1001", "s1", NOW, "live")
    assert not vods.reported_unreconciled(placeholder.id)
    vods.never_reconciled(placeholder.id, "no archive VOD found")
    assert vods.reported_unreconciled(placeholder.id)
    assert _events(placeholder) == [("poller", "unreconciled", None, "no archive VOD found")]


def test_stored_errors_and_events_are_redacted(migrated_db: peewee.Database) -> None:
    echoed = "HTTP 400: client_secret=echoed-secret-1&access_token=echoed-token-2"
    download, upload = _claimed("1", download_state="downloading"), _claimed("2", upload_state="uploading")
    assert vods.fail_download(download.id, "w:1", ErrorClass.FATAL, echoed, echoed)
    assert vods.fail_upload(upload.id, "w:1", 3, ErrorClass.FATAL, echoed)
    stored = [v.processing_error for v in Vod.select()] + [e.message for e in VodEvent.select()]
    assert len(stored) == 4
    assert all("client_secret=****&access_token=****" in text and "echoed-" not in text for text in stored)


def test_a_vod_processing_on_youtube_is_not_due_and_ends_published_or_failed(migrated_db: peewee.Database) -> None:
    shown = _claimed("1", download_state="downloaded", downloaded_path="/x.ts", upload_state="uploading")
    refused = _claimed("2", download_state="downloaded", downloaded_path="/y.ts", upload_state="uploading")
    for vod in (shown, refused):
        assert vods.await_processing(vod.id, "w:1", 10, "bytes in")
    assert not Vod.select().where(vods.upload_due()).exists()  # nobody holds them, nobody uploads them again
    assert vods.stage_of(_fresh(shown)) == "uploading"
    assert vods.mark_published(shown.id, "https://www.youtube.com/watch?v=a")
    assert vods.fail_processing(refused.id, "video b rejected (duplicate)", ErrorClass.FATAL)
    assert not vods.mark_published(refused.id, "https://www.youtube.com/watch?v=b")  # no longer processing
    row = _fresh(shown)
    assert (row.processed, row.upload_state, row.youtube_url) == (1, "done", "https://www.youtube.com/watch?v=a")
    row = _fresh(refused)
    assert (row.processed, row.upload_state, row.youtube_url, row.error_class) == (0, None, None, "fatal")
    assert row.processing_error == "youtube processing: video b rejected (duplicate)"
    assert [kind for _, kind, _, _ in _events(refused)] == ["uploaded", "error"]


def test_an_earlier_video_is_found_from_the_uploads_of_earlier_rounds(migrated_db: peewee.Database) -> None:
    vod = _vod("1")
    assert vods.earlier_video(vod.id) is None and vods.parts_of_last_round(vod.id) == 1
    Upload.create(vod=vod, round=1, part=1, parts=1, video_id="old")
    Upload.create(vod=vod, round=2, part=1, parts=2, video_id="new1")
    Upload.create(vod=vod, round=2, part=2, parts=2)
    assert vods.earlier_video(vod.id) == "https://www.youtube.com/watch?v=new1"
    assert vods.parts_of_last_round(vod.id) == 2


def test_a_reverified_vod_on_youtube_is_done_without_upload_and_warned_reuploads_once(
    migrated_db: peewee.Database,
) -> None:
    vod = _vod("1", download_state="downloaded", downloaded_path="/x.ts", youtube_url="https://y/1")
    (done,) = vods.done_already_on_youtube()
    assert done.twitch_vod_id == "1" and _fresh(vod).processed == 1
    assert [e.kind for e in VodEvent.select()] == ["verified"]
    assert not vods.done_already_on_youtube()
    vods.record_event(vod.id, vods.UPLOAD_STAGE, "done", "https://y/1")
    assert not vods.reupload_warned(vod.id)
    vods.record_event(vod.id, vods.UPLOAD_STAGE, "reupload", "uploading again")
    assert vods.reupload_warned(vod.id) and vods.earlier_video(vod.id) == "https://y/1"
