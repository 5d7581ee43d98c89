"""Advanced SubStation (ASS): a scrolling chat column on the right of the video, for libass.

`ffmpeg -i vod.mp4 -vf ass=chat.ass out.mp4` burns it in.  The script's resolution is the VOD's
(`vods.video_resolution`, 1920x1080 when unknown), so positions are in the video's pixels.  Each
message enters at the bottom of the column and moves up one row at every newer message, until it
leaves the top or has been shown HOLD_SECONDS: one Dialogue event per message and row, positioned
with `\\pos` and clipped to the column, so nothing is drawn outside it.  A message longer than the
column is cut with an ellipsis (one row per message keeps the scrolling exact).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vodtender.ops.chat_export.rows import Line, describe, rows_and_gaps
from vodtender.runtime.models import ChatMessage, Vod

HOLD_SECONDS = 30.0  # a line of a quiet chat leaves after this long
DEFAULT_RESOLUTION = (1920, 1080)
_WHITE = "&HFFFFFF&"
_GREY = "&HB0B0B0&"


@dataclass(frozen=True)
class Column:
    """The chat column's geometry, from the video's size."""

    width: int
    height: int

    @property
    def left(self) -> int:
        return self.width * 7 // 10

    @property
    def font_size(self) -> int:
        return max(8, self.height // 30)

    @property
    def row_height(self) -> int:
        return self.font_size * 5 // 4

    @property
    def bottom(self) -> int:
        return self.height - self.row_height // 2

    @property
    def rows(self) -> int:
        return max(1, (self.bottom - self.row_height) // self.row_height)

    @property
    def characters(self) -> int:  # a row's budget, at roughly half a font size per character
        return max(8, (self.width - self.left) * 2 // self.font_size - 1)


@dataclass(frozen=True)
class Entry:
    start: float
    colour: str  # the name's, &HBBGGRR&
    name: str
    text: str


def resolution(vod: Vod) -> tuple[int, int]:
    width, _, height = (vod.video_resolution or "").partition("x")
    if width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0:
        return int(width), int(height)
    return DEFAULT_RESOLUTION


def ass_colour(hex_colour: str | None) -> str:
    """#RRGGBB as ASS's &HBBGGRR& (white when the user has none)."""
    value = (hex_colour or "").lstrip("#")
    if len(value) != 6 or any(c not in "0123456789abcdefABCDEF" for c in value):
        return _WHITE
    return f"&H{value[4:6]}{value[2:4]}{value[0:2]}&".upper()


def escape(text: str) -> str:
    """Text libass shows as written: no override blocks, no `\\N`-style escapes, one line."""
    text = " ".join(text.split())
    # A word joiner after a backslash keeps `\N`, `\h` literal; braces escaped as libass reads them.
    return text.replace("\\", "\\\u2060").replace("{", "\\{").replace("}", "\\}")


def _fit(text: str, budget: int) -> str:
    return text if len(text) <= budget else text[: max(0, budget - 1)] + "…"


def _entry(m: ChatMessage, line: Line, budget: int) -> Entry:
    marks = "".join(f" [{mark}]" for mark in line.marks)
    if line.style == "say":
        name, text, colour = line.speaker, line.text, ass_colour(m.color)
    elif line.style == "action":
        name, text, colour = line.speaker, f"* {line.text}", ass_colour(m.color)
    elif line.style == "notice":
        name, text, colour = "", line.text + (f" {line.said}" if line.said else ""), _GREY
    else:
        name, text, colour = "", f"[{line.text}]", _GREY
    shown_name = _fit(name, budget // 2)
    rest = budget - len(shown_name) - (2 if shown_name else 0)
    return Entry(m.rel_timestamp or 0.0, colour, shown_name, _fit(text + marks, rest))


def _entries(vod: Vod, column: Column) -> list[Entry]:
    rows, found = rows_and_gaps(vod)
    entries = []
    for m in rows:
        line = describe(m)
        if line is not None and m.rel_timestamp is not None and m.rel_timestamp >= 0:
            entries.append(_entry(m, line, column.characters))
    for g in found:
        entries.append(Entry(g.start, _GREY, "", _fit(f"[chat not recorded: {g.reason}]", column.characters)))
    entries.sort(key=lambda e: e.start)
    return entries


def _time(seconds: float) -> str:
    centis = round(max(0.0, seconds) * 100)
    hours, rest = divmod(centis, 360_000)
    minutes, rest = divmod(rest, 6000)
    return f"{hours}:{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


def _header(column: Column) -> list[str]:
    return [
        "[Script Info]",
        "; vodtender chat export",
        "ScriptType: v4.00+",
        f"PlayResX: {column.width}",
        f"PlayResY: {column.height}",
        "WrapStyle: 2",
        "ScaledBorderAndShadow: yes",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
        "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Chat,Sans,{column.font_size},&H00FFFFFF,&H00FFFFFF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,"
        "1,2,0,1,0,0,0,1",
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]


def _dialogues(entries: list[Entry], column: Column) -> Iterator[str]:
    clip = f"\\clip({column.left},0,{column.width},{column.height})"
    for i, entry in enumerate(entries):
        gone = entry.start + HOLD_SECONDS
        for row in range(column.rows):
            if i + row >= len(entries) or entries[i + row].start >= gone:
                break
            start = entries[i + row].start
            end = min(gone, entries[i + row + 1].start) if i + row + 1 < len(entries) else gone
            if round(end * 100) <= round(start * 100):  # same centisecond: the next row takes over
                continue
            y = column.bottom - row * column.row_height
            name = f"{{\\b1\\c{entry.colour}}}{escape(entry.name)}{{\\b0\\c{_WHITE}}}: " if entry.name else ""
            colour = "" if entry.name else f"{{\\c{entry.colour}}}"
            text = f"{{\\pos({column.left},{y}){clip}}}{name}{colour}{escape(entry.text)}"
            yield f"Dialogue: 0,{_time(start)},{_time(end)},Chat,,0,0,0,,{text}"


def export_ass(vod: Vod) -> Iterator[str]:
    """The script: header, style, then the chat column's events (NoChat when there is no chat)."""
    column = Column(*resolution(vod))
    entries = _entries(vod, column)

    def lines() -> Iterator[str]:
        yield from _header(column)
        yield from _dialogues(entries, column)

    return lines()
