"""The end state a user expects, read from the database, the stand-ins' records and the logs.

Each check returns a list of problems (empty: as expected), so a test can report all of them
at once, with enough detail to diagnose a failure from the CI log alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.e2e.chat import ChatLog, SentMessage
from tests.e2e.harness import FakeTwitch, Stream, vod_row
from tests.e2e.stack import Stack
from tests.helpers.media import decode_errors, duration
from tests.standins.twitch import Expected
from vodtender.runtime.models import ChatGap, ChatMessage, Vod

REL_TOLERANCE = 0.002  # tmi-sent-ts has millisecond resolution
GAP_TOLERANCE = 1.0  # a gap's ends are the recorder's own clock readings around a disconnect
DURATION_TOLERANCE = 1.0  # seconds between the file's duration and the sum of the playlist's EXTINF


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def packet_count(path: Path) -> int:
    """Video packets in a media file (a remux keeps every packet; a hole loses some)."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(json.loads(out)["streams"][0]["nb_read_packets"])


def served_media_problems(path: Path, served: Expected) -> list[str]:
    """The file is the VOD Twitch served: every video packet of every segment, its duration, decodable end
    to end.  Packets, not bytes: a remux into another container is fine as long as nothing went missing."""
    problems = []
    packets = packet_count(path)
    if packets != served.video_packets:
        problems.append(f"the file has {packets} video packets, the served segments {served.video_packets}")
    seconds = duration(path)
    if abs(seconds - served.duration) > DURATION_TOLERANCE:
        problems.append(f"the file lasts {seconds:.1f}s, the served VOD {served.duration:.1f}s")
    errors = decode_errors(path)
    if errors:
        problems.append(f"ffmpeg reports decoding the file: {errors[:500]}")
    return problems


def archived_vod_problems(vod: Vod | None, twitch_vod_id: str, served: Expected, uploads: list[str]) -> list[str]:
    """Downloaded whole, uploaded once, the uploaded bytes are the downloaded file's, which is the served VOD."""
    if vod is None:
        return [f"VOD {twitch_vod_id}: no row in vods"]
    problems = []
    if vod.processed != 1 or not vod.youtube_url or vod.processing_error:
        problems.append(
            f"VOD {twitch_vod_id}: processed={vod.processed} youtube_url={vod.youtube_url!r} "
            f"download_state={vod.download_state} upload_state={vod.upload_state} "
            f"error={vod.processing_error!r} ({vod.error_class})"
        )
    if len(uploads) != 1:
        problems.append(f"VOD {twitch_vod_id}: {len(uploads)} completed uploads on YouTube (expected 1)")
    path = Path(vod.downloaded_path or "/nonexistent")
    if not path.is_file():
        problems.append(f"VOD {twitch_vod_id}: downloaded file {path} is missing")
        return problems
    if uploads and uploads[-1] != sha256(path.read_bytes()):
        problems.append(f"VOD {twitch_vod_id}: the bytes YouTube received are not the downloaded file's")
    return problems + [f"VOD {twitch_vod_id}: {problem}" for problem in served_media_problems(path, served)]


def resolved_through_twitch_problems(world: FakeTwitch, stream: Stream) -> list[str]:
    """The VOD was resolved as yt-dlp's Twitch extractor resolves one: usher was asked for its master with a
    playback token and signature from GraphQL (a generic HLS download of a playlist URL never asks usher)."""
    usher = f"usher/vod/{stream.vod_id}.m3u8"
    if any(path == usher and query.get("sig") for path, query in world.twitch.requests):
        return []
    return [f"VOD {stream.vod_id}: usher never asked for it with a signed token: not resolved by the Twitch extractor"]


def in_gap(message: SentMessage, gaps: Iterable[ChatGap]) -> bool:
    return any(
        g.started_at - GAP_TOLERANCE <= message.sent_at <= (g.ended_at or float("inf")) + GAP_TOLERANCE
        for g in gaps
        if g.channel == message.channel
    )


def moments(messages: list[SentMessage], limit: int) -> list[float]:
    return sorted({round(m.sent_at, 3) for m in messages})[:limit]


def chat_problems(
    log: ChatLog, channel: str, real_vod: Vod | None, limit: int = 8, context: Callable[[float], str] = lambda at: ""
) -> list[str]:
    """Every message sent is stored once on the real VOD, with rel_timestamp = sent - real start,
    or it was sent inside a recorded gap; everything the stand-in sent to nobody is inside a gap."""
    sent = log.of(channel)
    stored = {m.msg_id: m for m in ChatMessage.select().where(ChatMessage.channel == channel)}
    gaps = list(ChatGap.select().where(ChatGap.channel == channel))
    problems: list[str] = []
    if real_vod is None:
        return [f"#{channel}: no real VOD to check chat against"]
    start_unix = real_vod.date.replace(tzinfo=dt.UTC).timestamp()  # stored as naive UTC
    missing, misplaced, unheard_outside = [], [], []
    for message in sent:
        row = stored.get(message.msg_id)
        if message.receivers == 0 and not in_gap(message, gaps):
            unheard_outside.append(message)
        if row is None:
            if not in_gap(message, gaps):
                missing.append(message)
            continue
        expected = message.sent_at - start_unix
        if (
            row.vod_id != real_vod.twitch_vod_id
            or row.rel_timestamp is None
            or abs(row.rel_timestamp - expected) > REL_TOLERANCE
            or row.message != message.text
        ):
            misplaced.append(
                f"{message.msg_id}: vod_id={row.vod_id} rel={row.rel_timestamp} "
                f"(expected {real_vod.twitch_vod_id} rel={expected:.3f}) text={row.message!r}"
            )
    if missing:
        problems.append(
            f"#{channel}: {len(missing)} of {len(sent)} messages missing outside any recorded gap, "
            f"e.g. sent at {moments(missing, limit)}{context(missing[0].sent_at)}; "
            f"gaps {[(g.started_at, g.ended_at, g.reason) for g in gaps]}"
        )
    if misplaced:
        problems.append(
            f"#{channel}: {len(misplaced)} messages on the wrong VOD or with a wrong rel_timestamp, "
            f"e.g. {misplaced[:limit]}"
        )
    if unheard_outside:
        problems.append(
            f"#{channel}: the IRC stand-in sent {len(unheard_outside)} messages while nobody was "
            f"joined, outside every recorded gap, e.g. at {moments(unheard_outside, limit)}"
            f"{context(unheard_outside[0].sent_at)}"
        )
    extra = set(stored) - {m.msg_id for m in sent}
    if extra:
        problems.append(f"#{channel}: {len(extra)} stored messages that were never sent")
    return problems


def final_problems(
    world: FakeTwitch, stack: Stack, streams: list[Stream], context: Callable[[float], str] = lambda at: ""
) -> dict[str, list[str]]:
    """Everything a user checks at the end, by topic: `vods` archived and uploaded once, `chat`
    complete and aligned (or inside recorded gaps), `logs` free of `database is locked` and tracebacks."""
    found: dict[str, list[str]] = {"vods": [], "chat": [], "logs": []}
    for stream in streams:
        found["vods"] += archived_vod_problems(
            vod_row(stream.vod_id), stream.vod_id, world.served(stream), world.uploads_of(stream)
        )
        found["vods"] += resolved_through_twitch_problems(world, stream)
        if vod_row(stream.placeholder_id) is not None:
            found["vods"].append(f"placeholder {stream.placeholder_id} still there after reconciliation")
        found["chat"] += chat_problems(world.chat, stream.channel.login, vod_row(stream.vod_id), context=context)
    for name, excerpts in stack.forbidden_log_lines().items():
        found["logs"].append(f"{name} log:\n" + "\n---\n".join(excerpts))
    return found
