"""`vodtender show`: what a download got (codec, resolution), the gaps Twitch lost and the stream's live
recording, as text and JSON."""

from __future__ import annotations

import json

import peewee

from tests.unit.ops.fixtures import vod
from vodtender.cli.status_cmd import Palette
from vodtender.cli.vods_cmd import render_details, vod_details
from vodtender.runtime.models import Recording

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


def test_show_lists_the_live_recording_of_the_vods_stream(migrated_db: peewee.Database) -> None:
    placeholder = vod("live-1", 1, is_placeholder=1, stream_id="s1")
    gap = {"start": "2026-11-01T18:05:00", "end": "2026-11-01T18:05:30", "seconds": 30.0, "why": "ad"}
    Recording.create(
        stream_id="s1",
        channel=placeholder.channel,
        state="finished",
        source="vod",
        path="/data/alpha/2026-11-01_live-s1.ts",
        seconds=3725.0,
        bytes=2**30,
        gaps=json.dumps([gap]),
        ads_seconds=30.0,
    )
    real = vod("9001", 1, stream_id="s1")  # the stream's VOD lists the same recording
    for row in (placeholder, real):
        details = vod_details(row)
        assert details["recording"]["stream_id"] == "s1" and details["recording"]["gaps"] == [gap]
        lines = render_details(details, PLAIN).splitlines()
        section = lines[lines.index("live recording") + 1 : lines.index("muted segments: none")]
        assert section == [
            "  finished   alpha            stream s1 from vod  1h2m5s  1.0 GiB  1 gap(s) 30s, ads dropped 30s",
            "  path: /data/alpha/2026-11-01_live-s1.ts",
            "  gap 2026-11-01T18:05:00 .. 2026-11-01T18:05:30 (30s, ad)",
        ]
    other = vod_details(vod("9002", 2, stream_id="s2"))
    assert other["recording"] is None and "live recording: none" in render_details(other, PLAIN).splitlines()


def test_show_says_what_became_of_the_recording_once_its_vod_settled(migrated_db: peewee.Database) -> None:
    muted = vod("9101", 1, stream_id="s3", muted_segments=json.dumps([{"offset": 60, "duration": 360}]))
    note = "the VOD 9101 is worse: 1 muted segment(s), 6m"
    Recording.create(
        stream_id="s3",
        channel=muted.channel,
        state="finished",
        path="/data/alpha/2026-11-02_live-s3.ts",
        seconds=600.0,
        bytes=2**20,
        outcome="kept",
        outcome_note=note,
    )
    details = vod_details(muted)
    assert (details["recording"]["outcome"], details["recording"]["outcome_note"]) == ("kept", note)
    lines = render_details(details, PLAIN).splitlines()
    section = lines[lines.index("live recording") + 1 : lines.index("muted segments")]
    assert section == [
        "  kept       alpha            stream s3 from live  10m  1.0 MiB  no gaps",
        "  path: /data/alpha/2026-11-02_live-s3.ts",
        f"  outcome_note: {note}",
    ]
    assert lines[lines.index("muted segments") + 1] == "  at 1m for 6m"
