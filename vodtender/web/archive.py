"""The archive as the API shows it: VOD summaries and details, read from the database and the data dir.

The shapes are the OpenAPI document's VodSummary and VodDetail (vodtender/web/openapi.json); the
state is the one word `vodtender vods` shows (pipeline/vods.py stage_of).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee

from vodtender.ops.chat_export.rows import gaps as chat_gaps
from vodtender.ops.chat_export.rows import offset
from vodtender.ops.status import iso
from vodtender.pipeline import vods
from vodtender.pipeline.download.gap_record import gaps_from_json
from vodtender.pipeline.record import rows as recordings
from vodtender.pipeline.upload import uploads
from vodtender.runtime.models import ChatMessage, Vod, VodEvent
from vodtender.web.media import MediaFile, media_of, recording_of

LIST_LIMIT, LIST_LIMIT_MAX = 50, 500


class BadRequest(ValueError):
    """A query parameter that cannot be used; the message is the API's one-line error."""


@dataclass(frozen=True)
class VodFilter:
    channel: str | None = None
    state: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    words: tuple[str, ...] = ()
    limit: int = LIST_LIMIT
    offset: int = 0

    def conditions(self) -> list[peewee.Expression]:
        found = []
        if self.channel:
            found.append(Vod.channel == self.channel.lower().lstrip("#"))
        if self.state:
            found.append(vods.listed_state(self.state))
        if self.since:
            found.append(Vod.date >= dt.datetime.combine(self.since, dt.time()))
        if self.until:
            found.append(Vod.date < dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time()))
        found += [Vod.title.contains(word) for word in self.words]
        return found


def parse_date(name: str, text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: not a date {text[:40]!r} (use YYYY-MM-DD)") from None


def parse_int(name: str, text: str | None, default: int, lowest: int, highest: int | None = None) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name}: not a whole number {text[:40]!r}") from None
    if value < lowest or (highest is not None and value > highest):
        bounds = f"{lowest}..{highest}" if highest is not None else f"at least {lowest}"
        raise BadRequest(f"{name}: {value} is out of range ({bounds})")
    return value


def parse_float(name: str, text: str | None, default: float) -> float:
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name}: not a number {text[:40]!r}") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name}: not a finite number")
    return value


def vod_filter(args: dict[str, str]) -> VodFilter:
    state = args.get("state") or None
    if state is not None and state not in vods.LISTED_STATES:
        raise BadRequest(f"state: unknown state {state[:40]!r} (use one of {', '.join(vods.LISTED_STATES)})")
    return VodFilter(
        channel=args.get("channel") or None,
        state=state,
        since=parse_date("since", args.get("since")),
        until=parse_date("until", args.get("until")),
        words=tuple((args.get("q") or "").split()),
        limit=parse_int("limit", args.get("limit"), LIST_LIMIT, 1, LIST_LIMIT_MAX),
        offset=parse_int("offset", args.get("offset"), 0, 0),
    )


def list_vods(where: VodFilter, data_dir: Path) -> dict[str, Any]:
    query = Vod.select()
    for condition in where.conditions():
        query = query.where(condition)
    total = query.count()
    page = query.order_by(Vod.date.desc(nulls="LAST"), Vod.id.desc()).limit(where.limit).offset(where.offset)
    return {
        "vods": [vod_summary(v, data_dir) for v in page],
        "total": total,
        "limit": where.limit,
        "offset": where.offset,
    }


def channels() -> list[str]:
    return [row.channel for row in Vod.select(Vod.channel).distinct().order_by(Vod.channel)]


def spans(text: str | None) -> list[dict[str, float]]:
    """A JSON list of {offset, duration} (muted segments), each kept only when it has both as numbers."""
    return [
        {"offset": float(item["offset"]), "duration": float(item["duration"])}
        for item in json_list(text)
        if isinstance(item.get("offset"), int | float) and isinstance(item.get("duration"), int | float)
    ]


def json_list(text: str | None) -> list[dict[str, Any]]:
    """The objects of a JSON list column; nothing of a value that is not one (an operator's hand edit)."""
    try:
        items = json.loads(text) if text else []
    except ValueError:
        return []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def progress(v: Vod) -> float | None:
    if v.processed or v.download_state == vods.DOWNLOADED:
        return 1.0
    if v.download_state == vods.DOWNLOADING and v.download_total:
        return max(0.0, min(1.0, v.download_bytes / v.download_total))
    return None


def vod_summary(v: Vod, data_dir: Path) -> dict[str, Any]:
    recording = recording_of(v)
    media = media_of(v, recording, data_dir)
    return {
        "id": v.id,
        "twitch_vod_id": v.twitch_vod_id,
        "channel": v.channel,
        "title": v.title,
        "date": iso(v.date),
        "duration_seconds": v.duration_seconds,
        "state": vods.stage_of(v),
        "download_state": v.download_state,
        "upload_state": v.upload_state,
        "progress": progress(v),
        "size_bytes": v.download_total or (media.size if media else None),
        "video_codec": v.video_codec,
        "video_resolution": v.video_resolution,
        "gaps": [{"offset": g.offset, "duration": g.duration} for g in gaps_from_json(v.download_gaps)],
        "muted_segments": spans(v.muted_segments),
        "youtube_url": v.youtube_url,
        "has_media": media is not None,
        "live": recording is not None and recording.state == recordings.RECORDING,
    }


def chapters(text: str | None) -> list[dict[str, Any]]:
    return [
        {"offset": float(c.get("offset") or 0), "title": str(c.get("title") or ""), "game": c.get("game")}
        for c in json_list(text)
    ]


def chat_summary(v: Vod) -> dict[str, Any]:
    this_vod = ChatMessage.vod_id == v.twitch_vod_id
    stamps = ChatMessage.select(peewee.fn.MIN(ChatMessage.rel_timestamp), peewee.fn.MAX(ChatMessage.rel_timestamp))
    first, last = stamps.where(this_vod).scalar(as_tuple=True)
    count = ChatMessage.select().where(this_vod).count()
    return {
        "messages": count,
        "first_offset": offset(first),
        "last_offset": offset(last),
        "gaps": [
            {"offset": offset(g.start), "duration": offset(g.end - g.start), "reason": g.reason} for g in chat_gaps(v)
        ],
    }


def media_summary(media: MediaFile | None, vod_id: int) -> dict[str, Any] | None:
    return None if media is None else {"url": f"/media/{vod_id}", "type": media.kind, "size": media.size}


def vod_detail(v: Vod, data_dir: Path) -> dict[str, Any]:
    detail = vod_summary(v, data_dir)
    events = VodEvent.select().where(VodEvent.vod == v.id).order_by(VodEvent.at, VodEvent.id)
    detail.update(
        description=v.description,
        chapters=chapters(v.chapters),
        events=[{"at": iso(e.at), "stage": e.stage, "kind": e.kind, "message": e.message} for e in events],
        uploads=[
            {k: u[k] for k in ("round", "part", "parts", "state")} | {"url": u["youtube_url"]}
            for u in uploads.summaries(v.id)
        ],
        chat=chat_summary(v),
        media=media_summary(media_of(v, recording_of(v), data_dir), v.id),
    )
    return detail
