"""The upload stage in-process: the queue's checks and the worker's outcomes, written to a real database.

The worker runs in the test's own thread (`run()`, not `start()`) against the YouTube stand-in,
which serves from a thread of its own; retries wait 0 s (UPLOAD_BACKOFF_BASE=0), so nothing sleeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest
from prometheus_client import REGISTRY

from tests.helpers.clock import ManualClock
from tests.standins.youtube import Fault, YouTubeStandIn
from vodtender.clients.google_oauth import TokenEndpoint, TokenGrant
from vodtender.clients.youtube import YouTubeClient
from vodtender.pipeline import vods
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.kv import CIRCUIT_FAILURES_KEY, QUOTA_HOLD_UNTIL_KEY, kv_get
from vodtender.pipeline.upload import uploads
from vodtender.pipeline.upload.context import UploadContext
from vodtender.pipeline.upload.metadata import UploadSettings
from vodtender.pipeline.upload.options import UploadOptions
from vodtender.pipeline.upload.private_lock import PrivateLock
from vodtender.pipeline.upload.processing import ProcessingFollower
from vodtender.pipeline.upload.queue import UploadQueue
from vodtender.pipeline.upload.quota import Quota
from vodtender.pipeline.upload.tokens import AccessTokens, TokenCipher, TokenStore
from vodtender.pipeline.upload.worker import UploadWorker
from vodtender.runtime.clock import utcnow
from vodtender.runtime.identity import instance_name
from vodtender.runtime.models import Upload, Vod, VodEvent

MIB = 1024 * 1024
OPTIONS = UploadOptions(
    metadata=UploadSettings("{channel} {date}: {title}", "{title}"),
    lease_seconds=60.0,
    chunk_bytes=MIB,
    max_attempts=3,
    backoff_base=0.0,
    quota_daily=10000,
    quota_cost=1600,
    playlist=None,
    delete_local=False,
    data_dir_shared=False,
)


@dataclasses.dataclass
class Stage:
    """The pieces the uploader daemon wires together, on the stand-in."""

    youtube: YouTubeStandIn
    clock: ManualClock
    data: Path

    def context(self, options: UploadOptions = OPTIONS) -> UploadContext:
        issued = self.youtube.issue_tokens()
        store = TokenStore(TokenCipher(None))
        store.save(TokenGrant(issued["access_token"], time.time() + 3600, issued["refresh_token"], issued["scope"]))
        tokens = AccessTokens(
            store, TokenEndpoint(self.youtube.token_url, self.youtube.client_id, self.youtube.client_secret, 10.0)
        )
        return UploadContext(
            options,
            instance_name(),
            YouTubeClient(self.youtube.url, tokens.access_token, 10.0),
            tokens,
            Quota(options.quota_daily, options.quota_cost),
            CircuitBreaker(5, 600.0),
            threading.Event(),
            wake=lambda: None,
            clock=self.clock,
        )

    def queue(self, ctx: UploadContext, not_uploading: tuple[str, ...] = ()) -> UploadQueue:
        return UploadQueue(ctx.options, ctx.owner, ctx.quota, vods.of_channels(True, not_uploading))

    def downloaded(self, size: int, twitch_id: str = "1001", **fields: object) -> Vod:
        path = self.data / f"{twitch_id}.mp4"
        path.write_bytes(os.urandom(size))
        fields.setdefault("channel", "somechannel")
        return Vod.create(
            twitch_vod_id=twitch_id,
            title="A stream",
            date=dt.datetime(2026, 3, 1, 18, 5),
            download_state="downloaded",
            downloaded_path=str(path),
            download_host=socket.gethostname(),
            download_bytes=size,
            download_total=size,
            **fields,
        )

    def claimed_worker(self, ctx: UploadContext) -> UploadWorker:
        queue = self.queue(ctx)
        vod = queue.claim()
        assert vod is not None and vod.upload_state == vods.UPLOADING and queue.startable(vod)
        return UploadWorker(ctx, vod)


@pytest.fixture
def stage(migrated_db: peewee.Database, tmp_path: Path) -> Iterator[Stage]:
    with YouTubeStandIn() as youtube:
        yield Stage(youtube, ManualClock(5000.0), tmp_path)


def fresh(vod: Vod) -> Vod:
    return Vod.get_by_id(vod.id)


def events(vod: Vod) -> list[tuple[str, str, str | None]]:
    rows = VodEvent.select().where(VodEvent.vod == vod.id).order_by(VodEvent.id)
    return [(e.kind, e.message, e.error_class) for e in rows if e.stage == vods.UPLOAD_STAGE]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def results(result: str) -> float:
    return sample("vodtender_upload_results_total", result=result)


def follow_processing(stage: Stage, ctx: UploadContext, hours: int = 1) -> None:
    """One round of the processing follower, `hours` ahead: every check due by then is made."""
    follower = ProcessingFollower(ctx.client, ctx.quota, ctx.options, PrivateLock())
    follower.run_once(now=utcnow() + dt.timedelta(hours=hours))


def test_done_upload_arrives_whole_and_waits_for_youtubes_processing(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(2 * MIB + 123)
    worker = stage.claimed_worker(ctx)
    done, sent = results("done"), sample("vodtender_upload_bytes_total")
    worker.run()
    (video,) = stage.youtube.videos
    assert video.sha256 == hashlib.sha256(Path(vod.downloaded_path).read_bytes()).hexdigest()
    row = fresh(vod)
    assert (row.processed, row.youtube_url, row.upload_state) == (0, None, "processing")
    assert (row.upload_session_uri, row.upload_offset, row.lease_owner, row.error_class) == (
        None,
        video.size,
        None,
        None,
    )
    assert events(vod) == [("uploaded", f"every byte on YouTube as video {video.id}; following its processing", None)]
    upload = Upload.get(Upload.vod == vod.id)
    assert (upload.state, upload.video_id, upload.size, upload.round, upload.polls) == (
        "processing",
        video.id,
        video.size,
        1,
        0,
    )
    assert results("done") == done + 1 and sample("vodtender_upload_bytes_total") == sent + video.size
    assert sample("vodtender_upload_speed_bytes_per_second") == 0
    follow_processing(stage, ctx)
    row = fresh(vod)
    assert row.youtube_url == f"https://www.youtube.com/watch?v={video.id}"
    assert (row.processed, row.upload_state, row.processing_error) == (1, "done", None)
    assert events(vod)[-1] == ("done", row.youtube_url, None)
    assert ctx.quota.used_today() == 1601 and Path(vod.downloaded_path).exists()  # the upload and one check


def test_done_upload_joins_the_playlist_and_deletes_the_local_file_once_processed(stage: Stage) -> None:
    ctx = stage.context(dataclasses.replace(OPTIONS, playlist="PL123", delete_local=True))
    vod = stage.downloaded(MIB)
    stage.claimed_worker(ctx).run()
    assert stage.youtube.playlist_items[0]["snippet"]["playlistId"] == "PL123"
    assert Path(vod.downloaded_path).exists()  # YouTube may still reject it
    follow_processing(stage, ctx)
    assert not Path(vod.downloaded_path).exists()
    assert [kind for kind, _, _ in events(vod)] == ["uploaded", "done", "file_deleted"]
    assert ctx.quota.used_today() == 1651


def test_failed_attempt_is_retried_later_with_its_session_kept(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(2 * MIB)
    stage.youtube.add_fault(Fault(on="put", status=503, times=1000))
    failed = results("failed")
    before = utcnow()
    stage.claimed_worker(ctx).run()
    row = fresh(vod)
    assert (row.upload_retries, row.error_class, row.processing_error, row.processed) == (1, "transient", None, 0)
    assert (row.upload_state, row.lease_owner) == (None, None) and row.upload_session_uri
    assert row.next_attempt_at is not None and row.next_attempt_at >= before
    assert events(vod) == [
        ("retry", "attempt 1: HTTP 503 backendError", "transient"),
        ("retry", "attempt 2: HTTP 503 backendError", "transient"),
        ("error", "upload failed 3 times in a row, last: HTTP 503 backendError", "transient"),
    ]
    assert results("failed") == failed + 1
    assert kv_get(CIRCUIT_FAILURES_KEY) == "1"  # counts towards the breaker


def test_transient_failure_after_max_attempts_marks_the_vod_failed(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(MIB, upload_retries=2)
    stage.youtube.add_fault(Fault(on="put", status=503, times=1000))
    stage.claimed_worker(ctx).run()
    row = fresh(vod)
    assert row.processing_error == "upload: upload failed 3 times in a row, last: HTTP 503 backendError"
    assert (row.upload_retries, row.error_class, row.processed, row.lease_owner) == (3, "transient", 0, None)
    assert vods.stage_of(row) == "failed"


def test_refused_upload_fails_at_once_and_spares_the_breaker(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(MIB)
    stage.youtube.add_fault(Fault(on="post", status=400, reason="invalidVideoMetadata"))
    fatal = sample("vodtender_upload_failures_total", error_class="fatal")
    stage.claimed_worker(ctx).run()
    row = fresh(vod)
    assert row.error_class == "fatal" and row.upload_retries == 1
    assert row.processing_error and "invalidVideoMetadata" in row.processing_error
    assert sample("vodtender_upload_failures_total", error_class="fatal") == fatal + 1
    assert kv_get(CIRCUIT_FAILURES_KEY) is None


def test_quota_exhausted_holds_every_upload_and_gives_the_vod_back(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(MIB)
    stage.youtube.add_fault(Fault(on="post", status=403, reason="quotaExceeded"))
    held = results("held")
    stage.claimed_worker(ctx).run()
    row = fresh(vod)
    assert (row.lease_owner, row.upload_state, row.processing_error, row.error_class) == (None, None, None, None)
    assert events(vod) == [("held", "quota: quotaExceeded", None)]
    assert results("held") == held + 1 and ctx.quota.hold() is not None


def test_stopping_gives_the_vod_back_as_it_stands(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(MIB, upload_session_uri="http://stored/session", upload_offset=256 * 1024)
    worker = stage.claimed_worker(ctx)
    ctx.stop.set()
    stopped = results("stopped")
    worker.run()
    row = fresh(vod)
    assert (row.lease_owner, row.upload_state, row.upload_offset) == (None, None, 256 * 1024)
    assert row.upload_session_uri == "http://stored/session" and events(vod) == []
    assert results("stopped") == stopped + 1


def test_vanished_file_goes_back_to_the_downloader(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(1000, upload_session_uri="http://old/session", upload_offset=500)
    Path(vod.downloaded_path).unlink()
    queue = stage.queue(ctx)
    requeued = results("requeued")
    claimed = queue.claim()
    assert claimed is not None and not queue.startable(claimed)
    row = fresh(vod)
    assert {name: getattr(row, name) for name in vods.BACK_TO_DOWNLOAD} == vods.BACK_TO_DOWNLOAD
    assert (row.lease_owner, row.processed, row.processing_error) == (None, 0, None)
    assert events(vod) == [("requeued", f"file {vod.downloaded_path} vanished before upload: back to download", None)]
    assert results("requeued") == requeued + 1


def test_unreadable_file_waits_ten_minutes(stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = stage.context()
    vod = stage.downloaded(1000)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # the tests run as root: chmod would not do
    queue = stage.queue(ctx)
    claimed = queue.claim()
    assert claimed is not None and not queue.startable(claimed)
    row = fresh(vod)
    assert (row.lease_owner, row.upload_state, row.error_class, row.processing_error) == (None, None, "systemic", None)
    assert row.next_attempt_at > utcnow() + dt.timedelta(minutes=9)
    assert events(vod) == [
        ("error", f"cannot read {vod.downloaded_path} (permissions?): retrying in 10 minutes", "systemic")
    ]


def test_new_session_that_does_not_fit_todays_quota_holds_uploads(stage: Stage) -> None:
    ctx = stage.context(dataclasses.replace(OPTIONS, quota_daily=1000))
    vod = stage.downloaded(1000)
    queue = stage.queue(ctx)
    claimed = queue.claim()
    assert claimed is not None and not queue.startable(claimed)
    assert (fresh(vod).lease_owner, fresh(vod).upload_state) == (None, None)
    reason = (ctx.quota.hold() or pytest.fail()).reason
    # the number used is the count's, as `vodtender status` shows it, not the daily limit
    assert (
        kv_get(QUOTA_HOLD_UNTIL_KEY) and reason == "0 of UPLOAD_QUOTA_DAILY=1000 units used today, an upload costs 1600"
    )


def test_a_channel_that_does_not_upload_is_done_without_upload_and_the_others_are_uploaded(stage: Stage) -> None:
    ctx = stage.context()
    quiet = stage.downloaded(1000, twitch_id="3001", channel="quiet")  # [channel quiet] upload-enabled = 0
    loud = stage.downloaded(1000, twitch_id="3002", channel="loud")
    queue = stage.queue(ctx, not_uploading=("quiet",))
    assert [v.twitch_vod_id for v in queue.done_without_upload(every=False)] == ["3001"]
    assert (fresh(quiet).processed, fresh(quiet).upload_state) == (1, "skipped")
    claimed = queue.claim()
    assert claimed is not None and claimed.id == loud.id
    assert queue.claim() is None


def test_download_only_marks_free_vods_done_and_leaves_held_ones(stage: Stage) -> None:
    ctx = stage.context()
    free = stage.downloaded(1000, twitch_id="2001")
    ran_out = stage.downloaded(
        1000, twitch_id="2002", lease_owner="elsewhere:1", lease_until=utcnow() - dt.timedelta(seconds=1)
    )
    held = stage.downloaded(
        1000, twitch_id="2003", lease_owner="elsewhere:1", lease_until=utcnow() + dt.timedelta(minutes=1)
    )
    marked = stage.queue(ctx).done_without_upload(every=True)
    assert sorted(v.twitch_vod_id for v in marked) == ["2001", "2002"]
    for vod in (free, ran_out):
        row = fresh(vod)
        assert (row.processed, row.upload_state, row.youtube_url) == (1, "skipped", None)
        assert events(vod) == [("done", "download-only: uploading is off", None)]
    assert fresh(held).processed == 0 and events(held) == []
    assert Path(free.downloaded_path).exists()


def test_lease_is_renewed_every_third_of_its_length_and_a_lost_one_stops_the_upload(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(1000)
    worker = stage.claimed_worker(ctx)
    first = fresh(vod).lease_until
    stage.clock.now += 19.0
    worker.keep_lease()
    assert fresh(vod).lease_until == first  # not yet
    stage.clock.now += 1.0
    worker.keep_lease()
    assert fresh(vod).lease_until > first and not worker.lost_lease
    Vod.update(lease_owner="elsewhere:1").where(Vod.id == vod.id).execute()
    stage.clock.now += 20.0
    worker.keep_lease()
    assert worker.lost_lease


def test_progress_is_stored_and_measured_on_the_clock(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(8 * MIB)
    worker = stage.claimed_worker(ctx)
    worker.session_started("http://new/session")
    for offset in (MIB, 2 * MIB, 3 * MIB, 4 * MIB):
        stage.clock.now += 1.0
        worker.confirmed("http://new/session", offset)
    row = fresh(vod)
    assert (row.upload_session_uri, row.upload_offset) == ("http://new/session", 4 * MIB)
    assert worker.status() == "uploading 1001 50% at 1.0 MiB/s"
    assert sample("vodtender_upload_speed_bytes_per_second") == MIB
    worker.confirmed("", 0)  # YouTube forgot the session: a new one starts from 0
    row = fresh(vod)
    assert (row.upload_session_uri, row.upload_offset) == (None, 0) and worker.speed == 0


def test_a_refused_processing_check_waits_and_quota_exceeded_holds_the_units(stage: Stage) -> None:
    ctx = stage.context()
    vod = stage.downloaded(MIB)
    stage.claimed_worker(ctx).run()
    stage.youtube.add_fault(Fault(on="list", status=503, reason="backendError"))
    follow_processing(stage, ctx)
    upload = Upload.get(Upload.vod == vod.id)
    assert (upload.state, upload.polls, fresh(vod).processed) == ("processing", 1, 0)  # checked again later
    assert upload.next_check_at > utcnow()
    stage.youtube.add_fault(Fault(on="list", status=403, reason="quotaExceeded"))
    follow_processing(stage, ctx, hours=2)
    assert ctx.quota.hold() is not None and ctx.quota.used_today() == ctx.quota.daily_units
    follow_processing(stage, ctx, hours=3)  # held: no call while the units are gone
    assert stage.youtube.count("GET", "list") == 2 and fresh(vod).processed == 0


def test_two_uploaders_never_check_the_same_video_at_once(stage: Stage) -> None:
    ctx = stage.context()
    stage.downloaded(MIB)
    stage.claimed_worker(ctx).run()
    later = utcnow() + dt.timedelta(hours=1)
    (claimed,) = uploads.claim_processing_due(50, later)
    assert uploads.claim_processing_due(50, later) == []  # another uploader's follower finds it taken
    ProcessingFollower(ctx.client, ctx.quota, ctx.options, PrivateLock()).run_once(now=later)
    assert stage.youtube.count("GET", "list") == 0  # nor does a whole follower ask about it
    # the claimant died mid-check: once the claim runs out, the check is anyone's again
    assert [u.id for u in uploads.claim_processing_due(50, later + uploads.CHECK_CLAIM)] == [claimed.id]
