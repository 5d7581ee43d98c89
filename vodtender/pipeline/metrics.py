"""Metrics of the shared pipeline state, exported by every daemon: the queue length per stage."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from vodtender.pipeline.vods import STAGES, stage_counts


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


@functools.cache  # once per process: a second registration would be refused as a duplicate
def export_queue_length() -> None:
    REGISTRY.register(QueueCollector())
