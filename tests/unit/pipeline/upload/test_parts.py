"""Parts: how many a VOD needs, their titles within YouTube's limit, their chapters, their rows."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path

import peewee
import pytest

from tests.standins.youtube import check_metadata
from vodtender.pipeline.upload import uploads
from vodtender.pipeline.upload.metadata import (
    TITLE_MAX_CHARS,
    PartPlace,
    UploadSettings,
    build_part_metadata,
    part_title,
)
from vodtender.pipeline.upload.parts import DEFAULT_PART_LIMITS, PartLimits, part_count, split_points
from vodtender.runtime.models import Upload, Vod

HOUR = 3600.0
WATCH = "https://www.youtube.com/watch?v={id}"
SETTINGS = UploadSettings("{channel} {date}: {title}", "{title}\\n{vod_url}")


@pytest.mark.parametrize(
    ("hours", "size", "parts"),
    [
        (0.0, 0, 1),
        (11 + 55 / 60, 10**9, 1),  # exactly the limit: one video
        (11 + 56 / 60, 10**9, 2),
        (13.0, 10**9, 2),
        (24.0, 10**9, 3),
        (1.0, 600 * 2**30, 3),  # short but over 250 GiB twice
    ],
)
def test_a_vod_gets_as_many_parts_as_both_limits_need(hours: float, size: int, parts: int) -> None:
    assert part_count(hours * HOUR, size, DEFAULT_PART_LIMITS) == parts


def test_split_points_are_even() -> None:
    assert split_points(13 * HOUR, 2) == [6.5 * HOUR]
    assert split_points(30.0, 3) == [10.0, 20.0]
    assert part_count(100.0, 10, PartLimits(0, 0)) == 1  # a zero limit is no limit


@pytest.mark.parametrize("title", ["a" * 200, "🎮" * 150, "x" * (TITLE_MAX_CHARS - 13), "short"])
def test_part_titles_keep_their_suffix_within_100_characters(title: str) -> None:
    numbered = part_title(title, 2, 3)
    assert numbered.endswith(" (part 2/3)") and len(numbered) <= TITLE_MAX_CHARS
    assert numbered.startswith(title[:50])


def test_a_title_exactly_at_the_limit_with_its_suffix_is_not_cut() -> None:
    title = "y" * (TITLE_MAX_CHARS - len(" (part 1/2)"))
    assert part_title(title, 1, 2) == title + " (part 1/2)"
    assert part_title(title + "z", 1, 2) == "y" * (len(title) - 1) + "… (part 1/2)"


def test_a_part_links_the_earlier_parts_and_announces_the_later_with_its_own_chapters() -> None:
    chapters = json.dumps(
        [{"offset": 0, "game": "Celeste"}, {"offset": 5 * HOUR, "game": "Tetris"}, {"offset": 8 * HOUR, "game": "Doom"}]
    )
    vod = Vod(twitch_vod_id="7", channel="c", title="🎮" * 120, date=dt.datetime(2026, 3, 1), chapters=chapters)
    meta = build_part_metadata(vod, SETTINGS, PartPlace(2, 3, 6 * HOUR, 12 * HOUR, ("vidONE",)), WATCH)
    body = meta.body()
    assert check_metadata(body) is None
    assert meta.title.endswith(" (part 2/3)") and len(meta.title) == TITLE_MAX_CHARS
    assert "Part 1: https://www.youtube.com/watch?v=vidONE" in meta.description
    assert "Part 3 follows" in meta.description
    assert "Chapters:\n0:00 Tetris\n2:00:00 Doom" in meta.description  # shifted to the part, Celeste is before it


def test_a_whole_vod_keeps_its_title() -> None:
    vod = Vod(twitch_vod_id="7", channel="c", title="t", date=dt.datetime(2026, 3, 1))
    meta = build_part_metadata(vod, SETTINGS, PartPlace(1, 1, 0.0, HOUR, ()), WATCH)
    assert meta.title == "c 2026-03-01: t" and "Part" not in meta.description


def downloaded(tmp_path: Path, **fields: object) -> Vod:
    path = tmp_path / "1001.mp4"
    path.write_bytes(b"\0" * 1000)
    return Vod.create(
        twitch_vod_id="1001",
        channel="c",
        download_state="downloaded",
        downloaded_path=str(path),
        download_host=socket.gethostname(),
        duration_seconds=3 * HOUR,
        **fields,
    )


def test_a_whole_vod_gets_one_row_planned_once(migrated_db: peewee.Database, tmp_path: Path) -> None:
    vod = downloaded(tmp_path)
    (row,) = uploads.plan_round(vod, DEFAULT_PART_LIMITS)
    assert (row.round, row.part, row.parts, row.path, row.size, row.state) == (
        1,
        1,
        1,
        vod.downloaded_path,
        1000,
        "pending",
    )
    uploads.store_session(row.id, "https://upload/session", 500)
    Vod.update(upload_session_uri="https://upload/session").where(Vod.id == vod.id).execute()  # the lease's copy
    (again,) = uploads.plan_round(Vod.get_by_id(vod.id), DEFAULT_PART_LIMITS)
    assert (again.id, again.state, again.session_uri, again.offset) == (
        row.id,
        "uploading",
        "https://upload/session",
        500,
    )


def test_a_round_whose_bytes_are_in_is_kept_until_the_vod_is_marked_then_a_new_one(
    migrated_db: peewee.Database, tmp_path: Path
) -> None:
    vod = downloaded(tmp_path, upload_session_uri="https://upload/session")
    (row,) = uploads.plan_round(vod, DEFAULT_PART_LIMITS)
    uploads.bytes_in(row.id, "vidONE", 1000, dt.datetime(2026, 1, 1))
    # stopped before the VOD was marked: the same round, nothing to send again
    (same,) = uploads.plan_round(Vod.get_by_id(vod.id), DEFAULT_PART_LIMITS)
    assert (same.id, same.state, same.video_id) == (row.id, "processing", "vidONE")
    Vod.update(upload_session_uri=None).where(Vod.id == vod.id).execute()  # marked, or reset by the operator
    (second,) = uploads.plan_round(Vod.get_by_id(vod.id), DEFAULT_PART_LIMITS)
    assert second.round == 2 and second.state == "pending" and Upload.select().count() == 2


def test_an_upload_begun_before_parts_existed_resumes_its_session(migrated_db: peewee.Database, tmp_path: Path) -> None:
    vod = downloaded(tmp_path, upload_session_uri="https://upload/old", upload_offset=300)
    (row,) = uploads.plan_round(vod, DEFAULT_PART_LIMITS)
    assert (row.state, row.session_uri, row.offset) == ("uploading", "https://upload/old", 300)


def test_a_vod_sent_back_mid_upload_plans_a_new_round(migrated_db: peewee.Database, tmp_path: Path) -> None:
    vod = downloaded(tmp_path, upload_session_uri="https://upload/old", upload_offset=300)
    uploads.plan_round(vod, DEFAULT_PART_LIMITS)
    Path(str(vod.downloaded_path)).write_bytes(b"\1" * 2000)  # downloaded again: another file
    Vod.update(upload_session_uri=None, upload_offset=0).where(Vod.id == vod.id).execute()
    (fresh_row,) = uploads.plan_round(Vod.get_by_id(vod.id), DEFAULT_PART_LIMITS)
    assert (fresh_row.round, fresh_row.size, fresh_row.session_uri, fresh_row.state) == (2, 2000, None, "pending")
