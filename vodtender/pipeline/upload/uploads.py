"""The `uploads` rows: one per YouTube video of a VOD (model `Upload`), and every move of them."""

from __future__ import annotations

import datetime as dt

from vodtender.runtime.clock import utcnow
from vodtender.runtime.db import write
from vodtender.runtime.models import Upload, Vod

# -- processing -----------------------------------------------------------------------------------
PROCESSING, PROCESSED, REJECTED, FAILED = "processing", "processed", "rejected", "failed"


def record_bytes_in(vod: Vod, video_id: str, size: int, path: str, first_check: dt.datetime) -> Upload:
    """The VOD's one video (part 1/1) has every byte on YouTube: a new round's row, processing.
    (The per-part rows of long VODs replace this with the part's own row.)"""
    last = Upload.select(Upload.round).where(Upload.vod == vod.id).order_by(Upload.round.desc()).first()
    return Upload.create(
        vod=vod.id,
        round=(last.round + 1) if last else 1,
        duration_seconds=vod.duration_seconds or 0,
        path=path,
        size=size,
        offset=size,
        state=PROCESSING,
        video_id=video_id,
        next_check_at=first_check,
    )


def processing_due(limit: int, now: dt.datetime | None = None) -> list[Upload]:
    """Videos whose processing is to be checked now, the longest waiting first."""
    due = (Upload.state == PROCESSING) & (Upload.next_check_at.is_null() | (Upload.next_check_at <= (now or utcnow())))
    return list(Upload.select().where(due).order_by(Upload.next_check_at.asc(nulls="FIRST"), Upload.id).limit(limit))


def next_check_at() -> dt.datetime | None:
    """When the next check of a processing video is due (None: no video is processing)."""
    row = (
        Upload.select(Upload.next_check_at)
        .where((Upload.state == PROCESSING) & Upload.next_check_at.is_null(False))
        .order_by(Upload.next_check_at)
        .first()
    )
    return row.next_check_at if row else None


def check_again(upload: Upload, at: dt.datetime) -> None:
    """One more check spent, still processing: the next one at `at`."""
    _set(upload, polls=upload.polls + 1, next_check_at=at)


def processing_ended(upload: Upload, state: str, reason: str | None, privacy: str | None) -> bool:
    """YouTube's last word on the video: processed, rejected or failed (`reason` its words).  False
    if it had ended already (another uploader's follower was first): nothing is written."""
    fields = {"polls": upload.polls + 1, "state": state, "reason": reason, "privacy": privacy, "next_check_at": None}
    return _set(upload, **fields) == 1


def vod_of(upload: Upload) -> int:
    """The id of the upload's VOD, without loading it (peewee's `vod_id`, unseen by the type checker)."""
    return int(upload.__data__["vod"])


def round_of(upload: Upload) -> list[Upload]:
    """Every video of `upload`'s VOD in the same round, part 1 first."""
    same = (Upload.vod == vod_of(upload)) & (Upload.round == upload.round)
    return list(Upload.select().where(same).order_by(Upload.part))


def _set(upload: Upload, **fields: object) -> int:
    """Write `fields` on the row while it is still processing; returns the rows written (0 or 1)."""
    processing = (Upload.id == upload.id) & (Upload.state == PROCESSING)
    return int(write(lambda: Upload.update(**fields, updated_at=utcnow()).where(processing).execute()))
