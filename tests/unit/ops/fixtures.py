"""A database in a known state with a VOD in every pipeline stage, for status/vods tests."""

from __future__ import annotations

import datetime as dt
import json
import socket

from vodtender.runtime.models import KV, ChatGap, ChatMessage, DaemonHeartbeat, OAuthToken, Recording, Vod, VodEvent

CHANNEL = "alpha"
# stage -> how many VODs the fixture puts there
EXPECTED_QUEUE = {"live": 1, "discovered": 2, "downloading": 1, "downloaded": 1, "uploading": 1, "done": 3, "failed": 2}
GIB = 2**30
LIVE_STREAM = "s1"  # the stream of the fixture's live placeholder, being recorded
AD_GAP = {"start": "2026-11-27T18:05:00", "end": "2026-11-27T18:05:30", "seconds": 30.0, "why": "ad"}


def heartbeat(name: str, now: dt.datetime, age: float = 1.0, ready: int = 1, pid: int = 100) -> None:
    fields = {"status": f"{name} working", "ready": ready, "updated_at": now - dt.timedelta(seconds=age)}
    DaemonHeartbeat.insert(
        daemon=name,
        instance=f"host:{pid}",
        host="host",
        http_addr="127.0.0.1:9",
        started_at=now - dt.timedelta(hours=1),
        **fields,
    ).on_conflict(conflict_target=[DaemonHeartbeat.daemon, DaemonHeartbeat.instance], update=fields).execute()


def vod(vod_id: str, day: int, **fields: object) -> Vod:
    values: dict[str, object] = {"channel": CHANNEL, "title": f"stream {vod_id}", "duration_seconds": 3600, **fields}
    return Vod.create(twitch_vod_id=vod_id, date=dt.datetime(2026, 11, day, 18), **values)


def populate_every_state(now: dt.datetime, data_dir: str = "/nonexistent") -> None:
    for name in ("poller", "downloader", "uploader", "chat", "recorder", "web"):
        heartbeat(name, now)
    host = socket.gethostname()
    placeholder = vod(f"live-{int(now.timestamp()) - 600}", 27, is_placeholder=1, stream_id=LIVE_STREAM)
    Recording.create(
        stream_id=LIVE_STREAM,
        channel=CHANNEL,
        placeholder_vod_id=placeholder.twitch_vod_id,
        state="recording",
        part_path=f"{data_dir}/.recording/{LIVE_STREAM}.part",
        started_at=now - dt.timedelta(minutes=10),
        seconds=570.0,
        bytes=GIB // 2,
        gaps=json.dumps([AD_GAP]),
        ads_seconds=30.0,
        lease_owner=f"{host}:2",
        lease_until=now + dt.timedelta(minutes=2),
        updated_at=now - dt.timedelta(seconds=1),
    )
    vod("1001", 1)
    vod("1002", 2, download_state="failed", next_attempt_at=now + dt.timedelta(minutes=5), download_retries=1)
    vod(
        "1003",
        3,
        download_state="downloading",
        download_bytes=GIB,
        download_total=4 * GIB,
        download_speed=10 * 2**20,
        progress_updated_at=now - dt.timedelta(seconds=3),
        lease_owner=f"{host}:1",
        lease_until=now + dt.timedelta(minutes=2),
        muted_segments=json.dumps([{"offset": 60, "duration": 360}]),
    )
    vod(
        "1004",
        4,
        download_state="downloaded",
        downloaded_path=f"{data_dir}/1004.mp4",
        download_total=GIB,
        download_bytes=GIB,
        download_host=host,
    )
    vod(
        "1005",
        5,
        download_state="downloaded",
        upload_state="uploading",
        downloaded_path=f"{data_dir}/1005.mp4",
        download_total=2 * GIB,
        upload_offset=GIB,
        download_host=host,
    )
    for n in (6, 7, 8):
        vod(
            f"100{n}",
            n,
            download_state="downloaded",
            upload_state="done",
            processed=1,
            download_host=host,
            youtube_url=f"https://youtu.be/v{n}",
            downloaded_path=f"{data_dir}/100{n}.mp4",
            download_total=GIB,
        )
    failed = vod("1009", 9, download_state="failed", processing_error="HTTP 404: VOD deleted", error_class="fatal")
    VodEvent.create(
        vod=failed.id,
        stage="download",
        kind="retry",
        error_class="transient",
        message="timeout",
        at=now - dt.timedelta(hours=2),
    )
    VodEvent.create(
        vod=failed.id,
        stage="download",
        kind="error",
        error_class="fatal",
        message="HTTP 404",
        at=now - dt.timedelta(hours=1),
    )
    vod("1010", 10, download_state="cancelled", processing_error="cancelled by operator", error_class="cancelled")
    unix = now.replace(tzinfo=dt.UTC).timestamp()
    for i in range(5):
        ChatMessage.create(msg_id=f"new{i}", channel=CHANNEL, username="u", message="hi", abs_timestamp=unix - 10 * i)
    for i in range(3):
        ChatMessage.create(msg_id=f"old{i}", channel=CHANNEL, username="u", message="hi", abs_timestamp=unix - 3600)
    ChatGap.create(channel=CHANNEL, started_at=unix - 900, ended_at=unix - 898, reason="RECONNECT")
    OAuthToken.create(
        provider="youtube",
        channel="",
        access_token="a" * 20,
        refresh_token="r" * 20,
        expires_at=now + dt.timedelta(minutes=40),
    )
    KV.create(key=f"catalog_last_sync:{CHANNEL}", value=str(unix - 300))
