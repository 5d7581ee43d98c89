"""Metrics every daemon exports about its own loop.

Each stage defines its own metrics next to its code (the queue length: pipeline/metrics.py), all named `vodtender_*`;
`packaging/` rules and dashboard use exactly these names (checked by the tests).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Info

from vodtender import __version__

BUILD_INFO = Info("vodtender_build", "vodtender version")
BUILD_INFO.info({"version": __version__})
DAEMON_READY = Gauge("vodtender_daemon_ready", "1 when the daemon is configured and able to work", ["daemon"])
LOOP_ITERATIONS = Counter("vodtender_daemon_loop_iterations_total", "main loop steps run", ["daemon"])
LOOP_ERRORS = Counter("vodtender_daemon_loop_errors_total", "main loop steps that raised", ["daemon"])
LAST_LOOP = Gauge("vodtender_daemon_last_loop_timestamp_seconds", "when the main loop last ran a step", ["daemon"])
CONFIG_PROBLEMS = Gauge("vodtender_config_problems", "configuration problems that keep the daemon idle", ["daemon"])


def export_daemon_metrics(daemon: str) -> None:
    """Every series the runtime exports for `daemon`, present (at 0) from the first scrape on."""
    for metric in (LOOP_ITERATIONS, LOOP_ERRORS, LAST_LOOP, DAEMON_READY, CONFIG_PROBLEMS):
        metric.labels(daemon)
