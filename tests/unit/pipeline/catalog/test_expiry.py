"""Deletion deadlines: Twitch's storage rules by broadcaster type, kept when the type changes, reported."""

from __future__ import annotations

import datetime as dt

import peewee
import pytest
from prometheus_client import REGISTRY

from vodtender.ops.status import gather_status
from vodtender.pipeline.catalog.expiry import deletion_deadline, record_broadcaster_type
from vodtender.pipeline.catalog.helix_records import VideoRecord
from vodtender.pipeline.catalog.sync import upsert_videos
from vodtender.pipeline.metrics import export_pipeline_metrics
from vodtender.runtime.config import load_config
from vodtender.runtime.db import write
from vodtender.runtime.models import Vod, utcnow

CREATED = dt.datetime(2026, 11, 1, 18)


@pytest.mark.parametrize(
    ("video_type", "broadcaster_type", "days"),
    [("archive", "partner", 60), ("archive", "affiliate", 14), ("archive", "", 7), ("highlight", "", None)],
)
def test_past_broadcasts_are_kept_as_long_as_the_channel_is_entitled_to(
    video_type: str, broadcaster_type: str, days: int | None
) -> None:
    expected = None if days is None else CREATED + dt.timedelta(days=days)
    assert deletion_deadline(video_type, CREATED, broadcaster_type) == expected


def test_a_channel_of_unknown_type_gets_no_deadline() -> None:
    assert deletion_deadline("archive", CREATED, None) is None


def record(vod_id: str, created_at: dt.datetime, video_type: str = "archive") -> VideoRecord:
    return VideoRecord(vod_id, "1", "alice", "t", "", created_at, 60, None, video_type, None, None, None)


def test_listed_vods_get_the_channels_deadline_and_follow_a_change_of_type(migrated_db: peewee.Database) -> None:
    record_broadcaster_type("alice", "affiliate")
    write(lambda: upsert_videos([record("1", CREATED), record("2", CREATED, "upload")], "alice"))
    assert Vod.get(Vod.twitch_vod_id == "1").deletion_deadline == CREATED + dt.timedelta(days=14)
    assert Vod.get(Vod.twitch_vod_id == "2").deletion_deadline is None

    record_broadcaster_type("alice", "partner")  # the channel became a Partner: 60 days for every VOD
    assert Vod.get(Vod.twitch_vod_id == "1").deletion_deadline == CREATED + dt.timedelta(days=60)


def test_a_vod_about_to_be_deleted_shows_in_status_and_the_metric(migrated_db: peewee.Database) -> None:
    now = utcnow()
    record_broadcaster_type("alice", "")
    write(
        lambda: upsert_videos(
            [record("soon", now - dt.timedelta(days=6, hours=20)), record("later", now - dt.timedelta(days=1))],
            "alice",
        )
    )
    Vod.create(twitch_vod_id="done", channel="alice", download_state="downloaded", deletion_deadline=now)

    report = gather_status(load_config([]), now)
    assert [(v["twitch_vod_id"], v["seconds_left"]) for v in report["expiring"]] == [("soon", 4 * 3600)]
    warning = next(f for f in report["attention"] if f["area"] == "expiring")
    assert warning["message"].startswith("1 VOD(s) not downloaded yet may be deleted by Twitch within 24 h")
    assert "soon (alice) in 4 h" in warning["message"]

    export_pipeline_metrics()
    left = REGISTRY.get_sample_value("vodtender_vod_deletion_seconds", {"channel": "alice"})
    assert left is not None and 4 * 3600 - 60 < left <= 4 * 3600
