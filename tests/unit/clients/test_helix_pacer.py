"""The rate-limit pacer: never lets the bucket run dry, and costs little time doing so."""

from __future__ import annotations

import math

from vodtender.clients.helix import RateLimitPacer


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Bucket:
    """Twitch's token bucket, as the stand-in implements it."""

    def __init__(self, clock: Clock, limit: int, window: float):
        self.clock, self.limit, self.rate, self.tokens, self.at = clock, limit, limit / window, float(limit), clock()
        self.violations = 0

    def request(self) -> dict[str, str]:
        self.tokens = min(self.limit, self.tokens + (self.clock() - self.at) * self.rate)
        self.at = self.clock()
        if self.tokens < 1:
            self.violations += 1
        else:
            self.tokens -= 1
        return {
            "Ratelimit-Limit": str(self.limit),
            "Ratelimit-Remaining": str(math.floor(self.tokens)),
            "Ratelimit-Reset": str(math.ceil(self.clock() + (self.limit - self.tokens) / self.rate)),
        }


def drive(requests: int, limit: int = 800, window: float = 60.0) -> tuple[float, int]:
    clock = Clock()
    bucket = Bucket(clock, limit, window)
    pacer = RateLimitPacer(clock=clock)
    start = clock()
    for _ in range(requests):
        wait = pacer.ready_in()
        clock.now += wait
        pacer.spend()
        pacer.observe(bucket.request(), 200)
        clock.now += 0.002  # the request itself
    return clock() - start, bucket.violations


def test_a_long_backfill_never_exceeds_the_bucket_and_runs_near_the_limit() -> None:
    elapsed, violations = drive(3000)
    assert violations == 0
    minimum = (3000 - 800) / (800 / 60)
    assert minimum <= elapsed < minimum * 1.1


def test_a_small_bucket_is_paced_too() -> None:
    elapsed, violations = drive(200, limit=5, window=1.0)
    assert violations == 0 and elapsed >= (200 - 5) / 5


def test_a_429_holds_requests_until_reset() -> None:
    clock = Clock()
    pacer = RateLimitPacer(clock=clock)
    pacer.observe(
        {"Ratelimit-Limit": "800", "Ratelimit-Remaining": "0", "Ratelimit-Reset": str(int(clock.now) + 42)}, 429
    )
    assert math.isclose(pacer.ready_in(), 42.0)
    clock.now += 42
    assert pacer.ready_in() == 0.0


def test_responses_without_headers_keep_the_last_state() -> None:
    clock = Clock()
    pacer = RateLimitPacer(clock=clock)
    assert pacer.ready_in() == 0.0  # nothing known yet: the first request goes
    pacer.observe(
        {"Ratelimit-Limit": "10", "Ratelimit-Remaining": "0", "Ratelimit-Reset": str(int(clock.now) + 10)}, 200
    )
    pacer.observe({}, 502)
    assert pacer.ready_in() > 0
