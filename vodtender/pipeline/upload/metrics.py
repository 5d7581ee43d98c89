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
UPLOAD_LIMIT_HOLD_UNTIL = Gauge(
    "vodtender_upload_limit_hold_until_timestamp_seconds",
    "uploads held for YouTube's per-channel upload limit (uploadLimitExceeded) until this unix time (0: no hold)",
)
PROCESSING_RESULTS = Counter(
    "vodtender_youtube_processing_total",
    "videos whose YouTube processing ended, by outcome: processed, rejected, failed, gave_up (still processing)",
    ["outcome"],
)
PROCESSING_CHECKS = Counter("vodtender_youtube_processing_checks_total", "videos.list calls (1 quota unit each)")
PRIVATE_LOCKED = Gauge(
    "vodtender_youtube_private_locked",
    "1 when YouTube locked a processed upload to private against UPLOAD_PRIVACY (an unaudited API project)",
)
PROCESSING_OUTCOMES = ("processed", "rejected", "failed", "gave_up")

for _outcome in PROCESSING_OUTCOMES:
    PROCESSING_RESULTS.labels(_outcome)
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

    def limit_hold_seen(self, until: float) -> None:
        UPLOAD_LIMIT_HOLD_UNTIL.set(until)
