"""The recorder's metrics, read off its recordings' rows as each attempt writes them.

Counters grow by what a recording gained since it was claimed: its row as claimed is the baseline,
so a recording resumed after a restart does not count its earlier bytes, seconds or gaps again.
`vodtender_recording_wanted{channel}` is 1 while a channel of LIVE_RECORD is live (an open placeholder):
the alert "live but not recorded" compares it with the bytes arriving for that channel.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable

from prometheus_client import Counter, Gauge

from vodtender.pipeline.record.rows import GAP_REASONS, SETTLED_OUTCOMES, gaps_of
from vodtender.runtime.models import Recording

ACTIVE = Gauge("vodtender_recording_active", "live streams being recorded by this process")
WANTED = Gauge("vodtender_recording_wanted", "1 while a channel of LIVE_RECORD is live", ["channel"])
BYTES = Counter("vodtender_recording_bytes_total", "bytes of live streams written to disk", ["channel"])
SECONDS = Counter("vodtender_recording_seconds_total", "media seconds of live streams recorded", ["channel"])
GAPS = Counter("vodtender_recording_gaps_total", "spans of live streams not recorded, by why", ["why"])
ADS = Counter("vodtender_recording_ads_dropped_seconds_total", "seconds of stitched ads left out of recordings")
LAG = Gauge("vodtender_recording_lag_seconds", "how far the recording furthest behind is from its live edge")
OUTCOMES = Counter("vodtender_recording_outcomes_total", "recording attempts by how they ended", ["outcome"])
OUTCOME_NAMES = ("finished", "stopped", "lost", "failed")
SETTLED = Counter(
    "vodtender_recordings_settled_total",
    "finished recordings by what became of them once their stream's VOD settled (LIVE_RECORD_KEEP)",
    ["outcome"],
)


def export_recording_metrics() -> None:
    """The unlabelled series and every gap reason and outcome, at 0 from the first scrape on."""
    for why in GAP_REASONS:
        GAPS.labels(why)
    for outcome in OUTCOME_NAMES:
        OUTCOMES.labels(outcome)
    for settled in SETTLED_OUTCOMES:
        SETTLED.labels(settled)


@dataclasses.dataclass
class _Counted:
    """What the counters already hold of one recording."""

    bytes: int
    seconds: float
    ads_seconds: float
    gaps: collections.Counter[str]

    @classmethod
    def of(cls, rec: Recording) -> _Counted:
        return cls(rec.bytes, rec.seconds, rec.ads_seconds, collections.Counter(g.why for g in gaps_of(rec)))


class RecordingMetrics:
    """Turns the rows of the recordings in progress into counter increments."""

    def __init__(self) -> None:
        self._counted: dict[int, _Counted] = {}
        self._wanted: set[str] = set()

    def claimed(self, rec: Recording) -> None:
        self._counted[rec.id] = _Counted.of(rec)

    def observe(self, rows: Iterable[Recording]) -> None:
        """Count what each row gained since it was last seen."""
        for rec in rows:
            before = self._counted.get(rec.id)
            if before is None:
                continue
            now = _Counted.of(rec)
            BYTES.labels(rec.channel).inc(max(0, now.bytes - before.bytes))
            SECONDS.labels(rec.channel).inc(max(0.0, now.seconds - before.seconds))
            ADS.inc(max(0.0, now.ads_seconds - before.ads_seconds))
            for why, count in (now.gaps - before.gaps).items():
                GAPS.labels(why).inc(count)
            self._counted[rec.id] = now

    def forget(self, rec_id: int) -> None:
        self._counted.pop(rec_id, None)

    def running(self, active: int, lag_seconds: float) -> None:
        ACTIVE.set(active)
        LAG.set(lag_seconds)

    def ended(self, outcome: str) -> None:
        OUTCOMES.labels(outcome).inc()

    def settled(self, outcome: str) -> None:
        SETTLED.labels(outcome).inc()

    def wanted(self, live: set[str]) -> None:
        """`live`: the wanted channels live now; those no longer live drop to 0."""
        for channel in self._wanted | live:
            WANTED.labels(channel).set(1 if channel in live else 0)
        self._wanted |= live
