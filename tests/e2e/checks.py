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
from tests.standins.hls import concatenated
from vodtender.runtime.models import ChatGap, ChatMessage, Vod

REL_TOLERANCE = 0.002  # tmi-sent-ts has millisecond resolution
GAP_TOLERANCE = 1.0  # a gap's ends are the recorder's own clock readings around a disconnect


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


def archived_vod_problems(vod: Vod | None, twitch_vod_id: str, playlist: Path, uploads: list[bytes | str]) -> list[str]:
    """Downloaded whole, uploaded once, the uploaded bytes are the downloaded file's and hold every segment."""
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
    data = path.read_bytes()
    if uploads and uploads[-1] != sha256(data):
        problems.append(f"VOD {twitch_vod_id}: the bytes YouTube received are not the downloaded file's")
    served = concatenated(playlist)
    if data != served:
        # A remux into another container is fine, as long as no packet went missing.
        reference = path.with_suffix(".served.ts")
        reference.write_bytes(served)
        try:
            have, want = packet_count(path), packet_count(reference)
        finally:
            reference.unlink()
        if have != want:
            problems.append(f"VOD {twitch_vod_id}: the file has {have} video packets, the served segments {want}")
    return problems


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
            vod_row(stream.vod_id), stream.vod_id, stream.playlist, world.uploads_of(stream)
        )
        if vod_row(stream.placeholder_id) is not None:
            found["vods"].append(f"placeholder {stream.placeholder_id} still there after reconciliation")
        found["chat"] += chat_problems(world.chat, stream.channel.login, vod_row(stream.vod_id), context=context)
    for name, excerpts in stack.forbidden_log_lines().items():
        found["logs"].append(f"{name} log:\n" + "\n---\n".join(excerpts))
    return found
