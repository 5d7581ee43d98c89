"""Where a VOD is in the pipeline, derived from the columns the runbook's SQL touches.

A VOD moves discovered -> downloading -> downloaded -> uploading -> done (processed=1).
A VOD with `processing_error` set is failed (or cancelled) until an operator resets it:
the runbook's `UPDATE vods SET processed=0, processing_error=NULL, youtube_url=NULL`
puts it back in the queue, at the download stage if its file is gone, else at upload.
"""

from __future__ import annotations

import peewee

from vodtender.runtime.models import Vod

STAGES = ("live", "discovered", "downloading", "downloaded", "uploading", "done", "failed")

# download_state values
DISCOVERED, DOWNLOADING, DOWNLOADED, CANCELLED, FAILED = (
    "discovered", "downloading", "downloaded", "cancelled", "failed")
# upload_state values
UPLOADING = "uploading"


def stage_conditions() -> dict[str, peewee.Expression]:
    pending = (Vod.processed == 0) & Vod.processing_error.is_null() & (Vod.is_placeholder == 0)
    return {
        "live": Vod.is_placeholder == 1,
        "discovered": pending & Vod.download_state.not_in([DOWNLOADING, DOWNLOADED]),
        "downloading": pending & (Vod.download_state == DOWNLOADING),
        "downloaded": pending & (Vod.download_state == DOWNLOADED)
        & ((Vod.upload_state != UPLOADING) | Vod.upload_state.is_null()),
        "uploading": pending & (Vod.download_state == DOWNLOADED) & (Vod.upload_state == UPLOADING),
        "done": Vod.processed == 1,
        "failed": (Vod.processed == 0) & Vod.processing_error.is_null(False) & (Vod.is_placeholder == 0),
    }


def stage_of(vod: Vod) -> str:
    if vod.is_placeholder:
        return "live"
    if vod.processed:
        return "done"
    if vod.processing_error is not None:
        return "failed"
    if vod.download_state == DOWNLOADED:
        return "uploading" if vod.upload_state == UPLOADING else "downloaded"
    if vod.download_state == DOWNLOADING:
        return "downloading"
    return "discovered"


def stage_counts() -> dict[str, int]:
    """Number of VODs per stage, one query per stage (each uses the processed index)."""
    return {name: Vod.select().where(cond).count() for name, cond in stage_conditions().items()}
