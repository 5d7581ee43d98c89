"""A VOD's gaps as recorded: the parts Twitch lost in every form, so the downloaded file lacks them.

A segment whose `N.ts`, `N-muted.ts` and `N-unmuted.ts` all answer 403/404 after their retries is
lost; a run of lost segments is one gap.  The downloader records a VOD's gaps (bounded by
DOWNLOAD_MAX_GAP) in `vods.download_gaps` as JSON, a list of
`{"offset": seconds from the VOD's start, "duration": seconds, "segments": [playlist indexes]}`;
`vodtender show`, `vodtender status --json` and the YouTube description read them back here.

Apart from the metrics (`download/gaps.py`): `vodtender status` reads gaps and must not load
prometheus_client.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence

from vodtender.runtime.config import format_duration
from vodtender.runtime.logs import get_logger

log = get_logger("gaps")

EN_DASH = "\u2013"  # joins the two ends of a span (times, segment numbers), as in print
_SHOWN_MALFORMED = 200  # characters of a malformed `download_gaps` value quoted in the warning


@dataclasses.dataclass(frozen=True)
class Gap:
    offset: float  # seconds from the VOD's start
    duration: float  # seconds missing
    segments: tuple[int, ...]  # playlist indexes of the lost segments

    @property
    def end(self) -> float:
        return self.offset + self.duration

    def as_dict(self) -> dict[str, object]:
        return {"offset": round(self.offset, 3), "duration": round(self.duration, 3), "segments": list(self.segments)}


def gaps_to_json(gaps: Sequence[Gap]) -> str | None:
    """The `download_gaps` value: None when nothing was lost."""
    return json.dumps([gap.as_dict() for gap in gaps]) if gaps else None


def gaps_from_json(text: str | None) -> list[Gap]:
    """The gaps stored in `download_gaps`; a malformed value counts as none, with one warning."""
    if not text:
        return []
    try:
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("not a JSON list")
        return [gap_from_dict(item) for item in items]
    except ValueError as exc:
        log.warning("malformed download_gaps ignored", error=str(exc), value=text[:_SHOWN_MALFORMED])
        return []


def gap_from_dict(item: object) -> Gap:
    """The inverse of `Gap.as_dict`; ValueError when `item` is not a gap."""
    if not isinstance(item, dict):
        raise ValueError("a gap is not a JSON object")
    segments = item.get("segments")
    if not isinstance(segments, list) or not segments or not all(_is_index(s) for s in segments):
        raise ValueError("a gap's segments are not a list of playlist indexes")
    return Gap(_seconds(item.get("offset")), _seconds(item.get("duration")), tuple(segments))


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise ValueError(f"{value!r} is not a number of seconds")
    return float(value)


def missing_seconds(gaps: Sequence[Gap]) -> float:
    return sum(gap.duration for gap in gaps)


def format_clock(seconds: float) -> str:
    """A position in a video as YouTube writes it: 1:02:03, or 2:03 under an hour."""
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def gap_span(gap: Gap) -> str:
    """Where the gap is in the VOD: its start and end, joined by an en dash."""
    return f"{format_clock(gap.offset)}{EN_DASH}{format_clock(gap.end)}"


def describe_gap(gap: Gap) -> str:
    """`gap <span> (10 s missing: segment 372 lost by Twitch)`, for `vodtender show`."""
    return f"gap {gap_span(gap)} ({_amount(gap.duration)} missing: {_segments(gap.segments)} lost by Twitch)"


def _amount(seconds: float) -> str:
    return f"{round(seconds, 1):g} s" if seconds < 60 else format_duration(round(seconds))


def _segments(indexes: tuple[int, ...]) -> str:
    if len(indexes) <= 1:
        return " ".join(("segment", *map(str, indexes)))
    if list(indexes) == list(range(indexes[0], indexes[0] + len(indexes))):
        return f"segments {indexes[0]}{EN_DASH}{indexes[-1]}"
    return "segments " + ", ".join(map(str, indexes))
