"""The uploader daemon as a separate process against the YouTube stand-in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import peewee

from tests.helpers.processes import DaemonProcess, wait_until
from tests.integration.uploader.conftest import (
    MIB,
    downloaded_vod,
    fresh,
    kill_while_held,
    metric,
    quota_used_today,
    store_tokens,
    stored_tokens,
    uploader_env,
    wait_done,
)
from tests.standins.youtube import Fault, YouTubeStandIn, check_metadata
from vodtender.pipeline.kv import kv_get
from vodtender.runtime.models import VodEvent


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def events(vod_id: int, kind: str) -> list[VodEvent]:
    return list(VodEvent.select().where((VodEvent.vod == vod_id) & (VodEvent.kind == kind)))


def test_200_mb_upload_arrives_byte_exact_with_its_metadata(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    vod = downloaded_vod(
        workdir,
        200 * MIB + 4321,
        title="Any% speedrun",
        chapters=json.dumps([{"offset": 0, "game": "Celeste"}, {"offset": 1800, "game": "Tetris"}]),
    )
    store_tokens(youtube)
    env = uploader_env(
        workdir,
        db_path,
        youtube,
        UPLOAD_CHUNK_SIZE="8M",
        UPLOAD_TAGS="speedrun,celeste",
        UPLOAD_PRIVACY="unlisted",
        UPLOAD_PLAYLIST="PL123",
    )
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        row = wait_done(vod, uploader, timeout=240)
        (video,) = youtube.videos
        assert video.size == 200 * MIB + 4321 and video.sha256 == sha256(vod.downloaded_path)
        snippet = video.metadata["snippet"]
        assert snippet["title"] == "somechannel 2026-03-01: Any% speedrun"
        assert "Chapters:\n0:00 Celeste\n30:00 Tetris" in snippet["description"]
        assert snippet["tags"] == ["speedrun", "celeste"] and snippet["categoryId"] == "20"
        assert video.metadata["status"]["privacyStatus"] == "unlisted"
        assert row.youtube_url == f"https://www.youtube.com/watch?v={video.id}"
        assert row.upload_state == "done" and row.processing_error is None and row.upload_session_uri is None
        wait_until(lambda: youtube.playlist_items, 10, what="playlist item")
        assert youtube.playlist_items[0]["snippet"]["playlistId"] == "PL123"
        # the upload, the playlist item and one videos.list check of its processing
        wait_until(lambda: quota_used_today() == 1651, 10, what="quota units counted")
        assert metric(uploader, "vodtender_upload_bytes_total") == 200 * MIB + 4321
        assert Path(vod.downloaded_path).exists()  # UPLOAD_DELETE_LOCAL is off by default


def test_sigkill_at_half_then_restart_resends_less_than_a_chunk(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    size = 20 * MIB + 999
    vod = downloaded_vod(workdir, size)
    store_tokens(youtube)
    youtube.add_fault(Fault(on="put", kind="hold", at_offset=10 * MIB + 300_000))  # server stops reading mid-chunk
    env = uploader_env(workdir, db_path, youtube)

    def confirmed_up_to_the_last_chunk() -> None:
        stored = fresh(vod)
        assert stored.upload_session_uri and stored.upload_offset == 10 * MIB

    kill_while_held(workdir, env, youtube, "upload to reach 50%", 60, confirmed_up_to_the_last_chunk)
    with DaemonProcess("uploader", workdir, env=env) as second:
        wait_done(vod, second)
        second.wait_for_log(r"upload started from the stored session at 10485760 bytes")
    (session,) = youtube.sessions.values()  # the same session, no new one
    assert youtube.count("POST", "post") == 1
    assert session.status_queries >= 1
    assert session.bytes_in - size < 1 * MIB, "more than one chunk was sent twice"
    assert youtube.videos[0].sha256 == sha256(vod.downloaded_path)


def test_503_dropped_connection_and_401_recover_without_starting_over(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    size = 8 * MIB + 17
    vod = downloaded_vod(workdir, size)
    issued = store_tokens(youtube)
    youtube.add_fault(Fault(on="put", status=503, at_offset=MIB + 1000))
    youtube.add_fault(Fault(on="put", kind="drop", at_offset=3 * MIB + 5000))
    youtube.add_fault(Fault(on="put", status=401, reason="authError", at_offset=6 * MIB + 3))
    with DaemonProcess("uploader", workdir, env=uploader_env(workdir, db_path, youtube)) as uploader:
        row = wait_done(vod, uploader)
        uploader.wait_for_log(r"YouTube access token refreshed")
    assert row.youtube_url and youtube.videos[0].sha256 == sha256(vod.downloaded_path)
    assert youtube.count("POST", "post") == 1  # one session throughout
    assert youtube.sessions[next(iter(youtube.sessions))].bytes_in - size < 3 * MIB
    retries = events(vod.id, "retry")
    assert [r.message for r in retries] == [
        "attempt 1: HTTP 503 backendError",
        "attempt 1: ConnectionResetError: [Errno 104] Connection reset by peer",
        "attempt 1: HTTP 401 authError",
    ]
    assert row.upload_retries == 0 and row.processing_error is None
    token = stored_tokens(workdir)
    assert token and token.access_token != issued["access_token"] and token.refresh_token == issued["refresh_token"]


def test_hostile_title_uploads_with_valid_metadata(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    title = "<script>alert(1)</script>\n" + "🎮🔥" * 240 + "\r\nline\x00two"
    vod = downloaded_vod(workdir, MIB, title=title)
    store_tokens(youtube)
    with DaemonProcess("uploader", workdir, env=uploader_env(workdir, db_path, youtube)) as uploader:
        wait_done(vod, uploader)
    metadata = youtube.videos[0].metadata
    assert check_metadata(metadata) is None
    assert len(metadata["snippet"]["title"]) <= 100 and "script" in metadata["snippet"]["title"]


def test_sigterm_mid_chunk_stops_at_once_and_keeps_the_session(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    size = 6 * MIB
    vod = downloaded_vod(workdir, size)
    store_tokens(youtube)
    youtube.add_fault(Fault(on="put", kind="hold", at_offset=3 * MIB + 10))
    env = uploader_env(workdir, db_path, youtube)
    first = DaemonProcess("uploader", workdir, env=env).start()
    try:
        wait_until(youtube.holding.is_set, 60, what="upload to block mid-chunk")
        assert first.stop(timeout=15) == 0  # does not wait for the blocked chunk
        assert "upload paused, the session is kept" in first.log()
    finally:
        first.kill()
        youtube.release()
    row = fresh(vod)
    assert (row.lease_owner, row.upload_state, row.upload_offset) == (None, None, 3 * MIB)
    assert row.upload_session_uri
    with DaemonProcess("uploader", workdir, env=env) as second:
        wait_done(vod, second)
    assert youtube.count("POST", "post") == 1 and youtube.videos[0].sha256 == sha256(vod.downloaded_path)


def test_outage_retries_then_waits_with_backoff_and_counts_towards_the_breaker(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    vod = downloaded_vod(workdir, 2 * MIB)
    store_tokens(youtube)
    youtube.add_fault(Fault(on="put", status=503, times=1000))
    env = uploader_env(workdir, db_path, youtube, UPLOAD_MAX_ATTEMPTS="3", UPLOAD_BACKOFF_BASE="0.5s")
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        uploader.wait_for_log(r"upload failed, will retry .*error_class=transient attempt=1")
        row = wait_until(lambda: fresh(vod) if fresh(vod).upload_retries else None, 10, what="upload_retries")
        assert row.error_class == "transient" and row.processing_error is None and row.processed == 0
        assert row.upload_session_uri  # kept for the next attempt
        assert len(events(vod.id, "retry")) >= 2 and len(events(vod.id, "error")) >= 1
        wait_until(lambda: int(kv_get("circuit_failures") or 0) >= 1, 10, what="breaker failure counted")
        youtube.faults.clear()  # YouTube is back
        row = wait_done(vod, uploader)
    assert youtube.count("POST", "post") == 1 and row.youtube_url
    assert kv_get("circuit_failures") in (None, "0")
