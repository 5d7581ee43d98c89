"""Which channels some connection has joined, and the gaps while one has none.

A channel that stops being joined (a drop, the recorder stopping) opens a gap; joining it again
closes it.  The first join of a run closes the gap the last run left open (a clean stop leaves
one, and so does start-up after a crash: `rows.open_gaps_left_by_a_crash`).  A first join after
the channel's stream started records the span before it (`rows.record_missed_start`).
"""

from __future__ import annotations

from collections.abc import Callable

from vodtender.pipeline.chat.events import ChatItem, GapEnd, GapStart
from vodtender.pipeline.chat.stats import GAP_SECONDS, GAPS, JOINED
from vodtender.runtime.logs import get_logger

log = get_logger("chat")


class ChannelCoverage:
    """Turns the joined channels of every open connection into gap starts and ends for the writer."""

    def __init__(self, channels: list[str], sink: Callable[[ChatItem], None]):
        self.channels = channels
        self.sink = sink
        self.covered: set[str] = set()
        self.ever_joined: set[str] = set()
        self._gaps: dict[str, float] = {}  # channel -> when its open gap started, in this run

    def update(self, covered: set[str], now: float, reason: str) -> None:
        """`covered`: the channels joined on some connection now; `reason`: why the others are not."""
        for channel in self.channels:
            if channel in covered and channel not in self.covered:
                JOINED.labels(channel).set(1)
                if channel in self._gaps:
                    started = self._gaps.pop(channel)
                    GAP_SECONDS.labels(channel).inc(max(0.0, now - started))
                    log.info("chat gap closed", channel=channel, seconds=f"{now - started:.1f}")
                    self.sink(GapEnd(channel, now))
                elif channel not in self.ever_joined:  # closes the gap left by the last run's stop
                    self.sink(GapEnd(channel, now, first_of_run=True))
                self.ever_joined.add(channel)
            elif channel not in covered and channel in self.covered:
                JOINED.labels(channel).set(0)
                self._gaps[channel] = now
                GAPS.labels(channel).inc()
                self.sink(GapStart(channel, now, reason))
        self.covered = covered & set(self.channels)
