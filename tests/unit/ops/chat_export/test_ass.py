"""`--format ass`: colours, escaping, the video's size, and older lines moving up one row per new message."""

from __future__ import annotations

import re

import peewee

from tests.unit.ops.chat_export.corpus_vod import START, START_UNIX
from vodtender.ops.chat_export import export_ass
from vodtender.ops.chat_export.ass import Column, ass_colour, escape, resolution
from vodtender.runtime.models import ChatMessage, Vod


def test_colours_are_bgr_and_unknown_ones_white() -> None:
    assert ass_colour("#FF4500") == "&H0045FF&"
    assert ass_colour(None) == ass_colour("") == ass_colour("#zzzzzz") == "&HFFFFFF&"


def test_text_cannot_open_an_override_block_or_an_escape() -> None:
    shown = escape("a {\\b1} b \\N c\nd")
    assert re.search(r"(?<!\\)[{}]", shown) is None  # every brace escaped
    assert "\\N" not in shown and "\n" not in shown


def test_the_script_takes_the_videos_size() -> None:
    assert resolution(Vod(video_resolution="1280x720")) == (1280, 720)
    assert resolution(Vod(video_resolution=None)) == resolution(Vod(video_resolution="0x0")) == (1920, 1080)


def test_an_older_line_moves_up_a_row_when_a_new_one_comes(migrated_db: peewee.Database) -> None:
    vod = Vod.create(twitch_vod_id="v", channel="chan", date=START, duration_seconds=60, video_resolution="1280x720")
    for msg_id, at in (("first", 1.0), ("second", 2.5)):
        ChatMessage.create(
            msg_id=msg_id, channel="chan", vod_id="v", abs_timestamp=START_UNIX + at, rel_timestamp=at,
            username=msg_id, display_name=msg_id.title(), message=f"{msg_id} line",
        )  # fmt: skip
    script = list(export_ass(vod))
    assert "PlayResX: 1280" in script and "PlayResY: 720" in script
    events = [re.match(r"Dialogue: 0,([\d:.]+),([\d:.]+),Chat,,0,0,0,,\{\\pos\((\d+),(\d+)\)", s) for s in script]
    first = [m.groups() for m, s in zip(events, script, strict=True) if m and "First" in s]
    column = Column(1280, 720)
    bottom, up = str(column.bottom), str(column.bottom - column.row_height)
    assert first == [("0:00:01.00", "0:00:02.50", "896", bottom), ("0:00:02.50", "0:00:31.00", "896", up)]
    assert any("{\\b1\\c&HFFFFFF&}Second{\\b0" in s for s in script)
