"""The downloader's side of gaps: the metrics about finished VODs (what they got: codec, resolution;
what Twitch lost: gaps), and the record of gaps from `gap_record.py`, which the commands read
without loading prometheus_client."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from vodtender.pipeline.download.gap_record import Gap, describe_gap, gaps_from_json, gaps_to_json, missing_seconds

__all__ = ["Gap", "count_completed", "describe_gap", "gaps_from_json", "gaps_to_json"]  # the record, for the downloader

UNKNOWN = "unknown"  # the label of a codec or resolution the download could not tell

GAPS_RECORDED = Counter(
    "vodtender_download_gaps_total", "gaps (runs of segments Twitch lost in every form) recorded in downloaded VODs"
)
GAP_SECONDS = Counter("vodtender_download_gap_seconds_total", "seconds of VOD missing from downloads: lost by Twitch")
COMPLETED = Counter(
    "vodtender_download_completed_total", "VODs downloaded, by video codec and resolution", ["codec", "resolution"]
)


def count_completed(codec: str | None, resolution: str | None, gaps: Sequence[Gap]) -> None:
    """One VOD downloaded with this codec and resolution, and these gaps."""
    COMPLETED.labels(codec or UNKNOWN, resolution or UNKNOWN).inc()
    GAPS_RECORDED.inc(len(gaps))
    GAP_SECONDS.inc(missing_seconds(gaps))
