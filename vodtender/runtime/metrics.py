"""Metrics every daemon exports, and the queue-length collector read from the database.

Each daemon module defines its own metrics next to its code, all named `vodtender_*`;
`packaging/` rules and dashboard use exactly these names (checked by the tests).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from vodtender import __version__

BUILD_INFO = Info("vodtender_build", "vodtender version")
BUILD_INFO.info({"version": __version__})
DAEMON_READY = Gauge("vodtender_daemon_ready", "1 when the daemon is configured and able to work", ["daemon"])
LOOP_ITERATIONS = Counter("vodtender_daemon_loop_iterations_total", "main loop steps run", ["daemon"])
LOOP_ERRORS = Counter("vodtender_daemon_loop_errors_total", "main loop steps that raised", ["daemon"])
LAST_LOOP = Gauge("vodtender_daemon_last_loop_timestamp_seconds", "when the main loop last ran a step",
                  ["daemon"])
CONFIG_PROBLEMS = Gauge("vodtender_config_problems", "configuration problems that keep the daemon idle",
                        ["daemon"])


class QueueCollector(Collector):
    """`vodtender_queue_length{stage=...}`, counted in the shared database at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from vodtender.pipeline.vods import STAGES, stage_counts

        family = GaugeMetricFamily("vodtender_queue_length", "VODs per pipeline stage", labels=["stage"])
        try:
            counts = stage_counts()
        except Exception:  # database unavailable: /readyz says so; leave the series absent
            return
        for stage in STAGES:
            family.add_metric([stage], counts.get(stage, 0))
        yield family


@functools.cache  # once per process: a second registration would be refused as a duplicate
def _register_queue_collector() -> None:
    REGISTRY.register(QueueCollector())


def export_daemon_metrics(daemon: str) -> None:
    """Every series the runtime exports for `daemon`, present (at 0) from the first scrape on."""
    for metric in (LOOP_ITERATIONS, LOOP_ERRORS, LAST_LOOP, DAEMON_READY, CONFIG_PROBLEMS):
        metric.labels(daemon)
    _register_queue_collector()
