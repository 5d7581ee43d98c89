"""SubRip (SRT): numbered cues, `HH:MM:SS,mmm` times, plain `Name: text` lines."""

from __future__ import annotations

from collections.abc import Iterator

from vodtender.ops.chat_export.cues import Markup, clock, cues
from vodtender.runtime.models import Vod

SUBRIP = Markup(say="{name}: {text}", action="* {name} {text}", notice="{text}")


def export_srt(vod: Vod) -> Iterator[str]:
    """Each cue: its number, its times, its text, a blank line (NoChat when there is no chat)."""
    timed = cues(vod, SUBRIP)

    def lines() -> Iterator[str]:
        for number, (start, end, text) in enumerate(timed, 1):
            yield str(number)
            yield f"{clock(start, ',')} --> {clock(end, ',')}"
            yield text
            yield ""

    return lines()
