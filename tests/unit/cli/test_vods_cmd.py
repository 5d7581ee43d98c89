"""`vodtender show`: what a download got (codec, resolution) and the gaps Twitch lost, as text and JSON."""

from __future__ import annotations

import json

import peewee

from tests.unit.ops.fixtures import vod
from vodtender.cli.status_cmd import Palette
from vodtender.cli.vods_cmd import render_details, vod_details

PLAIN = Palette("never")
GAPS = json.dumps(
    [{"offset": 3723, "duration": 10, "segments": [372]}, {"offset": 5400, "duration": 20, "segments": [540, 541]}]
)


def test_show_lists_each_gap_with_its_time_span_and_the_video_format(migrated_db: peewee.Database) -> None:
    row = vod(
        "1",
        1,
        download_state="downloaded",
        download_gaps=GAPS,
        video_codec="h265",
        video_resolution="1920x1080",
    )
    details = vod_details(row)
    assert details["download_gaps"] == [
        {"offset": 3723.0, "duration": 10.0, "segments": [372]},
        {"offset": 5400.0, "duration": 20.0, "segments": [540, 541]},
    ]
    assert json.loads(json.dumps(details))["video_codec"] == "h265"  # `show --json` as printed
    lines = render_details(details, PLAIN).splitlines()
    assert "  video_codec: h265" in lines and "  video_resolution: 1920x1080" in lines
    gaps = lines[lines.index("gaps") + 1 : lines.index("history: no events")]
    assert gaps == [
        "  gap 1:02:03\u20131:02:13 (10 s missing: segment 372 lost by Twitch)",
        "  gap 1:30:00\u20131:30:20 (20 s missing: segments 540\u2013541 lost by Twitch)",
    ]


def test_show_says_none_for_a_vod_without_gaps_or_a_broken_value(migrated_db: peewee.Database) -> None:
    for vod_id, stored in (("1", None), ("2", "{broken")):
        details = vod_details(vod(vod_id, 1, download_gaps=stored))
        text = render_details(details, PLAIN)
        assert details["download_gaps"] == [] and "gaps: none" in text.splitlines()
        assert details["video_codec"] is None and "video_codec" not in text
