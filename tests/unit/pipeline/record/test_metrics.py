"""The recorder's metrics follow its rows: what a recording gained since it was claimed, gaps by why,
and which wanted channels are live."""

from __future__ import annotations

import json

import peewee
from prometheus_client import REGISTRY

from vodtender.pipeline.record.metrics import RecordingMetrics
from vodtender.runtime.models import Recording


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def gap(why: str, seconds: float = 30.0) -> dict[str, object]:
    return {"start": "2026-11-01T18:00:00", "end": "2026-11-01T18:00:30", "seconds": seconds, "why": why}


def test_a_resumed_recording_counts_only_what_this_attempt_adds(migrated_db: peewee.Database) -> None:
    channel = f"resumed-{migrated_db.__class__.__name__}"  # counters are per process: a channel of its own
    rec = Recording.create(
        stream_id="s1", channel=channel, state="recording", bytes=1000, seconds=60.0, ads_seconds=30.0,
        gaps=json.dumps([gap("ad")]),
    )  # fmt: skip
    before = {why: sample("vodtender_recording_gaps_total", why=why) for why in ("ad", "restart")}
    ads_before = sample("vodtender_recording_ads_dropped_seconds_total")
    metrics = RecordingMetrics()
    metrics.claimed(rec)  # as claimed: what earlier attempts recorded is counted already
    metrics.observe([rec])
    assert sample("vodtender_recording_bytes_total", channel=channel) == 0
    Recording.update(
        bytes=5000, seconds=80.0, ads_seconds=45.0, gaps=json.dumps([gap("ad"), gap("restart", 12.0), gap("ad")])
    ).execute()
    metrics.observe(Recording.select())
    metrics.observe(Recording.select())  # seen again: nothing new
    assert sample("vodtender_recording_bytes_total", channel=channel) == 4000
    assert sample("vodtender_recording_seconds_total", channel=channel) == 20.0
    assert sample("vodtender_recording_ads_dropped_seconds_total") - ads_before == 15.0
    assert sample("vodtender_recording_gaps_total", why="ad") - before["ad"] == 1
    assert sample("vodtender_recording_gaps_total", why="restart") - before["restart"] == 1
    metrics.forget(rec.id)
    Recording.update(bytes=9000).execute()
    metrics.observe(Recording.select())  # a recording no longer followed is not counted
    assert sample("vodtender_recording_bytes_total", channel=channel) == 4000


def test_a_wanted_channel_drops_to_zero_when_its_stream_ends() -> None:
    metrics = RecordingMetrics()
    metrics.wanted({"wanted-a", "wanted-b"})
    metrics.wanted({"wanted-b"})
    assert sample("vodtender_recording_wanted", channel="wanted-a") == 0
    assert sample("vodtender_recording_wanted", channel="wanted-b") == 1
    metrics.running(2, 3.5)
    assert (sample("vodtender_recording_active"), sample("vodtender_recording_lag_seconds")) == (2, 3.5)
