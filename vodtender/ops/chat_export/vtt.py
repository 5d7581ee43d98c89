"""A WebVTT track: chat lines as voice cues (`<v Name>`), `/me` in italics, notices bold, marks in brackets."""

from __future__ import annotations

from collections.abc import Iterator

from vodtender.ops.chat_export.cues import Markup, clock, cues
from vodtender.runtime.models import Vod


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


WEBVTT = Markup(
    say="<v {name}>{text}", action="<v {name}><i>* {name} {text}</i>", notice="<b>{text}</b>", escape=_escape
)


def export_webvtt(vod: Vod) -> Iterator[str]:
    """WEBVTT, then each cue's timing, text and a blank line (NoChat when there is no chat)."""
    timed = cues(vod, WEBVTT)

    def lines() -> Iterator[str]:
        yield "WEBVTT"
        yield ""
        for start, end, text in timed:
            yield f"{clock(start, '.')} --> {clock(end, '.')}"
            yield text
            yield ""

    return lines()
