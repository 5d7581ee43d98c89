"""The `uploads` rows: the one module that writes them (one row per YouTube video of a VOD).

A round's rows are planned once, when its upload starts: one row for a VOD YouTube takes whole
(its own file), or one per part cut from it (`parts`).  Each part's session and confirmed offset
are stored after every step, and a part whose bytes are all in moves to `processing` with its
video id: a restart resumes the part in flight from its session and never sends such a part again.

A round whose parts are all in is the current one while the VOD still holds an upload session
(the worker stopped between the last part and marking the VOD); once the VOD is marked (or reset),
the session is gone and the next upload of the VOD plans a new round.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import os
from typing import Any

import peewee

from vodtender.clients.youtube_terms import WATCH_URL
from vodtender.pipeline.upload.parts import PartLimits, cut, part_count, remove_parts, work_folder
from vodtender.runtime.db import write
from vodtender.runtime.models import Upload, Vod, utcnow

PENDING, UPLOADING, PROCESSING = "pending", "uploading", "processing"
NOT_IN = (PENDING, UPLOADING)  # states whose bytes are not all with YouTube


def latest_round(vod_id: int) -> list[Upload]:
    """The rows of the VOD's latest round, part 1 first (empty: never planned)."""
    last = Upload.select(Upload.round).where(Upload.vod == vod_id).order_by(Upload.round.desc()).first()
    if last is None:
        return []
    return list(Upload.select().where((Upload.vod == vod_id) & (Upload.round == last.round)).order_by(Upload.part))


def all_in(rows: list[Upload]) -> bool:
    return bool(rows) and all(row.state not in NOT_IN for row in rows)


def _current(vod: Vod, rows: list[Upload]) -> bool:
    """Does the VOD's upload go on with these rows?  Not once it was marked or sent back (its stored
    session is gone while a row still has one), nor when its file is no longer the one planned."""
    if vod.upload_session_uri is None and (all_in(rows) or any(row.session_uri for row in rows)):
        return False
    return rows[0].parts > 1 or rows[0].size == os.path.getsize(vod.downloaded_path or "")


def plan_round(vod: Vod, limits: PartLimits) -> list[Upload]:
    """The rows this upload of `vod` works through: the current round's, or a new round planned
    (and, for a VOD too long or too large, cut) now."""
    rows = latest_round(vod.id)
    if rows and _current(vod, rows):
        if any(row.state in NOT_IN and row.parts > 1 and not os.path.exists(row.path or "") for row in rows):
            _cut_again(vod, rows)  # the work folder went: stream copy cuts the same bytes again
        return rows
    assert vod.downloaded_path
    path = vod.downloaded_path
    size = os.path.getsize(path)
    duration = vod.duration_seconds or 0.0  # Twitch's: only a VOD cut into parts is read by ffprobe
    count = part_count(duration, size, limits)
    new_round = (rows[0].round + 1) if rows else 1
    if count == 1:
        remove_parts(path)  # an earlier round's parts, left when the VOD was reset
        # A VOD whose upload began before parts existed resumes the session its row stored.
        session = {"state": UPLOADING, "session_uri": vod.upload_session_uri, "offset": vod.upload_offset or 0}
        planned = [
            dict(part=1, parts=1, start_seconds=0.0, duration_seconds=duration, path=path, size=size,
                 **(session if vod.upload_session_uri and not rows else {}))
        ]  # fmt: skip
    else:
        planned = [
            dict(part=i, parts=count, start_seconds=p.start_seconds, duration_seconds=p.duration_seconds, path=p.path,
                 size=p.size)
            for i, p in enumerate(cut(path, count), start=1)
        ]  # fmt: skip

    def create() -> list[Upload]:
        return [Upload.create(vod=vod.id, round=new_round, **{"state": PENDING, **fields}) for fields in planned]

    return write(create)


def _cut_again(vod: Vod, rows: list[Upload]) -> None:
    assert vod.downloaded_path
    for row, part in zip(rows, cut(vod.downloaded_path, rows[0].parts), strict=True):
        if row.state in NOT_IN and part.size != row.size:  # not the same bytes: the part starts over
            _update(row.id, path=part.path, size=part.size, session_uri=None, offset=0, state=PENDING)
            row.path, row.size, row.session_uri, row.offset, row.state = part.path, part.size, None, 0, PENDING


def store_session(upload_id: int, session_uri: str | None, offset: int) -> None:
    """The part's session and confirmed offset (where a restart resumes); None: YouTube forgot it."""
    _update(upload_id, state=UPLOADING, session_uri=session_uri, offset=offset)


def bytes_in(upload_id: int, video_id: str, size: int, first_check: dt.datetime) -> None:
    """Every byte of the part is with YouTube: it processes video `video_id` now; the follower first
    asks how it goes at `first_check`."""
    _update(upload_id, state=PROCESSING, video_id=video_id, offset=size, session_uri=None, next_check_at=first_check)


def round_finished(vod: Vod) -> None:
    """The VOD is marked uploaded: the parts' work folder goes (the VOD's own file stays)."""
    if vod.downloaded_path and work_folder(vod.downloaded_path).exists():
        remove_parts(vod.downloaded_path)


def summaries(vod_id: int) -> list[dict[str, Any]]:
    """Every upload of the VOD, each round's parts in order, for `vodtender show` (and its --json)."""
    rows = Upload.select().where(Upload.vod == vod_id).order_by(Upload.round, Upload.part)
    return [
        {
            "round": row.round,
            "part": row.part,
            "parts": row.parts,
            "state": row.state,
            "video_id": row.video_id,
            "youtube_url": WATCH_URL.format(id=row.video_id) if row.video_id else None,
            "size": row.size,
            "offset": row.offset,
            "start_seconds": row.start_seconds,
            "duration_seconds": row.duration_seconds,
            "reason": row.reason,
        }
        for row in rows
    ]


def _update(upload_id: int, **fields: object) -> None:
    write(lambda: Upload.update(**fields, updated_at=utcnow()).where(Upload.id == upload_id).execute())


# -- processing -----------------------------------------------------------------------------------
PROCESSED, REJECTED, FAILED = "processed", "rejected", "failed"


CHECK_CLAIM = dt.timedelta(minutes=2)  # a check claimed by one follower; if it dies, another takes it after this


def claim_processing_due(limit: int, now: dt.datetime | None = None) -> list[Upload]:
    """Videos whose processing is to be checked now, the longest waiting first, each claimed for the
    caller: its `next_check_at` moved CHECK_CLAIM on, only where no other uploader's follower moved it
    first, so two uploaders never spend a unit each on the same check."""
    now = now or utcnow()
    due = (Upload.state == PROCESSING) & (Upload.next_check_at.is_null() | (Upload.next_check_at <= now))
    found = Upload.select().where(due).order_by(Upload.next_check_at.asc(nulls="FIRST"), Upload.id).limit(limit)
    claimed = []
    for upload in found:
        unmoved = (
            Upload.next_check_at.is_null()
            if upload.next_check_at is None
            else (Upload.next_check_at == upload.next_check_at)
        )
        if _set(upload, unmoved, next_check_at=now + CHECK_CLAIM) == 1:
            claimed.append(upload)
    return claimed


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


def _set(upload: Upload, *only_if: peewee.Expression, **fields: object) -> int:
    """Write `fields` on the row while it is still processing (and `only_if` holds); the rows written (0 or 1)."""
    processing = functools.reduce(operator.and_, only_if, (Upload.id == upload.id) & (Upload.state == PROCESSING))
    return int(write(lambda: Upload.update(**fields, updated_at=utcnow()).where(processing).execute()))
