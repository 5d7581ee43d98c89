"""The speed meter: bytes over a sliding window, on a clock the test moves."""

from __future__ import annotations

import pytest

from tests.helpers.clock import ManualClock
from vodtender.runtime.speed import SpeedMeter


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


def feed(meter: SpeedMeter, clock: ManualClock, step: float, amount: int, times: int, total: int = 0) -> int:
    for _ in range(times):
        clock.now += step
        total += amount
        meter.update(total)
    return total


def test_no_rate_before_a_second_of_samples(clock: ManualClock) -> None:
    meter = SpeedMeter(clock=clock)
    assert meter.update(0) == 0.0
    clock.now += 0.5
    assert meter.update(10_000_000) == 0.0
    clock.now += 0.5
    assert meter.update(20_000_000) == 20_000_000.0


def test_steady_feed_gives_its_rate_whatever_the_cadence(clock: ManualClock) -> None:
    fine = SpeedMeter(clock=clock)
    fine.update(0)
    feed(fine, clock, 0.1, 100_000, 100)  # 1 MB/s in fragments of 100 kB
    assert fine.rate == pytest.approx(1_000_000)
    coarse_clock = ManualClock(1000.0)
    coarse = SpeedMeter(clock=coarse_clock)
    coarse.update(0)
    feed(coarse, coarse_clock, 8.0, 8_000_000, 4)  # 1 MB/s in chunks of 8 MB, one every 8 s
    assert coarse.rate == pytest.approx(1_000_000)


def test_rate_is_the_average_over_the_window_only(clock: ManualClock) -> None:
    meter = SpeedMeter(window=5.0, clock=clock)
    meter.update(0)
    total = feed(meter, clock, 1.0, 10_000_000, 20)  # 10 MB/s for 20 s
    feed(meter, clock, 1.0, 1_000_000, 5, total)  # then 1 MB/s: after one window, only that counts
    assert meter.rate == pytest.approx(1_000_000)


def test_a_stall_reads_zero_once_the_window_has_passed(clock: ManualClock) -> None:
    meter = SpeedMeter(window=5.0, clock=clock)
    meter.update(0)
    total = feed(meter, clock, 1.0, 1_000_000, 10)
    feed(meter, clock, 1.0, 0, 3, total)
    assert 0 < meter.rate < 1_000_000  # slowing down
    feed(meter, clock, 1.0, 0, 2, total)
    assert meter.rate == 0.0


def test_a_smaller_total_starts_again(clock: ManualClock) -> None:
    meter = SpeedMeter(clock=clock)
    meter.update(0)
    total = feed(meter, clock, 1.0, 5_000_000, 5)
    assert total == 25_000_000 and meter.rate == pytest.approx(5_000_000)
    clock.now += 1.0
    assert meter.update(0) == 0.0  # a new session: nothing from the old one counts
    feed(meter, clock, 1.0, 2_000_000, 2)
    assert meter.rate == pytest.approx(2_000_000)
