"""What the chat session counts: its metrics, the per-channel event counts, the event rate for STATUS.

Per-channel event counts are plain ints kept by the IRC reader and turned into metrics at scrape
time (`ChannelStats`): a prometheus_client child per event costs a lock and a check, about a fifth
of the reader's time at 20,000 msg/s.  The collector is registered when the recorder is built, not
when this module is imported, and only once per process: a reload's new recorder keeps counting on it.

Channel labels come from the configured channels only: a server can name any channel in a line, and each
new name would be a new series kept until the process ends.  Events of any other channel are counted
under the one label `(other)`, which no Twitch channel name can be.
"""

from __future__ import annotations

import collections
import functools
import time
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vodtender.pipeline.chat.events import KINDS, ChatEvent

DUPLICATES = Counter(
    "vodtender_chat_duplicates_total", "chat events seen twice (RECONNECT overlap), stored once", ["channel"]
)
RECONNECTS = Counter("vodtender_chat_reconnects_total", "new connections after a RECONNECT or a drop", ["channel"])
GAPS = Counter("vodtender_chat_gaps_total", "times a channel was not joined while recording", ["channel"])
GAP_SECONDS = Counter("vodtender_chat_gap_seconds_total", "time channels were not joined while recording", ["channel"])
JOINED = Gauge("vodtender_chat_joined", "1 while the channel is joined", ["channel"])
MALFORMED = Counter("vodtender_chat_malformed_lines_total", "IRC lines that could not be understood and were skipped")
REFUSED_TAGS = Counter(
    "vodtender_chat_refused_tags_total",
    "chat events stored with a numeric tag left out of its column (not a number, or out of range)",
)
CONNECTIONS = Gauge("vodtender_chat_connections", "open IRC connections (two briefly during a RECONNECT)")

RATE_WINDOW = 60  # seconds
OTHER_CHANNELS = "(other)"  # the label of every channel that is not configured


class EventRate:
    """Events in the last minute, for STATUS (`412 msg/min`)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._buckets: collections.deque[list[int]] = collections.deque()  # [second, count]

    def add(self, at: float) -> None:
        second = int(at)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])
            self._trim(second)

    def per_minute(self) -> int:
        self._trim(int(self._clock()))
        return sum(count for _, count in list(self._buckets))

    def _trim(self, now: int) -> None:
        while self._buckets and self._buckets[0][0] <= now - RATE_WINDOW:
            self._buckets.popleft()


class ChannelStats(Collector):
    """Per-channel event counts, turned into metrics at scrape time.  Only the reader thread writes;
    a scrape reads a snapshot."""

    def __init__(self) -> None:
        self.channels: list[str] = []
        self._labelled: frozenset[str] = frozenset()
        self.events: dict[tuple[str, str], int] = {}
        self.last: dict[str, float] = {}

    def watch(self, channels: list[str]) -> None:
        """Record these channels; every series of theirs exists from now on, at 0 (alerts see "never joined")."""
        self.channels = channels
        self._labelled = frozenset(channels)
        for channel in channels:
            JOINED.labels(channel).set(0)
            for counter in (RECONNECTS, GAPS, GAP_SECONDS, DUPLICATES):
                counter.labels(channel)

    def label(self, channel: str) -> str:
        """The metric label of a channel a line names: itself if configured, else `OTHER_CHANNELS`."""
        return channel if channel in self._labelled else OTHER_CHANNELS

    def event(self, event: ChatEvent) -> None:
        channel = self.label(event.channel)
        key = (channel, event.kind)
        self.events[key] = self.events.get(key, 0) + 1
        self.last[channel] = event.received_at

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "vodtender_chat_events", "chat events received, by kind", labels=["channel", "kind"]
        )
        messages = CounterMetricFamily(
            "vodtender_chat_messages", "chat messages received (message and /me action)", labels=["channel"]
        )
        last = GaugeMetricFamily(
            "vodtender_chat_last_message_timestamp_seconds", "when the last chat event arrived", labels=["channel"]
        )
        per_channel = dict.fromkeys(self.channels, 0)
        counts = {(channel, kind): 0 for channel in self.channels for kind in KINDS}  # series exist from the start
        counts.update(list(self.events.items()))
        for (channel, kind), count in counts.items():
            events.add_metric([channel, kind], count)
            if kind in ("message", "action"):
                per_channel[channel] = per_channel.get(channel, 0) + count
        for channel, count in per_channel.items():
            messages.add_metric([channel], count)
        for channel, at in list(self.last.items()):
            last.add_metric([channel], at)
        yield from (events, messages, last)


@functools.cache
def channel_stats() -> ChannelStats:
    """The process's collector, registered with Prometheus on the first call."""
    stats = ChannelStats()
    REGISTRY.register(stats)
    return stats
