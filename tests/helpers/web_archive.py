"""An archive for the web viewer's tests: fixture VODs in several channels and states, one with a real
small MP4, chat spread over it (a deleted message near 120 s, a timeout, a gap, hostile lines), and a
live recording in progress.

    video = make_test_video(tmp / "data" / "alpha" / "vod.mp4")   # ffmpeg: integration tier only
    archive = fill_archive(data_dir, video)                        # into the database bound to the models
    archive.played.id, archive.deleted_near_120.message, ...

Without a video (`video=None`, the unit tier) the played VOD is the same row, with no file.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.models import ChatGap, ChatMessage, Recording, Upload, Vod, VodEvent, database_proxy

VIDEO_SECONDS = 180
START = dt.datetime(2026, 3, 1, 18, 0, 0)  # the played VOD's stream start (UTC, naive as stored)

# Hostile text: markup that must stay text, a right-to-left override, and a very long line of emoji.
SCRIPT = '<script>window.pwned = 1</script><img src=x onerror="window.pwned=2">'
RTL = "evil \u202egnp.exe\u202c done"
EMOJI = "\U0001f600" * 500
HOSTILE_TITLE = f'{SCRIPT} & "quotes" {RTL}'

DELETED_AT = 119.5  # the deleted message, near 120 s
TIMEOUT_AT = 121.0
GAP = (150.0, 160.0)  # seconds into the played VOD the recorder was not connected
CHAT_EVERY = 2.0  # one chat line every this many seconds over the played VOD


def make_test_video(path: Path, seconds: int = VIDEO_SECONDS) -> Path:
    """A small H.264/AAC MP4 with a keyframe every 2 s (quick seeking): test pattern and a tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size=320x180:rate=24:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "48", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", "-shortest",
            str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


@dataclass
class Archive:
    played: Vod  # verified, with the file (when given), chat and a chat gap
    hostile: Vod  # hostile title and chat lines
    others: list[Vod] = field(default_factory=list)  # other channels and states
    live: Vod | None = None  # the placeholder of a stream being recorded
    recording: Recording | None = None
    deleted_near_120: ChatMessage | None = None
    timeout: ChatMessage | None = None
    hostile_lines: list[ChatMessage] = field(default_factory=list)

    @property
    def vods(self) -> list[Vod]:
        return [self.played, self.hostile, *self.others, *([self.live] if self.live else [])]


def chat(vod: Vod, n: int, offset: float, text: str, **fields: object) -> ChatMessage:
    start = unix_seconds(vod.date)
    values: dict[str, object] = {
        "msg_id": f"{vod.twitch_vod_id}-{n}",
        "channel": vod.channel,
        "vod_id": vod.twitch_vod_id,
        "username": f"user{n % 7}",
        "display_name": f"User{n % 7}",
        "message": text,
        "abs_timestamp": start + offset,
        "rel_timestamp": offset,
        "color": "#1E90FF",
        "badges": "subscriber/12",
    }
    values.update(fields)
    return ChatMessage.create(**values)


def _played(data_dir: Path, video: Path | None) -> Vod:
    return Vod.create(
        twitch_vod_id="2000000001",
        channel="alpha",
        title="Speedrun night: any% attempts",
        description="Trying for a new record.",
        date=START,
        duration_seconds=VIDEO_SECONDS,
        stream_id="stream-alpha-1",
        download_state="downloaded",
        downloaded_path=str(video) if video else str(data_dir / "alpha" / "missing.mp4"),
        download_bytes=video.stat().st_size if video else 0,
        download_total=video.stat().st_size if video else 0,
        video_codec="h264",
        video_resolution="320x180",
        upload_state="done",
        processed=1,
        youtube_url="https://www.youtube.com/watch?v=abcdefghijk",
        muted_segments=json.dumps([{"offset": 60, "duration": 30}]),
        download_gaps=json.dumps([{"offset": 90.0, "duration": 4.0, "segments": [45, 46]}]),
        chapters=json.dumps([{"offset": 0, "title": "Any%", "game": "Celeste"}]),
    )


def _played_chat(vod: Vod, archive: Archive) -> None:
    n = 0
    offset = 1.0
    while offset < VIDEO_SECONDS:
        if not GAP[0] <= offset < GAP[1]:
            chat(vod, n, offset, f"message {n} at {offset:.0f}s")
            n += 1
        offset += CHAT_EVERY
    archive.deleted_near_120 = chat(vod, 9001, DELETED_AT, "this one was deleted", deleted=1)
    chat(vod, 9002, DELETED_AT + 0.5, "this one was deleted", kind="clearmsg", target_user="user9001")
    archive.timeout = chat(
        vod, 9003, TIMEOUT_AT, "", kind="clearchat", notice_type="timeout", target_user="user3", ban_duration=600
    )
    chat(vod, 9004, 122.0, "/me waves", kind="action")
    chat(
        vod, 9005, 123.0, "thanks for the sub!", kind="usernotice", notice_type="resub",
        system_message="User5 subscribed for 12 months",
    )  # fmt: skip
    start = unix_seconds(vod.date)
    ChatGap.create(channel=vod.channel, started_at=start + GAP[0], ended_at=start + GAP[1], reason="reconnect")


def _hostile(data_dir: Path) -> Vod:
    return Vod.create(
        twitch_vod_id="2000000002",
        channel="bravo",
        title=HOSTILE_TITLE,
        description=SCRIPT,
        date=START - dt.timedelta(days=1),
        duration_seconds=3600,
        download_state="downloading",
        download_bytes=250,
        download_total=1000,
    )


def _others() -> list[Vod]:
    day = dt.timedelta(days=1)
    return [
        Vod.create(twitch_vod_id="2000000003", channel="alpha", title="Chill stream", date=START - 2 * day,
                   duration_seconds=7200),
        Vod.create(twitch_vod_id="2000000004", channel="charlie", title="Failed download", date=START - 3 * day,
                   duration_seconds=5400, download_state="failed", processing_error="fragment 12: HTTP 403",
                   error_class="fatal"),
        Vod.create(twitch_vod_id="2000000005", channel="charlie", title="Waiting for upload", date=START - 4 * day,
                   duration_seconds=1800, download_state="downloaded", upload_state="uploading"),
    ]  # fmt: skip


def _live(data_dir: Path) -> tuple[Vod, Recording]:
    started = START + dt.timedelta(days=1)
    vod = Vod.create(
        twitch_vod_id=f"live-{int(unix_seconds(started))}",
        channel="alpha",
        title="Live now: marathon",
        date=started,
        stream_id="stream-alpha-2",
        is_placeholder=1,
    )
    part = data_dir / ".recording" / "stream-alpha-2.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(bytes([0x47, 0x1F, 0xFF, 0x10]) + bytes(184))  # one MPEG-TS null packet: sniffed as mpegts
    recording = Recording.create(
        stream_id="stream-alpha-2",
        channel="alpha",
        placeholder_vod_id=vod.twitch_vod_id,
        state="recording",
        part_path=str(part),
        started_at=started,
        seconds=600.0,
        bytes=1_000_000,
        gaps=json.dumps([]),
        lease_owner="host:1",
    )
    return vod, recording


def fill_archive(data_dir: Path, video: Path | None = None) -> Archive:
    """The fixture VODs, chat, gaps, events, uploads and the live recording, in the bound database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with database_proxy.atomic():
        return _fill(data_dir, video)


def _fill(data_dir: Path, video: Path | None) -> Archive:
    archive = Archive(played=_played(data_dir, video), hostile=_hostile(data_dir), others=_others())
    _played_chat(archive.played, archive)
    VodEvent.create(vod=archive.played, stage="download", kind="done", message="verified")
    Upload.create(vod=archive.played, state="processed", video_id="abcdefghijk", size=1000, duration_seconds=180)
    archive.hostile_lines = [
        chat(archive.hostile, 1, 10.0, SCRIPT, display_name=SCRIPT),
        chat(archive.hostile, 2, 11.0, RTL),
        chat(archive.hostile, 3, 12.0, EMOJI),
    ]
    VodEvent.create(vod=archive.hostile, stage="download", kind="error", message=SCRIPT)
    archive.live, archive.recording = _live(data_dir)
    return archive
