"""Where a chat line plays in a live recording: its send time less the recording's start and less
every gap squeezed out of the file before it."""

from __future__ import annotations

import datetime as dt

import pytest

from vodtender.pipeline.record.rows import StoredGap
from vodtender.pipeline.record.timeline import Timeline
from vodtender.runtime.clock import unix_seconds

START = dt.datetime(2026, 11, 1, 18, 0, 0)  # naive UTC, as the database stores it
T0 = unix_seconds(START)


def gap(start: float, seconds: float, why: str = "ad", aware: bool = True) -> StoredGap:
    """A gap `start` seconds after the recording began, as the recorder writes it (program date times)."""
    begin = START + dt.timedelta(seconds=start)
    end = begin + dt.timedelta(seconds=seconds)
    if aware:
        begin, end = begin.replace(tzinfo=dt.UTC), end.replace(tzinfo=dt.UTC)
    return StoredGap(begin.isoformat(), end.isoformat(), seconds, why)


TWO_BREAKS = Timeline(START, [gap(600, 30), gap(1200, 90, "restart", aware=False)])


@pytest.mark.parametrize(
    ("sent", "plays_at"),
    [
        (-5.0, -5.0),  # before the first segment: before the file starts, as on a VOD
        (0.0, 0.0),
        (599.5, 599.5),
        (600.0, 600.0),  # during the first break: where the break was cut
        (629.9, 600.0),
        (630.0, 600.0),  # the first frame after it
        (700.0, 670.0),
        (1250.0, 1170.0),  # inside the second gap: where it was cut
        (1290.0, 1170.0),
        (4000.0, 3880.0),  # after both: 30 s + 90 s squeezed out
    ],
)
def test_a_line_plays_at_its_send_time_less_the_gaps_before_it(sent: float, plays_at: float) -> None:
    assert TWO_BREAKS.position(T0 + sent) == pytest.approx(plays_at, abs=1e-6)


def test_without_gaps_the_file_runs_with_the_clock() -> None:
    assert Timeline(START, []).position(T0 + 1234.5) == pytest.approx(1234.5)


def test_gaps_are_placed_where_the_file_was_cut() -> None:
    placed = [(g.offset, g.duration) for g in TWO_BREAKS.file_gaps()]
    assert placed == [(600.0, 30.0), (1170.0, 90.0)]


def test_gaps_out_of_order_and_empty_ones_are_read_as_the_file_has_them() -> None:
    shuffled = Timeline(START, [gap(1200, 90), gap(100, 0), gap(600, 30)])
    assert [g.offset for g in shuffled.file_gaps()] == [600.0, 1170.0]
    assert shuffled.position(T0 + 2000) == pytest.approx(1880.0)
