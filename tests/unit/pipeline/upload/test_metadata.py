"""Video metadata from templates: YouTube's limits hold whatever the stream title is."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.standins.youtube import check_metadata
from vodtender.pipeline.download.gap_record import Gap, gaps_to_json
from vodtender.pipeline.upload.metadata import (
    DESCRIPTION_MAX_BYTES,
    GAP_LINES_MAX,
    TITLE_MAX_CHARS,
    UploadSettings,
    build_metadata,
    clean_tags,
)
from vodtender.runtime.models import Vod

SETTINGS = UploadSettings(
    "{channel} {date}: {title}", "{title}\\n\\nStreamed by {channel} on {date} ({duration}).\\n{vod_url}"
)

HOSTILE = [
    "🎮" * 500,
    "<script>alert('x')</script> speedrun",
    "line one\nline two\r\nthree\ttabs",
    "a" * 500,
    "\x00\x07\x1b[31mred\x1b[0m",
    "{title} {0} {unknown} }{",
    "   ",
    "\u202eevil right-to-left\u2028separator",
]


def vod(title: str, **fields: object) -> Vod:
    return Vod(
        twitch_vod_id="123456",
        channel="somechannel",
        title=title,
        date=dt.datetime(2026, 3, 1, 18, 5),
        duration_seconds=3 * 3600 + 62,
        **fields,
    )


@pytest.mark.parametrize("title", HOSTILE)
def test_hostile_titles_give_metadata_youtube_accepts(title: str) -> None:
    meta = build_metadata(vod(title), SETTINGS)
    assert check_metadata(meta.body()) is None, meta.body()
    assert 0 < len(meta.title) <= TITLE_MAX_CHARS
    assert "<" not in meta.title and ">" not in meta.title and "\n" not in meta.title
    assert len(meta.description.encode()) <= DESCRIPTION_MAX_BYTES
    assert "<" not in meta.description


def test_template_fields_are_filled() -> None:
    meta = build_metadata(vod("Big run"), SETTINGS)
    assert meta.title == "somechannel 2026-03-01: Big run"
    assert meta.description.splitlines() == [
        "Big run",
        "",
        "Streamed by somechannel on 2026-03-01 (3:01:02).",
        "https://www.twitch.tv/videos/123456",
    ]
    assert meta.privacy == "private" and meta.category == "20"


def test_long_title_is_cut_with_an_ellipsis() -> None:
    meta = build_metadata(vod("x" * 300), SETTINGS)
    assert len(meta.title) == TITLE_MAX_CHARS and meta.title.endswith("…")


def test_description_over_5000_bytes_is_cut_on_a_character_boundary() -> None:
    long_template = UploadSettings("{title}", "{title}\\n" + "é🎮 " * 3000)
    meta = build_metadata(vod("t"), long_template)
    data = meta.description.encode()
    assert len(data) <= DESCRIPTION_MAX_BYTES
    data.decode()  # valid UTF-8
    assert meta.description.endswith("…")


def test_chapters_and_muted_note_are_added() -> None:
    chapters = json.dumps(
        [{"offset": 600, "game": "Celeste", "title": "chapter 2"}, {"offset": 4000, "game": "Just Chatting"}]
    )
    muted = json.dumps([{"offset": 100, "duration": 360}, {"offset": 900, "duration": 180}])
    meta = build_metadata(vod("t", chapters=chapters, muted_segments=muted), SETTINGS)
    assert "Chapters:\n0:00 Start\n10:00 Celeste — chapter 2\n1:06:40 Just Chatting" in meta.description
    assert "muted the audio of 2 part(s)" in meta.description and "9:00" in meta.description


def test_each_gap_twitch_lost_gets_a_line() -> None:
    gaps = gaps_to_json([Gap(3723.0, 10.0, (372,)), Gap(7200.0, 30.0, (720, 721, 722))])
    meta = build_metadata(vod("t", download_gaps=gaps), SETTINGS)
    assert meta.description.endswith(
        "videos/123456\n\n"
        "Missing from Twitch's archive: 1:02:03\u20131:02:13\nMissing from Twitch's archive: 2:00:00\u20132:00:30"
    )
    assert check_metadata(meta.body()) is None
    assert "Missing from" not in build_metadata(vod("t"), SETTINGS).description
    assert "Missing from" not in build_metadata(vod("t", download_gaps="{garbage"), SETTINGS).description


def test_many_gaps_are_summed_up_and_kept_when_chapters_are_cut() -> None:
    many = gaps_to_json([Gap(60.0 * n, 2.0, (6 * n,)) for n in range(GAP_LINES_MAX + 30)])
    chapters = json.dumps([{"offset": 60 * n, "game": "g" * 90} for n in range(60)])  # too long for one description
    meta = build_metadata(vod("t", download_gaps=many, chapters=chapters), SETTINGS)
    assert len(meta.description.encode()) <= DESCRIPTION_MAX_BYTES and check_metadata(meta.body()) is None
    assert meta.description.count("Missing from Twitch's archive") == GAP_LINES_MAX
    assert "…and 30 more part(s) (1:00 in all)\n\nChapters:" in meta.description
    assert meta.description.endswith("…")  # the chapters were cut, not the gaps


def test_garbage_chapter_json_is_ignored() -> None:
    meta = build_metadata(vod("t", chapters="{not json", muted_segments='"x"'), SETTINGS)
    assert "Chapters" not in meta.description and "muted" not in meta.description


def test_unknown_privacy_and_category_fall_back_to_safe_values() -> None:
    meta = build_metadata(vod("t"), UploadSettings("{title}", "", privacy="everyone", category="gaming"))
    assert meta.privacy == "private" and meta.category == "20"


def test_tags_stay_within_500_characters_without_markup() -> None:
    tags = clean_tags(["speedrun", "<b>bold</b>", "a,b", "speedrun", *[f"tag number {i}" for i in range(100)]])
    assert tags[:3] == ["speedrun", "‹b›bold‹/b›", "a b"]
    assert sum(len(t) + (2 if " " in t else 0) for t in tags) + len(tags) - 1 <= 500
    assert check_metadata({"snippet": {"title": "t", "tags": tags}}) is None


def test_a_publish_delay_schedules_a_public_video_and_youtube_would_accept_it() -> None:
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    scheduled = UploadSettings("{title}", "", privacy="public", publish_delay=86400)
    status = build_metadata(vod("t"), scheduled, started_at=started).body()["status"]
    expected = (started + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["privacyStatus"] == "private" and status["publishAt"] == expected
    assert check_metadata({"snippet": {"title": "t"}, "status": status}) is None
    unlisted = UploadSettings("{title}", "", privacy="unlisted", publish_delay=86400)
    assert "publishAt" not in build_metadata(vod("t"), unlisted, started_at=started).body()["status"]
