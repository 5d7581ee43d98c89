"""A clock the test moves: a `vodtender.runtime.clock.Clock` that stands still until told."""

from __future__ import annotations


class ManualClock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now  # unix seconds; monotonic time moves with it

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
