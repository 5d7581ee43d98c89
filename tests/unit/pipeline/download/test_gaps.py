"""Gaps Twitch lost: stored as JSON and read back (bad values ignored, once said), described for
people, counted for Prometheus."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import REGISTRY

from vodtender.pipeline.download.gap_record import (
    Gap,
    describe_gap,
    gap_span,
    gaps_from_json,
    gaps_to_json,
    missing_seconds,
)
from vodtender.pipeline.download.gaps import count_completed

ONE_HOUR_IN = Gap(3723.0, 10.0, (372,))


def test_gaps_go_to_json_and_back() -> None:
    gaps = [Gap(0.0, 4.5, (0,)), Gap(3723.0, 20.0, (372, 373))]
    text = gaps_to_json(gaps)
    assert text is not None
    assert json.loads(text) == [
        {"offset": 0.0, "duration": 4.5, "segments": [0]},
        {"offset": 3723.0, "duration": 20.0, "segments": [372, 373]},
    ]
    assert gaps_from_json(text) == gaps


def test_no_gaps_is_no_value() -> None:
    assert gaps_to_json([]) is None
    assert gaps_from_json(None) == [] and gaps_from_json("") == [] and gaps_from_json("[]") == []


def test_sums_of_segment_durations_are_stored_rounded() -> None:
    text = gaps_to_json([Gap(0.1 + 0.2, 2.002 + 2.002 + 2.002, (0, 1, 2))])
    assert json.loads(text or "")[0] == {"offset": 0.3, "duration": 6.006, "segments": [0, 1, 2]}


@pytest.mark.parametrize(
    "stored",
    [
        "{not json",
        '{"offset": 1}',
        '["x"]',
        '[{"offset": 1, "duration": 2}]',
        '[{"offset": -1, "duration": 2, "segments": [0]}]',
        '[{"offset": 1, "duration": "2", "segments": [0]}]',
        '[{"offset": 1, "duration": true, "segments": [0]}]',
        '[{"offset": 1, "duration": NaN, "segments": [0]}]',
        '[{"offset": 1, "duration": 2, "segments": []}]',
        '[{"offset": 1, "duration": 2, "segments": [1.5]}]',
    ],
)
def test_a_malformed_value_reads_as_no_gaps_with_one_warning(stored: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="vodtender.gaps")
    assert gaps_from_json(stored) == []
    warnings = [r for r in caplog.records if r.name == "vodtender.gaps"]
    assert len(warnings) == 1 and "malformed download_gaps" in warnings[0].getMessage()


def test_a_gap_reads_as_its_time_span_amount_and_segments() -> None:
    assert describe_gap(ONE_HOUR_IN) == "gap 1:02:03\u20131:02:13 (10 s missing: segment 372 lost by Twitch)"
    run = Gap(125.0, 150.0, (12, 13, 14))
    assert describe_gap(run) == "gap 2:05\u20134:35 (2m30s missing: segments 12\u201314 lost by Twitch)"
    assert "segments 3, 7" in describe_gap(Gap(30.0, 4.0, (3, 7)))
    assert "2.5 s missing" in describe_gap(Gap(0.0, 2.5, (0,)))
    assert gap_span(ONE_HOUR_IN) == "1:02:03\u20131:02:13"


def test_missing_seconds_adds_every_gap() -> None:
    assert missing_seconds([ONE_HOUR_IN, Gap(0.0, 2.5, (0,))]) == 12.5
    assert missing_seconds([]) == 0


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_a_completed_download_is_counted_by_codec_resolution_and_its_gaps() -> None:
    before = (
        _sample("vodtender_download_completed_total", {"codec": "h265", "resolution": "1920x1080"}),
        _sample("vodtender_download_completed_total", {"codec": "unknown", "resolution": "unknown"}),
        _sample("vodtender_download_gaps_total"),
        _sample("vodtender_download_gap_seconds_total"),
    )
    count_completed("h265", "1920x1080", [ONE_HOUR_IN, Gap(0.0, 2.5, (0,))])
    count_completed(None, None, [])
    after = (
        _sample("vodtender_download_completed_total", {"codec": "h265", "resolution": "1920x1080"}),
        _sample("vodtender_download_completed_total", {"codec": "unknown", "resolution": "unknown"}),
        _sample("vodtender_download_gaps_total"),
        _sample("vodtender_download_gap_seconds_total"),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [1.0, 1.0, 2.0, 12.5]
