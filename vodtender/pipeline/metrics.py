"""Metrics of the shared pipeline state, exported by the daemons: the queue length per stage, the breaker."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from prometheus_client import Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from vodtender.pipeline.breaker import STATE_VALUE
from vodtender.pipeline.vods import STAGES, soonest_deletions, stage_counts
from vodtender.runtime.clock import utcnow

CIRCUIT_STATE = Gauge("vodtender_circuit_state", "circuit breaker: 0 closed, 1 half-open, 2 open")
CIRCUIT_OPENED = Counter("vodtender_circuit_opened_total", "times the circuit breaker opened")


class QueueCollector(Collector):
    """`vodtender_queue_length{stage=...}`, counted in the shared database at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("vodtender_queue_length", "VODs per pipeline stage", labels=["stage"])
        try:
            counts = stage_counts()
        except Exception:  # database unavailable: /readyz says so; leave the series absent
            return
        for stage in STAGES:
            family.add_metric([stage], counts.get(stage, 0))
        yield family


class DeletionCollector(Collector):
    """`vodtender_vod_deletion_seconds{channel}`: the time left before Twitch may delete the channel's
    soonest VOD not downloaded yet (negative: past it; absent: none with a known deadline)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "vodtender_vod_deletion_seconds",
            "seconds until Twitch may delete the channel's soonest VOD that is not downloaded yet",
            labels=["channel"],
        )
        try:
            soonest = soonest_deletions()
        except Exception:  # database unavailable: /readyz says so; leave the series absent
            return
        now = utcnow()
        for channel, deadline in sorted(soonest.items()):
            family.add_metric([channel], (deadline - now).total_seconds())
        yield family


@functools.cache  # once per process: a second registration would be refused as a duplicate
def export_pipeline_metrics() -> None:
    REGISTRY.register(QueueCollector())
    REGISTRY.register(DeletionCollector())


class BreakerMetrics:
    """The breaker as Prometheus sees it (a `BreakerObserver` for the daemons' breakers)."""

    def state_seen(self, state: str) -> None:
        CIRCUIT_STATE.set(STATE_VALUE[state])

    def opened(self) -> None:
        CIRCUIT_OPENED.inc()
