"""The one speed meter: bytes per second over a sliding window of the last few seconds.

It replaces two formulas.  The rate since the previous mark jumps with every chunk and says
nothing between chunks; an exponential average of one-second rates forgets at a pace set by how
often it is fed, and a stall only ever fades towards 0.  A window average is what an operator
reads as "the speed": the bytes that moved in the last `window` seconds over those seconds.  It
reads the same whether progress arrives ten times a second (fragments) or once in ten seconds
(upload chunks: the window then reaches back to the previous chunk), and a stall shows as 0 once
the window has passed.
"""

from __future__ import annotations

from collections import deque

from vodtender.runtime.clock import Clock, SystemClock

WINDOW = 5.0  # seconds the rate is averaged over
MIN_SPAN = 1.0  # seconds of samples needed before a rate is given (less is noise)


class SpeedMeter:
    """Fed running totals (`update(bytes_so_far)`), gives bytes per second (`rate`)."""

    def __init__(self, window: float = WINDOW, clock: Clock | None = None):
        self.window = window
        self.clock: Clock = clock or SystemClock()
        self.rate = 0.0
        self._samples: deque[tuple[float, int]] = deque()  # (monotonic time, running total)

    def update(self, total: int) -> float:
        """Record the running total now; returns the rate.  A smaller total than the last starts again
        (the transfer began anew), so the bytes from before do not count."""
        now = self.clock.monotonic()
        samples = self._samples
        if samples and total < samples[-1][1]:
            samples.clear()
            self.rate = 0.0
        samples.append((now, total))
        # Keep one sample from at or before the window's start: the rate spans the whole window.
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()
        start, start_total = samples[0]
        if now - start >= MIN_SPAN:
            self.rate = (total - start_total) / (now - start)
        return self.rate
