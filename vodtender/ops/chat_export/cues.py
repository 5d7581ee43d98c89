"""Timed cues for the subtitle formats (WebVTT, SRT): each chat line for a few seconds, gaps as cues."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vodtender.ops.chat_export.rows import CUE_SECONDS, Line, describe, one_line, rows_and_gaps
from vodtender.runtime.models import Vod

Cue = tuple[float, float, str]  # start, end (VOD offsets), text


def _as_is(text: str) -> str:
    return text


@dataclass(frozen=True)
class Markup:
    """How a subtitle format writes each kind of line ({name}, {text} are escaped first)."""

    say: str
    action: str
    notice: str
    escape: Callable[[str], str] = _as_is
    moderation: str = "[{text}]"
    mark: str = " [{text}]"
    gap: str = "[chat not recorded: {text}]"

    def render(self, line: Line) -> str:
        name, text = self.escape(line.speaker), self.escape(line.text)
        if line.style == "say":
            shown = self.say.format(name=name, text=text) if name else text
        elif line.style == "action":
            shown = self.action.format(name=name, text=text)
        elif line.style == "notice":
            shown = self.notice.format(text=text) + (f" {self.escape(line.said)}" if line.said else "")
        else:
            shown = self.moderation.format(text=text)
        return shown + "".join(self.mark.format(text=self.escape(mark)) for mark in line.marks)


def cues(vod: Vod, markup: Markup) -> list[Cue]:
    """In VOD order; events before the VOD's start are left out (NoChat when there is no chat)."""
    rows, found = rows_and_gaps(vod)
    timed: list[Cue] = []
    for m in rows:
        line = describe(m)
        if line is None or m.rel_timestamp is None or m.rel_timestamp < 0:
            continue
        timed.append((m.rel_timestamp, m.rel_timestamp + CUE_SECONDS, markup.render(line)))
    for g in found:
        timed.append((g.start, max(g.end, g.start + 1), markup.gap.format(text=markup.escape(one_line(g.reason)))))
    timed.sort(key=lambda cue: cue[0])
    return timed


def clock(seconds: float, decimal: str) -> str:
    """HH:MM:SS.mmm (WebVTT) or HH:MM:SS,mmm (SRT)."""
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{decimal}{rest % 1000:03d}"
