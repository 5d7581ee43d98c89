"""A VOD's YouTube metadata: templates filled in, then made to fit YouTube's rules.

YouTube refuses a title over 100 characters or with `<`/`>`, a description over 5,000 bytes or
with `<`/`>`, and tags over 500 characters in all.  Stream titles are hostile input (emoji,
control characters, 500 characters, markup), so everything is sanitised here rather than
letting YouTube refuse the upload.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import string
import unicodedata
from typing import Any

from vodtender.pipeline.download.gap_record import format_clock, gap_span, gaps_from_json, missing_seconds
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod

TITLE_MAX_CHARS = 100
DESCRIPTION_MAX_BYTES = 5000
TAGS_MAX_CHARS = 500
GAP_LINES_MAX = 20  # gaps listed one per line in a description; the rest are summed up in one line
PRIVACY_VALUES = ("private", "unlisted", "public")
_ANGLE = str.maketrans({"<": "‹", ">": "›"})

log = get_logger("metadata")


@dataclasses.dataclass(frozen=True)
class UploadSettings:
    title_template: str
    description_template: str
    privacy: str = "private"
    category: str = "20"
    tags: tuple[str, ...] = ()
    vod_url_template: str = "https://www.twitch.tv/videos/{id}"
    publish_delay: float = 0.0  # seconds after the upload starts; 0: published as `privacy` at once


@dataclasses.dataclass(frozen=True)
class VideoMetadata:
    title: str
    description: str
    tags: list[str]
    category: str
    privacy: str
    publish_at: dt.datetime | None = None  # scheduled: private until then, `privacy` after

    def body(self) -> dict[str, Any]:
        """The `videos.insert` request body (parts snippet and status)."""
        snippet: dict[str, Any] = {"title": self.title, "description": self.description, "categoryId": self.category}
        if self.tags:
            snippet["tags"] = self.tags
        status: dict[str, Any] = {"privacyStatus": self.privacy, "selfDeclaredMadeForKids": False}
        if self.publish_at is not None:
            # YouTube takes publishAt only on a private video; at that time it becomes public.
            status["privacyStatus"] = "private"
            status["publishAt"] = self.publish_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"snippet": snippet, "status": status}


class _LenientFormatter(string.Formatter):
    """`{unknown}` stays as written instead of raising: a template typo must not stop uploads."""

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        if isinstance(key, str) and key not in kwargs:
            return "{" + key + "}"
        return super().get_value(key, args, kwargs)


def _fill(template: str, fields: dict[str, str]) -> str:
    try:
        return _LenientFormatter().format(template.replace("\\n", "\n"), **fields)
    except (ValueError, IndexError) as exc:  # unbalanced braces, positional fields
        log.warning("bad upload template, used as plain text", error=str(exc))
        return template.replace("\\n", "\n")


def _clean_text(text: str, keep_newlines: bool) -> str:
    out = []
    for ch in text.translate(_ANGLE):
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029":
            out.append(" ")
        else:
            out.append(ch)
    cleaned = "".join(out)
    if keep_newlines:
        return "\n".join(re.sub(r"[ \t]+", " ", line).strip() for line in cleaned.split("\n")).strip()
    return re.sub(r"\s+", " ", cleaned).strip()


def clean_title(text: str, fallback: str) -> str:
    title = _clean_text(text, keep_newlines=False) or _clean_text(fallback, keep_newlines=False) or "Twitch VOD"
    if len(title) > TITLE_MAX_CHARS:
        title = title[: TITLE_MAX_CHARS - 1].rstrip() + "…"
    return title


def clean_description(text: str) -> str:
    description = _clean_text(text, keep_newlines=True)
    data = description.encode()
    if len(data) <= DESCRIPTION_MAX_BYTES:
        return description
    cut = data[: DESCRIPTION_MAX_BYTES - len("…".encode())].decode(errors="ignore")
    if "\n" in cut[len(cut) // 2 :]:  # prefer ending at a line break (chapters stay whole)
        cut = cut[: cut.rindex("\n")]
    return cut.rstrip() + "…"


def clean_tags(tags: tuple[str, ...] | list[str]) -> list[str]:
    out: list[str] = []
    total = 0
    for raw in tags:
        tag = _clean_text(raw, keep_newlines=False).replace(",", " ").strip()
        cost = len(tag) + (2 if " " in tag else 0)  # YouTube counts the quotes around a tag with spaces
        if not tag or tag in out or total + cost + len(out) > TAGS_MAX_CHARS:
            continue
        out.append(tag)
        total += cost
    return out


def _json_list(raw: str | None) -> list[dict[str, Any]]:
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def chapters_text(raw: str | None, start: float = 0.0, end: float = float("inf")) -> str:
    """YouTube chapter lines from the stored game/title changes (YouTube needs the first at 0:00);
    for a part from `start` to `end`, its chapters shifted to it, the one in effect at `start` at 0:00."""
    chapters = []
    for item in _json_list(raw):
        try:
            offset = float(item.get("offset") or 0)
        except (TypeError, ValueError):
            continue
        label = " — ".join(str(item[k]) for k in ("game", "title") if item.get(k))
        chapters.append((offset, _clean_text(label, keep_newlines=False) or "Chapter"))
    chapters.sort()
    if start > 0:
        before = [chapter for chapter in chapters if chapter[0] <= start]
        inside = [(offset - start, label) for offset, label in chapters if start < offset < end]
        chapters = [(0.0, before[-1][1]), *inside] if before else inside
    if len(chapters) < 2:
        return ""
    if chapters[0][0] > 0:
        chapters.insert(0, (0.0, "Start"))
    return "Chapters:\n" + "\n".join(f"{format_clock(offset)} {label}" for offset, label in chapters)


def muted_note(raw: str | None) -> str:
    segments = _json_list(raw)
    if not segments:
        return ""
    total = 0.0
    for seg in segments:
        try:
            total += float(seg.get("duration") or 0)
        except (TypeError, ValueError):
            continue
    return (
        f"Note: Twitch muted the audio of {len(segments)} part(s) of this VOD "
        f"({format_clock(total)} in all) for copyrighted music."
    )


def gaps_note(raw: str | None) -> str:
    """A line per part of the VOD Twitch lost (`download_gaps`), so viewers know the cut is not ours.
    Each line starts with words, so YouTube does not take it for a chapter."""
    gaps = gaps_from_json(raw)
    lines = [f"Missing from Twitch's archive: {gap_span(gap)}" for gap in gaps[:GAP_LINES_MAX]]
    rest = gaps[GAP_LINES_MAX:]
    if rest:
        lines.append(f"…and {len(rest)} more part(s) ({format_clock(missing_seconds(rest))} in all)")
    return "\n".join(lines)


def part_title(title: str, part: int, parts: int) -> str:
    """`title (part 1/3)` within YouTube's limit: the suffix always whole, the title cut before it."""
    suffix = f" (part {part}/{parts})"
    room = TITLE_MAX_CHARS - len(suffix)
    if len(title) > room:
        title = title[: room - 1].rstrip() + "…"
    return title + suffix


@dataclasses.dataclass(frozen=True)
class PartPlace:
    """Where a part sits in its VOD: its number, where it starts and ends, the earlier parts' videos."""

    part: int
    parts: int
    start: float
    end: float
    earlier_video_ids: tuple[str, ...]

    def note(self, watch_url: str) -> str:
        lines = [f"Part {self.part} of {self.parts} of this stream (from {format_clock(self.start)})."]
        lines += [f"Part {i}: {watch_url.format(id=vid)}" for i, vid in enumerate(self.earlier_video_ids, 1)]
        lines += [f"Part {i} follows on this channel." for i in range(self.part + 1, self.parts + 1)]
        return "\n".join(lines)


def build_part_metadata(vod: Vod, settings: UploadSettings, place: PartPlace, watch_url: str) -> VideoMetadata:
    """A part's metadata: its title numbered, its description linking the other parts, its chapters."""
    whole = build_metadata(vod, settings, place)
    description = whole.description
    if place.parts > 1:
        description = clean_description(place.note(watch_url) + "\n\n" + description)
        return dataclasses.replace(
            whole, title=part_title(whole.title, place.part, place.parts), description=description
        )
    return whole


def build_metadata(
    vod: Vod, settings: UploadSettings, place: PartPlace | None = None, started_at: dt.datetime | None = None
) -> VideoMetadata:
    """The video's metadata (of one part when `place` is given); `started_at` (aware), when the upload
    starts, schedules its publication `settings.publish_delay` later."""
    date = vod.date.strftime("%Y-%m-%d") if vod.date else ""
    fields = {
        "channel": vod.channel or "",
        "title": vod.title or "",
        "date": date,
        "id": vod.twitch_vod_id,
        "duration": format_clock(vod.duration_seconds or 0),
        "vod_url": vod.vod_url or settings.vod_url_template.replace("{id}", vod.twitch_vod_id),
    }
    title = clean_title(_fill(settings.title_template, fields), fallback=f"{fields['channel']} {date}")
    # The gaps before the chapters: a description too long is cut at its end, and the gaps matter more.
    chapters = chapters_text(vod.chapters, place.start, place.end) if place else chapters_text(vod.chapters)
    notes = (gaps_note(vod.download_gaps), chapters, muted_note(vod.muted_segments))
    extra = [part for part in notes if part]
    description = clean_description("\n\n".join([_fill(settings.description_template, fields), *extra]))
    privacy = settings.privacy if settings.privacy in PRIVACY_VALUES else "private"
    category = settings.category if settings.category.isdigit() else "20"
    publish_at = None
    if settings.publish_delay > 0 and privacy == "public":  # YouTube publishes a scheduled video as public
        publish_at = (started_at or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=settings.publish_delay)
    return VideoMetadata(title, description, clean_tags(settings.tags), category, privacy, publish_at)
