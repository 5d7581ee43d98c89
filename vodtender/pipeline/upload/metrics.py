"""The upload stage's metrics; every series is exported from the first scrape, at 0."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from vodtender.pipeline.errors import ErrorClass

UPLOAD_BYTES = Counter("vodtender_upload_bytes_total", "bytes YouTube confirmed receiving")
UPLOAD_RESULTS = Counter(
    "vodtender_upload_results_total",
    "upload attempts by outcome: done, retry, failed, held, paused, requeued, stopped, lost (lease taken)",
    ["result"],
)
UPLOAD_FAILURES = Counter("vodtender_upload_failures_total", "failed upload attempts by error class", ["error_class"])
UPLOAD_ENABLED = Gauge("vodtender_upload_enabled", "1 when YouTube uploading is configured, 0 in download-only mode")
UPLOAD_SPEED = Gauge("vodtender_upload_speed_bytes_per_second", "throughput of the current upload")
QUOTA_USED = Gauge("vodtender_upload_quota_used_units", "YouTube quota units used today (Pacific day)")
QUOTA_HOLD_UNTIL = Gauge(
    "vodtender_upload_quota_hold_until_timestamp_seconds", "uploads held for quota until this unix time (0: no hold)"
)

for _result in ("done", "retry", "failed", "held", "paused", "requeued", "stopped", "lost"):
    UPLOAD_RESULTS.labels(_result)  # present from the start, so rate() and alerts see every series
for _class in (ErrorClass.TRANSIENT, ErrorClass.FATAL, ErrorClass.SYSTEMIC):
    UPLOAD_FAILURES.labels(_class.value)


class QuotaMetrics:
    """The quota as Prometheus sees it (a `QuotaObserver` for the uploader's quota)."""

    def used_seen(self, units: int) -> None:
        QUOTA_USED.set(units)

    def hold_seen(self, until: float) -> None:
        QUOTA_HOLD_UNTIL.set(until)
