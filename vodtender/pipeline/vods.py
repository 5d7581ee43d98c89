"""The VOD row's life cycle: its states, the lease rule, every state move, and its event record.

This module is the only writer of the pipeline's columns of `vods` and of `vod_events`: the
daemons, the operator commands and the maintenance tools call the moves below, so each field
set (what "back to the downloader" means, what "done" means) is written in one place.

States.  A VOD moves discovered -> downloading -> downloaded -> uploading -> done (processed=1).
A VOD with `processing_error` set is failed (or cancelled) until an operator resets it:
the runbook's `UPDATE vods SET processed=0, processing_error=NULL, youtube_url=NULL`
puts it back in the queue, at the download stage if its file is gone, else at upload.

Leases.  A claim is one write transaction: pick the next due VOD whose lease is free, set
`lease_owner` (host:pid) and `lease_until`.  On SQLite the transaction holds the write lock
(BEGIN IMMEDIATE), so picking and taking cannot interleave; on PostgreSQL the pick is
`FOR UPDATE SKIP LOCKED`, so concurrent claimers skip each other's rows.  The worker renews
its lease while it works; if it dies, the lease runs out and the VOD is claimable again.  A
restarted worker on the same host does not wait for that: leases of this host's dead
processes are free at once.  A lease is free when it has no owner or `lease_until <= now`
(`lease_busy` / `lease_free` / `is_leased` / `lease_ran_out`: the one definition).

Acting on a claim.  A worker's last move (done, retry, failed, ...) first confirms, in its own
transaction, that the worker still holds the claim, with the row locked until the commit (SQLite: the
transaction's write lock; PostgreSQL: `FOR UPDATE`): a worker whose lease was taken changes nothing,
and what the move depends on outside the database (the downloader's rename to the final name) is
done inside that transaction, after the confirmation, so it never happens for a lost claim.  The
move returns False then, and the worker leaves the VOD (and its files) to the new owner.

Moves.  Each move is one write transaction with the event that records it.  Called inside a
transaction the caller already opened (an operator command that checks, then moves), a move
joins it, so the check and the move commit together.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, TypeVar

import peewee

from vodtender.clients.youtube_terms import WATCH_URL
from vodtender.pipeline.errors import ErrorClass
from vodtender.runtime.db import retry_on_busy, write
from vodtender.runtime.models import Upload, Vod, VodEvent, utcnow
from vodtender.runtime.redact import redact

T = TypeVar("T")

EVENT_MESSAGE_MAX = 2000  # characters of a vod_events message; longer ones are cut
CANCEL_MESSAGE = "cancelled by operator"  # `processing_error` of a cancelled VOD

# `vod_events.stage` of the moves below
DOWNLOAD_STAGE, OPERATOR_STAGE, RETENTION_STAGE, POLLER_STAGE = "download", "operator", "retention", "poller"

# -- states -----------------------------------------------------------------------------------
STAGES = ("live", "discovered", "downloading", "downloaded", "uploading", "done", "failed")

# download_state values
DISCOVERED, DOWNLOADING, DOWNLOADED, CANCELLED, FAILED = (
    "discovered",
    "downloading",
    "downloaded",
    "cancelled",
    "failed",
)
# upload_state values
UPLOADING = "uploading"
UPLOAD_DONE = "done"
UPLOAD_SKIPPED = "skipped"  # done without uploading (download-only mode)
UPLOAD_PROCESSING = "processing"  # every byte is on YouTube; its processing is followed, nobody holds the VOD


def stage_conditions() -> dict[str, peewee.Expression]:
    pending = (Vod.processed == 0) & Vod.processing_error.is_null() & (Vod.is_placeholder == 0)
    return {
        "live": Vod.is_placeholder == 1,
        "discovered": pending & Vod.download_state.not_in([DOWNLOADING, DOWNLOADED]),
        "downloading": pending & (Vod.download_state == DOWNLOADING),
        "downloaded": pending
        & (Vod.download_state == DOWNLOADED)
        & (Vod.upload_state.not_in([UPLOADING, UPLOAD_PROCESSING]) | Vod.upload_state.is_null()),
        "uploading": pending
        & (Vod.download_state == DOWNLOADED)
        & Vod.upload_state.in_([UPLOADING, UPLOAD_PROCESSING]),
        "done": Vod.processed == 1,
        "failed": (Vod.processed == 0) & Vod.processing_error.is_null(False) & (Vod.is_placeholder == 0),
    }


PENDING = "pending"  # what `vodtender vods --state` and the web viewer list beside the stages: not done yet
LISTED_STATES = (*STAGES, PENDING)


def listed_state(state: str) -> peewee.Expression:
    """The VODs in `state`, one of LISTED_STATES: a stage, or pending (processed=0, whatever the stage)."""
    return Vod.processed == 0 if state == PENDING else stage_conditions()[state]


def stage_of(vod: Vod) -> str:
    if vod.is_placeholder:
        return "live"
    if vod.processed:
        return "done"
    if vod.processing_error is not None:
        return "failed"
    if vod.download_state == DOWNLOADED:
        return "uploading" if vod.upload_state in (UPLOADING, UPLOAD_PROCESSING) else "downloaded"
    if vod.download_state == DOWNLOADING:
        return "downloading"
    return "discovered"


def stage_counts() -> dict[str, int]:
    """Number of VODs per stage, one query per stage (each uses the processed index)."""
    return {name: Vod.select().where(cond).count() for name, cond in stage_conditions().items()}


# -- claims -----------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_local_owners(owners: set[str]) -> set[str]:
    """Of these lease owners, the ones that are processes of this host no longer running."""
    host = socket.gethostname()
    dead = set()
    for owner in owners:
        name, _, pid = owner.rpartition(":")
        if name == host and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            dead.add(owner)
    return dead


def download_due() -> peewee.Expression:
    """Not downloaded and not failed.  `processing_error` is the truth: a cancelled VOD (error set)
    waits; the runbook's reset (error NULL) makes it due again, whatever its `download_state`.  A
    pending cancel request whose worker died is claimed too, and the claimer finishes the cancel."""
    now = utcnow()
    return (
        (Vod.processed == 0)
        & Vod.processing_error.is_null()
        & (Vod.is_placeholder == 0)
        & (Vod.download_state != DOWNLOADED)
        & (Vod.helix_missing == 0)
        & (Vod.next_attempt_at.is_null() | (Vod.next_attempt_at <= now))
    )


def upload_due() -> peewee.Expression:
    now = utcnow()
    return (
        (Vod.processed == 0)
        & Vod.processing_error.is_null()
        & (Vod.is_placeholder == 0)
        & (Vod.download_state == DOWNLOADED)
        & Vod.youtube_url.is_null()
        & (Vod.upload_state.is_null() | (Vod.upload_state != UPLOAD_PROCESSING))
        & Vod.downloaded_path.is_null(False)
        & (Vod.cancel_requested == 0)
        & (Vod.next_attempt_at.is_null() | (Vod.next_attempt_at <= now))
    )


def reachable_files(data_dir_shared: bool, host: str | None = None) -> peewee.ColumnBase:
    """VODs whose downloaded file this host can read: its own downloads (and rows from before
    `download_host` was recorded), or every VOD when DATA_DIR is the same shared folder everywhere."""
    if data_dir_shared:
        return peewee.SQL("1 = 1")
    return Vod.download_host.is_null() | (Vod.download_host == (host or socket.gethostname()))


def claim(
    due: peewee.Expression, owner: str, lease_seconds: float, extra: peewee.ColumnBase | None = None, **fields: object
) -> Vod | None:
    """Take the next due VOD (priority DESC, date ASC); set `fields` on it too.  None if none is due."""

    def take() -> Vod | None:
        now = utcnow()
        busy = lease_busy(now)
        owners = {v.lease_owner for v in Vod.select(Vod.lease_owner).where(due & busy).distinct() if v.lease_owner}
        free = ~busy
        dead = dead_local_owners(owners)
        if dead:
            free = free | Vod.lease_owner.in_(list(dead))
        cond = due & free
        if extra is not None:
            cond = cond & extra
        query = Vod.select().where(cond).order_by(Vod.priority.desc(), Vod.date.asc(nulls="LAST"), Vod.id).limit(1)
        if isinstance(Vod._meta.database.obj, peewee.PostgresqlDatabase):
            query = query.for_update(skip_locked=True)
        vod = query.first()
        if vod is None:
            return None
        values = {
            "lease_owner": owner,
            "lease_until": now + dt.timedelta(seconds=lease_seconds),
            "updated_at": now,
            **fields,
        }
        Vod.update(**values).where(Vod.id == vod.id).execute()
        return Vod.get_by_id(vod.id)

    return write(take)


def renew(vod_id: int, owner: str, lease_seconds: float, **fields: object) -> bool:
    """Extend our lease (and write progress fields); False if the lease is no longer ours."""
    now = utcnow()
    values = {"lease_until": now + dt.timedelta(seconds=lease_seconds), "updated_at": now, **fields}
    return _write(lambda: Vod.update(**values).where((Vod.id == vod_id) & (Vod.lease_owner == owner)).execute()) == 1


def release(vod_id: int, owner: str, **fields: object) -> bool:
    """Give the VOD back (with its new state in `fields`); False if it was not ours any more."""
    values = {"lease_owner": None, "lease_until": None, "updated_at": utcnow(), **fields}
    return _write(lambda: Vod.update(**values).where((Vod.id == vod_id) & (Vod.lease_owner == owner)).execute()) == 1


# -- the lease rule ---------------------------------------------------------------------------
def lease_busy(now: dt.datetime | None = None) -> peewee.Expression:
    """Rows some worker holds: an owner whose lease runs past `now`."""
    return Vod.lease_owner.is_null(False) & (Vod.lease_until > (now or utcnow()))


def lease_free(now: dt.datetime | None = None) -> peewee.Expression:
    """Rows nobody holds: no owner, or a lease that has run out."""
    return Vod.lease_owner.is_null() | Vod.lease_until.is_null() | (Vod.lease_until <= (now or utcnow()))


def lease_ran_out(vod: Vod, now: dt.datetime | None = None) -> bool:
    """A lease was taken and its time is up (its worker stopped without giving the VOD back)."""
    return vod.lease_until is not None and vod.lease_until <= (now or utcnow())


def is_leased(vod: Vod, now: dt.datetime | None = None) -> bool:
    return vod.lease_owner is not None and vod.lease_until is not None and not lease_ran_out(vod, now)


# -- the event record -------------------------------------------------------------------------
def _write(fn: Callable[[], T]) -> T:
    """Part of the transaction the caller has open, or a write transaction of its own."""
    if Vod._meta.database.in_transaction():
        return fn()
    return write(fn)


def record_event(vod_id: int, stage: str, kind: str, message: str, error_class: str | None = None) -> None:
    """One `vod_events` row, in the transaction of the move it records (or alone)."""
    _write(
        lambda: VodEvent.create(
            vod=vod_id, stage=stage, kind=kind, error_class=error_class, message=redact(message)[:EVENT_MESSAGE_MAX]
        )
    )


def _update(vod_id: int, fields: Mapping[str, object]) -> dict[str, object]:
    """Set `fields` (and `updated_at`) on the VOD; returns what was written."""
    values = {**fields, "updated_at": utcnow()}
    Vod.update(**values).where(Vod.id == vod_id).execute()
    return values


def _moved(
    vod_id: int, fields: Mapping[str, object], stage: str, kind: str, message: str, error_class: str | None = None
) -> dict[str, object]:
    """An unleased move: set `fields` and record the event, in one transaction; returns what was written."""

    def move() -> dict[str, object]:
        values = _update(vod_id, fields)
        record_event(vod_id, stage, kind, message, error_class)
        return values

    return _write(move)


def _holds(vod_id: int, owner: str) -> bool:
    """Inside a write transaction: `owner` still holds the VOD's claim, and nobody can take it before
    the transaction ends (SQLite holds the write lock; on PostgreSQL the row is locked here)."""
    query = Vod.select(Vod.id).where((Vod.id == vod_id) & (Vod.lease_owner == owner))
    if isinstance(Vod._meta.database.obj, peewee.PostgresqlDatabase):
        query = query.for_update()
    return query.first() is not None


def _released(
    vod_id: int,
    owner: str,
    fields: Mapping[str, object],
    stage: str,
    kind: str,
    message: str | Callable[[Mapping[str, object]], str],
    error_class: str | None = None,
    act: Callable[[], Mapping[str, object]] | None = None,
) -> bool:
    """A worker's last move: confirm the claim is still ours, run `act` (work outside the database the
    move depends on; it returns more fields), release the lease with the fields and record the event
    (`message`, or made from the fields written), all in one transaction.  False (nothing done, nothing
    written) if the claim was no longer ours; an exception from `act` writes nothing either."""

    def move() -> bool:
        if not _holds(vod_id, owner):
            return False
        values = {**fields, **(act() if act is not None else {})}
        release(vod_id, owner, **values)
        record_event(vod_id, stage, kind, message(values) if callable(message) else message, error_class)
        return True

    return _write(move)


# -- state moves shared by several stages -----------------------------------------------------
BACK_TO_DOWNLOAD = {
    "download_state": DISCOVERED,
    "downloaded_path": None,
    "download_bytes": 0,
    "download_gaps": None,  # what the file was like: a new download decides them again
    "video_codec": None,
    "video_resolution": None,
    "upload_state": None,
    "upload_session_uri": None,
    "upload_offset": 0,
}
"""What "send it back to the downloader" sets: the file is forgotten, and so is any upload session."""

CANCELLED_FIELDS = {
    "download_state": CANCELLED,
    "processing_error": CANCEL_MESSAGE,
    "error_class": ErrorClass.CANCELLED.value,
    "cancel_requested": 0,
    "next_attempt_at": None,
}
"""What "cancelled" sets, whether the operator's command or the worker that saw the request does it."""


def requeue_missing_file(vod_id: int, path: str | None) -> bool:
    """A downloaded VOD's file has gone: back to the downloader, unless the VOD moved on meanwhile."""

    def move() -> bool:
        changed = (
            Vod.update(**BACK_TO_DOWNLOAD, updated_at=utcnow())
            .where((Vod.id == vod_id) & (Vod.download_state == DOWNLOADED))
            .execute()
        )
        if changed:
            record_event(vod_id, DOWNLOAD_STAGE, "requeued", f"file {path} is gone: downloading again")
        return bool(changed)

    return _write(move)


def forget_file(vod_id: int, deletion: str | None = None) -> None:
    """The VOD's file is no longer on disk: the row stops pointing at it.  `deletion` says why
    retention deleted it (a `file_deleted` event); None when the file was already gone."""

    def move() -> None:
        _update(vod_id, {"downloaded_path": None})
        if deletion is not None:
            record_event(vod_id, RETENTION_STAGE, "file_deleted", deletion)

    _write(move)


# -- download moves ---------------------------------------------------------------------------
def renew_download(
    vod_id: int, owner: str, lease_seconds: float, *, done: int, total: int, speed: float, starting: bool = False
) -> bool:
    """Extend the lease and store the progress; `starting` also marks the VOD downloading on this host.
    False if the lease is no longer ours."""
    fields: dict[str, object] = {
        "download_bytes": done,
        "download_total": total,
        "download_speed": speed,
        "progress_updated_at": utcnow(),
    }
    if starting:
        fields.update(download_state=DOWNLOADING, download_host=socket.gethostname())
    return renew(vod_id, owner, lease_seconds, **fields)


def cancel_requested(vod_id: int) -> bool:
    """Has the operator asked to cancel this VOD's download?"""
    row = retry_on_busy(lambda: Vod.select(Vod.cancel_requested).where(Vod.id == vod_id).first())
    return row is not None and bool(row.cancel_requested)


def other_vod_with_file(path: str, vod_id: int) -> str | None:
    """The Twitch id of another VOD whose downloaded file is `path` (None: no other VOD's)."""
    row = Vod.select(Vod.twitch_vod_id).where((Vod.downloaded_path == path) & (Vod.id != vod_id)).first()
    return row.twitch_vod_id if row is not None else None


def mark_downloaded(
    vod_id: int,
    owner: str,
    publish: Callable[[], str],
    size: int,
    muted_segments: str | None,
    note: str,
    *,
    gaps: str | None = None,
    video_codec: str | None = None,
    video_resolution: str | None = None,
) -> str | None:
    """The verified file gets its final name (`publish` renames it and returns the final path, run only
    while the claim is confirmed ours, in the move's transaction): the VOD goes to the uploader.
    Returns the path stored, None (nothing renamed, nothing written) if the claim was no longer ours.
    `muted_segments` (JSON) is stored when the download found them; `gaps` (JSON,
    `download/gap_record.py`), the codec and the resolution are what this download got (NULL when
    None); the event says "<size> bytes at <path>", then `note`."""
    fields: dict[str, object] = {
        "download_gaps": gaps,
        "video_codec": video_codec,
        "video_resolution": video_resolution,
        "download_state": DOWNLOADED,
        "download_host": socket.gethostname(),
        "download_bytes": size,
        "download_total": size,
        "download_speed": 0,
        "progress_updated_at": utcnow(),
        "error_class": None,
        "next_attempt_at": None,
        "processing_error": None,
        "cancel_requested": 0,
    }
    if muted_segments is not None:
        fields["muted_segments"] = muted_segments

    stored: dict[str, object] = {}

    def published() -> dict[str, object]:
        stored["downloaded_path"] = publish()
        return stored

    def message(values: Mapping[str, object]) -> str:
        return "; ".join([f"{size} bytes at {values['downloaded_path']}", *([note] if note else [])])

    ours = _released(vod_id, owner, fields, DOWNLOAD_STAGE, "done", message, act=published)
    return str(stored["downloaded_path"]) if ours else None


def retry_download_later(
    vod_id: int, owner: str, retries: int, at: dt.datetime, error_class: ErrorClass, message: str
) -> bool:
    """Attempt number `retries` failed; the VOD is due again at `at`."""
    fields = {
        "error_class": error_class.value,
        "download_speed": 0,
        "download_retries": retries,
        "download_state": DISCOVERED,
        "next_attempt_at": at,
    }
    return _released(vod_id, owner, fields, DOWNLOAD_STAGE, "retry", message, error_class.value)


def wait_for_recording_end(vod_id: int, owner: str, at: dt.datetime, message: str) -> bool:
    """Twitch is still recording the VOD: not a failure and no attempt counted; it is due again at `at`."""
    fields = {
        "error_class": None,
        "processing_error": None,
        "download_speed": 0,
        "download_state": DISCOVERED,
        "next_attempt_at": at,
    }
    return _released(vod_id, owner, fields, DOWNLOAD_STAGE, "waiting", message)


def stream_still_live(stream_id: str | None) -> bool:
    """The poller has an open live placeholder for this stream: its VOD is still being recorded."""
    if not stream_id:
        return False
    open_placeholder = (Vod.is_placeholder == 1) & (Vod.stream_id == stream_id) & Vod.live_ended_at.is_null()
    return retry_on_busy(lambda: Vod.select(Vod.id).where(open_placeholder).exists())


def fail_download(
    vod_id: int, owner: str, error_class: ErrorClass, reason: str, message: str, retries: int | None = None
) -> bool:
    """The VOD cannot be downloaded (`reason` becomes its `processing_error`) until an operator resets it;
    `retries`: the attempts it took, when it gave up after too many."""
    fields: dict[str, object] = {
        "error_class": error_class.value,
        "download_speed": 0,
        "download_state": FAILED,
        "processing_error": redact(reason),
        "next_attempt_at": None,
    }
    if retries is not None:
        fields["download_retries"] = retries
    return _released(vod_id, owner, fields, DOWNLOAD_STAGE, "error", message, error_class.value)


def cancel_download(vod_id: int, owner: str) -> bool:
    """The worker saw the operator's cancel request and stopped."""
    return _released(
        vod_id,
        owner,
        {**CANCELLED_FIELDS, "download_speed": 0},
        DOWNLOAD_STAGE,
        "cancelled",
        CANCEL_MESSAGE,
        ErrorClass.CANCELLED.value,
    )


def give_back_download(vod_id: int, owner: str) -> bool:
    """Stopping mid-way (shutdown): back in the queue unchanged, for the next attempt to resume."""
    return release(vod_id, owner, download_state=DISCOVERED, download_speed=0)


# -- operator moves ---------------------------------------------------------------------------
OPERATOR_RESET = {
    "processed": 0,
    "processing_error": None,
    "youtube_url": None,
    "error_class": None,
    "next_attempt_at": None,
    "cancel_requested": 0,
    "download_retries": 0,
    "upload_retries": 0,
}
"""The runbook's reset, plus the bookkeeping that makes it clean (no due time, no attempts counted)."""


class Requeued(NamedTuple):
    where: str  # the stage it is queued for, in words
    fields: dict[str, object]  # what was written


def reprocess_at_download(vod_id: int) -> Requeued:
    """The operator's reset of a VOD whose file is gone: it is downloaded again."""
    return _reprocess(vod_id, {**OPERATOR_RESET, **BACK_TO_DOWNLOAD}, "download")


def reprocess_at_upload(vod_id: int) -> Requeued:
    """The operator's reset of a VOD whose file is there: it is uploaded again."""
    return _reprocess(vod_id, OPERATOR_RESET, "upload (its file is there)")


def reverify_at_download(vod_id: int) -> Requeued:
    """The operator's reset of a VOD that is on YouTube, without `--reupload`: downloaded and verified
    again, its `youtube_url` kept, so the uploader does not upload it again (`done_already_on_youtube`)."""
    kept = {k: v for k, v in OPERATOR_RESET.items() if k != "youtube_url"}
    return _reprocess(vod_id, {**kept, **BACK_TO_DOWNLOAD}, "download (verify only; not uploaded again)")


def _reprocess(vod_id: int, fields: Mapping[str, object], where: str) -> Requeued:
    return Requeued(where, _moved(vod_id, fields, OPERATOR_STAGE, "reprocess", f"queued for {where}"))


def request_cancel(vod_id: int) -> None:
    """Ask the worker holding the VOD to stop: it reads the flag within a second."""
    _moved(vod_id, {"cancel_requested": 1}, OPERATOR_STAGE, "cancel", "cancel requested")


def mark_cancelled(vod_id: int) -> dict[str, object]:
    """Cancel a VOD nobody holds, at once; returns what was written."""
    return _moved(vod_id, CANCELLED_FIELDS, OPERATOR_STAGE, "cancelled", CANCEL_MESSAGE, ErrorClass.CANCELLED.value)


def set_priority(vod_id: int, priority: int) -> None:
    _write(lambda: _update(vod_id, {"priority": priority}))


# -- catalog moves ----------------------------------------------------------------------------
LISTED_COLUMNS = (
    Vod.user_id,
    Vod.title,
    Vod.description,
    Vod.date,
    Vod.duration_seconds,
    Vod.stream_id,
    Vod.type,
    Vod.vod_url,
    Vod.thumbnail_url,
    Vod.muted_segments,
)
"""What Helix says about a VOD: refreshed on every listing.  Nothing else of a known VOD is, and
`muted_segments` only when Helix names some: the muted segments a download found stay (Helix may list
a VOD's muting later than its playlist shows it)."""


def store_listed(channel: str, listed: Sequence[Mapping[str, object]]) -> int:
    """VODs Helix lists (`twitch_vod_id` and the LISTED_COLUMNS by name): new ones are inserted, known
    ones get the new metadata and lose any `helix_missing` mark.  Returns how many were new."""
    if not listed:
        return 0
    ids = [str(row["twitch_vod_id"]) for row in listed]
    now = utcnow()
    rows = [{**row, "channel": channel, "helix_seen_at": now, "updated_at": now} for row in listed]

    def store() -> int:
        known = {v.twitch_vod_id for v in Vod.select(Vod.twitch_vod_id).where(Vod.twitch_vod_id.in_(ids))}
        (
            Vod.insert_many(rows)
            .on_conflict(
                conflict_target=[Vod.twitch_vod_id],
                preserve=[
                    *(c for c in LISTED_COLUMNS if c is not Vod.muted_segments),
                    Vod.helix_seen_at,
                    Vod.updated_at,
                ],
                update={
                    Vod.helix_missing: 0,
                    Vod.muted_segments: peewee.fn.COALESCE(peewee.EXCLUDED.muted_segments, Vod.muted_segments),
                },
            )
            .execute()
        )
        return len(set(ids) - known)

    return _write(store)


def mark_helix_missing(missing: Sequence[Vod]) -> None:
    """Helix no longer lists these VODs, and they were never downloaded: the downloader leaves them."""
    if not missing:
        return

    def move() -> None:
        Vod.update(helix_missing=1, updated_at=utcnow()).where(Vod.id.in_([v.id for v in missing])).execute()
        for vod in missing:
            record_event(vod.id, POLLER_STAGE, "helix_missing", "no longer listed by Helix; not downloaded")

    _write(move)


# -- live moves -------------------------------------------------------------------------------
def open_placeholder(
    twitch_vod_id: str, channel: str, user_id: str, stream_id: str, started_at: dt.datetime, title: str
) -> Vod:
    """The stand-in VOD of a live stream, that chat binds to until the real VOD is known."""
    return _write(
        lambda: Vod.create(
            twitch_vod_id=twitch_vod_id,
            channel=channel,
            user_id=user_id,
            stream_id=stream_id,
            date=started_at,
            title=title,
            is_placeholder=1,
            type="archive",
        )
    )


def retitle_placeholder(vod_id: int, title: str) -> None:
    _write(lambda: _update(vod_id, {"title": title}))


def reopen_placeholder(vod_id: int) -> None:
    """Its stream is live after all (Helix briefly did not list it)."""
    _write(lambda: _update(vod_id, {"live_ended_at": None}))


def close_placeholders(vod_ids: Sequence[int], ended_at: dt.datetime) -> None:
    """Their streams ended: reconciliation looks for their VODs from now on."""
    if vod_ids:
        _write(
            lambda: Vod.update(live_ended_at=ended_at, updated_at=utcnow()).where(Vod.id.in_(list(vod_ids))).execute()
        )


def replace_placeholder(placeholder: Vod, real: Vod, note: str) -> None:
    """The stream's real VOD took over its chat: it inherits the placeholder's priority, records
    `note`, and the placeholder goes."""

    def move() -> None:
        if placeholder.priority:
            Vod.update(priority=placeholder.priority).where(Vod.id == real.id).execute()
        record_event(real.id, POLLER_STAGE, "reconciled", note)
        placeholder.delete_instance()

    _write(move)


RECONCILE_GAVE_UP = "unreconciled"  # event kind of a placeholder reported as never reconciled
RECORDER_STAGE = "recorder"


def adopt_recording(vod_id: int, path: str, size: int, seconds: float, gaps: str | None, host: str, note: str) -> None:
    """A live recording becomes this VOD's archive (a placeholder no VOD came for, or a VOD that could not
    be downloaded): from here on it is a downloaded VOD like any other, verified, on its way to the
    uploader.  `gaps` is its `download_gaps` value (`download/gap_record.py`)."""
    fields: dict[str, object] = {
        "is_placeholder": 0,
        "duration_seconds": round(seconds),
        "download_state": DOWNLOADED,
        "downloaded_path": path,
        "download_host": host,
        "download_bytes": size,
        "download_total": size,
        "download_speed": 0,
        "download_gaps": gaps,
        "progress_updated_at": utcnow(),
        "processing_error": None,
        "error_class": None,
        "next_attempt_at": None,
        "cancel_requested": 0,
        "upload_state": None,
        "upload_session_uri": None,
        "upload_offset": 0,
    }
    _moved(vod_id, fields, RECORDER_STAGE, "recorded", note)


def never_reconciled(placeholder_pk: int, note: str) -> None:
    """No VOD appeared for the placeholder within the window: said once, in its events."""
    record_event(placeholder_pk, POLLER_STAGE, RECONCILE_GAVE_UP, note)


def reported_unreconciled(placeholder_pk: int) -> bool:
    return VodEvent.select().where((VodEvent.vod == placeholder_pk) & (VodEvent.kind == RECONCILE_GAVE_UP)).exists()


# -- upload moves -----------------------------------------------------------------------------
UPLOAD_STAGE = "upload"  # `vod_events.stage` of the uploader's events
UNREADABLE_FILE_WAIT = 600.0  # seconds an unreadable downloaded file waits before the next try


def claim_upload(owner: str, lease_seconds: float, reachable: peewee.ColumnBase) -> Vod | None:
    """The next downloaded VOD to upload whose file this host can read, marked `uploading`."""
    return claim(upload_due(), owner, lease_seconds, extra=reachable, upload_state=UPLOADING)


def renew_upload(vod_id: int, owner: str, lease_seconds: float, session_uri: str | None, offset: int) -> bool:
    """Extend the lease and store the session and its confirmed offset (where a restart resumes);
    `session_uri` None: YouTube forgot the session.  False if the lease is no longer ours."""
    return renew(vod_id, owner, lease_seconds, upload_session_uri=session_uri, upload_offset=offset)


def give_back_upload(vod_id: int, owner: str) -> bool:
    """Stopping mid-way: back in the queue as it stands; the next claim resumes the stored session."""
    return release(vod_id, owner, upload_state=None)


def hold_upload(vod_id: int, owner: str, kind: str, message: str, error_class: ErrorClass | None = None) -> bool:
    """Given back because every upload has to wait (quota, authorisation); the event says why."""
    return _released(
        vod_id, owner, {"upload_state": None}, UPLOAD_STAGE, kind, message, error_class.value if error_class else None
    )


def retry_upload_later(
    vod_id: int, owner: str, retries: int, at: dt.datetime, error_class: ErrorClass, message: str
) -> bool:
    """Attempt number `retries` failed; the VOD is due again at `at`, its session kept."""
    fields = {"upload_state": None, "error_class": error_class.value, "upload_retries": retries, "next_attempt_at": at}
    return _released(vod_id, owner, fields, UPLOAD_STAGE, "error", message, error_class.value)


def fail_upload(vod_id: int, owner: str, retries: int, error_class: ErrorClass, message: str) -> bool:
    """The VOD cannot be uploaded (after `retries` attempts) until an operator resets it."""
    fields = {
        "upload_state": None,
        "error_class": error_class.value,
        "upload_retries": retries,
        "processing_error": redact(f"upload: {message}"),
    }
    return _released(vod_id, owner, fields, UPLOAD_STAGE, "error", message, error_class.value)


def await_processing(vod_id: int, owner: str, size: int, message: str) -> bool:
    """YouTube has every byte (each video's `uploads` row says so): the VOD waits, unleased, for
    YouTube's processing.  False if the claim was no longer ours: nothing is recorded, and the
    worker must not touch the file (its new owner uploads it)."""
    fields = {
        "upload_state": UPLOAD_PROCESSING,
        "upload_session_uri": None,
        "upload_offset": size,
        "error_class": None,
        "next_attempt_at": None,
    }

    return _released(vod_id, owner, fields, UPLOAD_STAGE, "uploaded", message)


def mark_published(vod_id: int, youtube_url: str) -> bool:
    """YouTube processed every video of the VOD: it is done.  False if it was no longer waiting
    for processing (an operator reset it meanwhile)."""
    fields = {"youtube_url": youtube_url, "processed": 1, "upload_state": UPLOAD_DONE, "processing_error": None}
    return _processing_ended(vod_id, fields, "done", youtube_url, None)


def fail_processing(vod_id: int, message: str, error_class: ErrorClass) -> bool:
    """YouTube rejected or failed a video of the VOD (or never finished it): the VOD is failed
    until an operator resets it; the file stays."""
    fields = {
        "upload_state": None,
        "error_class": error_class.value,
        "processing_error": redact(f"youtube processing: {message}"),
    }
    return _processing_ended(vod_id, fields, "error", message, error_class.value)


def _processing_ended(
    vod_id: int, fields: Mapping[str, object], kind: str, message: str, error_class: str | None
) -> bool:
    def move() -> bool:
        waiting = (Vod.id == vod_id) & (Vod.upload_state == UPLOAD_PROCESSING)
        if not Vod.update(**fields, updated_at=utcnow()).where(waiting).execute():
            return False
        record_event(vod_id, UPLOAD_STAGE, kind, message, error_class)
        return True

    return _write(move)


def done_already_on_youtube(limit: int = 200) -> list[Vod]:
    """VODs downloaded again while their video stays (`reprocess` without `--reupload`): done as they
    are, with an event naming the video; returns them."""

    def move() -> list[Vod]:
        now = utcnow()
        verified = (
            (Vod.processed == 0)
            & Vod.processing_error.is_null()
            & (Vod.download_state == DOWNLOADED)
            & Vod.youtube_url.is_null(False)
        )
        due = list(
            Vod.select(Vod.id, Vod.twitch_vod_id, Vod.youtube_url).where(verified & lease_free(now)).limit(limit)
        )
        for vod in due:
            _update(vod.id, {"processed": 1, "upload_state": UPLOAD_DONE})
            record_event(vod.id, UPLOAD_STAGE, "verified", f"downloaded again; stays on YouTube at {vod.youtube_url}")
        return due

    return _write(move)


def earlier_video(vod_id: int) -> str | None:
    """The YouTube video an earlier upload of this VOD made (its last `done` event's URL), None if none."""
    done = (
        VodEvent.select(VodEvent.message)
        .where((VodEvent.vod == vod_id) & (VodEvent.stage == UPLOAD_STAGE) & (VodEvent.kind == "done"))
        .order_by(VodEvent.id.desc())
        .first()
    )
    if done is not None:
        return done.message
    part = (
        Upload.select(Upload.video_id)
        .where((Upload.vod == vod_id) & Upload.video_id.is_null(False))
        .order_by(Upload.round.desc(), Upload.part)
        .first()
    )
    return WATCH_URL.format(id=part.video_id) if part is not None else None


def parts_of_last_round(vod_id: int) -> int:
    """How many videos the VOD's last upload made (its `uploads` rows of the last round); 1 without any."""
    last_round = Upload.select(peewee.fn.MAX(Upload.round)).where(Upload.vod == vod_id).scalar()
    if last_round is None:
        return 1
    return max(1, Upload.select().where((Upload.vod == vod_id) & (Upload.round == last_round)).count())


def reupload_warned(vod_id: int) -> bool:
    """A `reupload` warning was recorded since the VOD's last finished upload (it is given once per new upload)."""
    last_done = (
        VodEvent.select(peewee.fn.MAX(VodEvent.id))
        .where((VodEvent.vod == vod_id) & (VodEvent.stage == UPLOAD_STAGE) & (VodEvent.kind == "done"))
        .scalar()
    ) or 0
    return bool(
        VodEvent.select(VodEvent.id)
        .where((VodEvent.vod == vod_id) & (VodEvent.kind == "reupload") & (VodEvent.id > last_done))
        .exists()
    )


def done_without_upload(limit: int = 200) -> list[Vod]:
    """Download-only mode: up to `limit` VODs due for upload that nobody holds are done as they are."""

    def move() -> list[Vod]:
        now = utcnow()
        due = list(Vod.select(Vod.id, Vod.twitch_vod_id).where(upload_due() & lease_free(now)).limit(limit))
        if due:
            Vod.update(processed=1, upload_state=UPLOAD_SKIPPED, updated_at=now).where(
                Vod.id.in_([vod.id for vod in due])
            ).execute()
            for vod in due:
                record_event(vod.id, UPLOAD_STAGE, "done", "download-only: uploading is off")
        return due

    return _write(move)


def upload_file_vanished(vod_id: int, owner: str, path: str | None) -> bool:
    """The downloaded file is gone before the upload: back to the downloader."""
    return _released(
        vod_id,
        owner,
        BACK_TO_DOWNLOAD,
        UPLOAD_STAGE,
        "requeued",
        f"file {path} vanished before upload: back to download",
    )


def hold_unreadable_file(vod_id: int, owner: str, path: str | None) -> bool:
    """The downloaded file is there but cannot be read (permissions?): not this VOD's fault, it waits."""
    systemic = ErrorClass.SYSTEMIC.value
    fields = {
        "upload_state": None,
        "error_class": systemic,
        "next_attempt_at": utcnow() + dt.timedelta(seconds=UNREADABLE_FILE_WAIT),
    }
    return _released(
        vod_id,
        owner,
        fields,
        UPLOAD_STAGE,
        "error",
        f"cannot read {path} (permissions?): retrying in {UNREADABLE_FILE_WAIT / 60:.0f} minutes",
        systemic,
    )
