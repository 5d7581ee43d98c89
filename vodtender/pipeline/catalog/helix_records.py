"""Helix JSON items -> checked records.  Odd items are sanitised or skipped with one log line.

Helix is an outside party: every field may be missing, of the wrong type, or hostile (a
title with control characters or path separators).  Titles keep their text (the
downloader makes file names safe); control characters go, because they break log lines,
terminals and YouTube.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import unicodedata
from typing import Any

from prometheus_client import Counter

from vodtender.pipeline.catalog.expiry import BROADCASTER_TYPES
from vodtender.runtime.logs import get_logger

log = get_logger("poller")

SKIPPED_ITEMS = Counter("vodtender_helix_items_skipped_total", "Helix items skipped as unusable", ["endpoint"])

VIDEO_TYPES = ("archive", "highlight", "upload")
MAX_TITLE_LENGTH = 1000  # Twitch allows 140; anything longer is not a title we want to carry around
_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    id: str
    user_id: str
    user_login: str
    title: str
    description: str
    created_at: dt.datetime  # UTC, naive
    duration_seconds: int
    stream_id: str | None
    type: str
    url: str | None
    thumbnail_url: str | None
    muted_segments: str | None  # JSON text


@dataclasses.dataclass(frozen=True)
class StreamRecord:
    id: str
    user_id: str
    user_login: str
    title: str
    started_at: dt.datetime  # UTC, naive


@dataclasses.dataclass(frozen=True)
class UserRecord:
    id: str
    login: str
    broadcaster_type: str = ""  # partner, affiliate, or "" (how long Twitch keeps the channel's VODs)


def parse_twitch_duration(text: str) -> int | None:
    """`3h2m15s`, `59s`, `10h0m0s` -> seconds; None if it is not that format."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match or not text.strip():
        return None
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_time(text: Any) -> dt.datetime | None:
    """RFC 3339 (`2026-11-28T14:05:00Z`) -> naive UTC datetime; None if unusable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def sanitise_text(value: Any, limit: int = MAX_TITLE_LENGTH) -> str:
    """Text with control characters turned into spaces (newlines included), trimmed, length-capped."""
    if not isinstance(value, str):
        return ""
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in value)
    return " ".join(cleaned.split())[:limit]


def _id(value: Any) -> str | None:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    return text if text is not None and _ID.fullmatch(text) else None


def _skip(endpoint: str, reason: str, item: Any) -> None:
    SKIPPED_ITEMS.labels(endpoint).inc()
    item_id = item.get("id") if isinstance(item, dict) else None
    log.warning(f"helix {endpoint} item skipped: {reason}", item_id=repr(item_id)[:80])


def _muted_segments(value: Any, video_id: str) -> str | None:
    if value is None:
        return None
    segments = []
    if isinstance(value, list):
        for seg in value:
            if isinstance(seg, dict) and all(
                isinstance(seg.get(k), int | float) and not isinstance(seg.get(k), bool) for k in ("offset", "duration")
            ):
                segments.append({"offset": seg["offset"], "duration": seg["duration"]})
    if len(segments) != (len(value) if isinstance(value, list) else -1):
        log.warning("helix video has malformed muted_segments; keeping the usable ones", vod_id=video_id)
    return json.dumps(segments) if segments else None


def parse_video(item: Any) -> VideoRecord | None:
    if not isinstance(item, dict):
        _skip("videos", "not an object", item)
        return None
    video_id, user_id = _id(item.get("id")), _id(item.get("user_id"))
    if video_id is None:
        _skip("videos", "missing or malformed id", item)
        return None
    if user_id is None:
        _skip("videos", "missing or malformed user_id", item)
        return None
    video_type = item.get("type")
    if video_type not in VIDEO_TYPES:
        _skip("videos", f"unknown type {str(video_type)[:40]!r}", item)
        return None
    created_at = parse_time(item.get("created_at"))
    if created_at is None:
        _skip("videos", "missing or malformed created_at", item)
        return None
    duration = parse_twitch_duration(item.get("duration", ""))
    if duration is None:
        log.warning(
            "helix video has an unreadable duration; stored as 0",
            vod_id=video_id,
            duration=repr(item.get("duration"))[:40],
        )
        duration = 0
    url = item.get("url")
    thumbnail = item.get("thumbnail_url")
    return VideoRecord(
        id=video_id,
        user_id=user_id,
        user_login=sanitise_text(item.get("user_login"), 64),
        title=sanitise_text(item.get("title")),
        description=sanitise_text(item.get("description"), 5000),
        created_at=created_at,
        duration_seconds=duration,
        stream_id=_id(item.get("stream_id")),
        type=video_type,
        url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
        thumbnail_url=thumbnail if isinstance(thumbnail, str) and thumbnail else None,
        muted_segments=_muted_segments(item.get("muted_segments"), video_id),
    )


def parse_stream(item: Any) -> StreamRecord | None:
    if not isinstance(item, dict):
        _skip("streams", "not an object", item)
        return None
    stream_id, user_id = _id(item.get("id")), _id(item.get("user_id"))
    started_at = parse_time(item.get("started_at"))
    if stream_id is None or user_id is None or started_at is None:
        _skip("streams", "missing or malformed id, user_id or started_at", item)
        return None
    if item.get("type", "live") != "live":
        return None  # "" is Twitch's value after an error; not a live stream
    return StreamRecord(
        id=stream_id,
        user_id=user_id,
        user_login=sanitise_text(item.get("user_login"), 64),
        title=sanitise_text(item.get("title")),
        started_at=started_at,
    )


def parse_user(item: Any) -> UserRecord | None:
    user_id = _id(item.get("id")) if isinstance(item, dict) else None
    login = item.get("login") if isinstance(item, dict) else None
    if user_id is None or not isinstance(login, str) or not login:
        _skip("users", "missing or malformed id or login", item)
        return None
    kind = item.get("broadcaster_type") or ""
    if kind not in BROADCASTER_TYPES:  # a new kind Twitch adds: the shortest storage, the safe guess
        log.warning("helix user has an unknown broadcaster_type; kept as a regular channel", user_id=user_id)
        kind = ""
    return UserRecord(id=user_id, login=login.lower(), broadcaster_type=kind)
