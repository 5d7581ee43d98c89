"""Provider limits shared through the database: a token bucket and a daily counter (SQLite and PostgreSQL).

Processes racing for one bucket: tests/integration/pipeline/test_shared_limits_concurrent.py.
"""

from __future__ import annotations

import peewee
import pytest

from vodtender.pipeline.shared_limits import DailyCounter, SharedBucket


def test_a_bucket_grants_its_capacity_then_says_how_long_to_wait(migrated_db: peewee.Database) -> None:
    bucket = SharedBucket("helix", capacity=3, refill_per_second=1)
    assert [bucket.try_take(now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.try_take(now=100.0)
    assert wait == pytest.approx(1.0, abs=0.01)
    assert bucket.try_take(now=100.5) == pytest.approx(0.5, abs=0.01)  # a refused take spends nothing
    assert bucket.try_take(now=101.0) == 0.0
    assert bucket.try_take(cost=5, now=1000.0) > 0  # never more than the capacity, however long it rested


def test_a_bucket_believes_the_servers_remaining_points(migrated_db: peewee.Database) -> None:
    bucket = SharedBucket("helix", capacity=800, refill_per_second=800 / 60)
    bucket.clamp(remaining=1, now=50.0)
    assert bucket.try_take(now=50.0) == 0.0
    assert bucket.try_take(now=50.0) > 0
    assert bucket.level(now=50.0) == pytest.approx(0.0, abs=0.01)


def test_a_held_bucket_grants_nothing_before_the_reset_to_any_host(migrated_db: peewee.Database) -> None:
    bucket = SharedBucket("helix", capacity=800, refill_per_second=800 / 60)
    bucket.hold_until(reset=103.0, now=100.0)  # a 429 with Ratelimit-Reset 3 s ahead
    other_host = SharedBucket("helix", capacity=800, refill_per_second=800 / 60)
    assert other_host.try_take(now=102.9) == pytest.approx(0.1 + 60 / 800, abs=0.01)
    assert bucket.wait_for(now=101.0) == pytest.approx(2.0 + 60 / 800, abs=0.01)
    bucket.clamp(remaining=0, now=102.0)  # a late response from before the 429 does not end the hold
    assert bucket.try_take(now=103.0) > 0
    assert bucket.try_take(now=103.0 + 60 / 800) == 0.0


def test_a_bucket_does_not_refill_backwards_when_a_host_clock_is_behind(migrated_db: peewee.Database) -> None:
    bucket = SharedBucket("helix", capacity=2, refill_per_second=1)
    assert bucket.try_take(cost=2, now=200.0) == 0.0
    assert bucket.try_take(now=150.0) > 0  # a host 50 s behind gains nothing from its clock


def test_the_daily_counter_reserves_only_what_fits_and_resets_each_day(migrated_db: peewee.Database) -> None:
    quota = DailyCounter("youtube_quota", limit=10_000)
    assert [quota.reserve(1600, "2026-11-28") for _ in range(7)] == [True] * 6 + [False]
    assert quota.used("2026-11-28") == 9600
    assert quota.spend(50, "2026-11-28") == 9650
    assert quota.reserve(1600, "2026-11-29")
    assert quota.used("2026-11-29") == 1600
    quota.exhaust("2026-11-29")
    assert not quota.reserve(1, "2026-11-29")
