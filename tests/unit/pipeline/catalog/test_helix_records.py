"""Odd Helix JSON is stored safely or skipped with one log line; never a crash."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from vodtender.pipeline.catalog.helix_records import (
    parse_stream,
    parse_twitch_duration,
    parse_user,
    parse_video,
    sanitise_text,
)


def video(**fields: object) -> dict:
    item = {
        "id": "2000",
        "user_id": "1001",
        "user_login": "alice",
        "title": "t",
        "description": "",
        "created_at": "2026-11-28T14:05:00Z",
        "url": "https://www.twitch.tv/videos/2000",
        "type": "archive",
        "duration": "3h2m15s",
        "stream_id": "555",
        "muted_segments": None,
    }
    item.update(fields)
    return item


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3h2m15s", 3 * 3600 + 2 * 60 + 15),
        ("59s", 59),
        ("10h0m0s", 36000),
        ("1m", 60),
        ("2h", 7200),
        ("0s", 0),
        ("", None),
        ("3x", None),
        ("1h2", None),
        ("-5s", None),
        (None, None),
        (12, None),
    ],
)
def test_twitch_durations(text: object, seconds: int | None) -> None:
    assert parse_twitch_duration(text) == seconds  # type: ignore[arg-type]


def test_a_good_video_keeps_everything_the_pipeline_needs() -> None:
    record = parse_video(video(muted_segments=[{"offset": 60, "duration": 30}]))
    assert record is not None
    assert record.created_at == dt.datetime(2026, 11, 28, 14, 5)  # UTC, naive
    assert record.duration_seconds == 10935 and record.stream_id == "555"
    assert record.url == "https://www.twitch.tv/videos/2000"
    assert json.loads(record.muted_segments) == [{"offset": 60, "duration": 30}]


def test_hostile_titles_keep_their_text_without_control_characters() -> None:
    title = "../../etc/passwd \\ C:\\x\u0000\u0007 line\nbreak\ttab \u202e" + "\U0001f600" * 500
    record = parse_video(video(title=title))
    assert record is not None
    assert "../../etc/passwd" in record.title and "\\" in record.title  # path-safety is the downloader's job
    assert not any(ord(c) < 32 or ord(c) == 127 for c in record.title)
    assert "line break tab" in record.title
    assert record.title.count("\U0001f600") == 500


def test_overlong_text_is_capped() -> None:
    assert len(sanitise_text("x" * 10_000)) == 1000


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"id": None}, "id"),
        ({"id": "../1"}, "id"),
        ({"user_id": ""}, "user_id"),
        ({"type": "premiere"}, "unknown type"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": None}, "created_at"),
    ],
)
def test_unusable_videos_are_skipped_with_one_line(fields: dict, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse_video(video(**fields)) is None
    lines = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 1 and reason in lines[0].getMessage()


def test_odd_but_usable_fields_are_stored_safely(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        record = parse_video(
            {
                "id": 2001,
                "user_id": "1001",
                "created_at": "2026-11-28T14:05:00.123456+01:00",
                "type": "upload",
                "duration": "forever",
                "title": None,
                "url": "javascript:x",
                "muted_segments": [{"offset": "a"}, {"offset": 5, "duration": 10}],
            }
        )
    assert record is not None
    assert record.id == "2001" and record.title == "" and record.url is None and record.stream_id is None
    assert record.duration_seconds == 0
    assert record.created_at == dt.datetime(2026, 11, 28, 13, 5, 0, 123456)
    assert json.loads(record.muted_segments) == [{"offset": 5, "duration": 10}]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2  # duration, muted segments


@pytest.mark.parametrize("item", [None, [], "x", 5, {"id": "1"}])
def test_garbage_items_are_skipped(item: object) -> None:
    assert parse_video(item) is None
    assert parse_stream(item) is None
    assert parse_user(item) is None


def test_streams_need_id_user_and_start() -> None:
    good = {
        "id": "9",
        "user_id": "1001",
        "user_login": "alice",
        "type": "live",
        "title": "hi\u0000",
        "started_at": "2026-11-28T14:00:00Z",
    }
    record = parse_stream(good)
    assert record is not None and record.title == "hi" and record.started_at == dt.datetime(2026, 11, 28, 14)
    assert parse_stream({**good, "type": ""}) is None
    assert parse_stream({**good, "started_at": None}) is None
