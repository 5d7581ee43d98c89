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
(`lease_busy` / `lease_free` / `is_leased`: the one definition).
"""

from __future__ import annotations

import datetime as dt
import os
import socket

import peewee

from vodtender.runtime.db import write
from vodtender.runtime.models import Vod, VodEvent, utcnow

EVENT_MESSAGE_MAX = 2000  # characters of a vod_events message; longer ones are cut

# -- states -----------------------------------------------------------------------------------
STAGES = ("live", "discovered", "downloading", "downloaded", "uploading", "done", "failed")

# download_state values
DISCOVERED, DOWNLOADING, DOWNLOADED, CANCELLED, FAILED = (
    "discovered", "downloading", "downloaded", "cancelled", "failed")
# upload_state values
UPLOADING = "uploading"
UPLOAD_DONE = "done"
UPLOAD_SKIPPED = "skipped"  # done without uploading (download-only mode)


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


# -- claims -----------------------------------------------------------------------------------
def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
    return ((Vod.processed == 0) & Vod.processing_error.is_null() & (Vod.is_placeholder == 0)
            & (Vod.download_state != DOWNLOADED) & (Vod.helix_missing == 0)
            & (Vod.next_attempt_at.is_null() | (Vod.next_attempt_at <= now)))


def upload_due() -> peewee.Expression:
    now = utcnow()
    return ((Vod.processed == 0) & Vod.processing_error.is_null() & (Vod.is_placeholder == 0)
            & (Vod.download_state == DOWNLOADED) & Vod.youtube_url.is_null()
            & Vod.downloaded_path.is_null(False) & (Vod.cancel_requested == 0)
            & (Vod.next_attempt_at.is_null() | (Vod.next_attempt_at <= now)))


def reachable_files(data_dir_shared: bool, host: str | None = None) -> peewee.Expression:
    """VODs whose downloaded file this host can read: its own downloads (and rows from before
    `download_host` was recorded), or every VOD when DATA_DIR is the same shared folder everywhere."""
    if data_dir_shared:
        return peewee.SQL("1 = 1")
    return Vod.download_host.is_null() | (Vod.download_host == (host or socket.gethostname()))


def claim(due: peewee.Expression, owner: str, lease_seconds: float,
          extra: peewee.Expression | None = None, **fields: object) -> Vod | None:
    """Take the next due VOD (priority DESC, date ASC); set `fields` on it too.  None if none is due."""

    def take() -> Vod | None:
        now = utcnow()
        busy = lease_busy(now)
        owners = {v.lease_owner for v in Vod.select(Vod.lease_owner).where(due & busy).distinct()}
        free = ~busy
        dead = dead_local_owners(owners)
        if dead:
            free = free | Vod.lease_owner.in_(list(dead))
        cond = due & free
        if extra is not None:
            cond = cond & extra
        query = (Vod.select().where(cond)
                 .order_by(Vod.priority.desc(), Vod.date.asc(nulls="LAST"), Vod.id).limit(1))
        if isinstance(Vod._meta.database.obj, peewee.PostgresqlDatabase):
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        vod = query.first()
        if vod is None:
            return None
        values = {"lease_owner": owner, "lease_until": now + dt.timedelta(seconds=lease_seconds),
                  "updated_at": now, **fields}
        Vod.update(**values).where(Vod.id == vod.id).execute()
        return Vod.get_by_id(vod.id)

    return write(take)


def renew(vod_id: int, owner: str, lease_seconds: float, **fields: object) -> bool:
    """Extend our lease (and write progress fields); False if the lease is no longer ours."""
    now = utcnow()
    values = {"lease_until": now + dt.timedelta(seconds=lease_seconds), "updated_at": now, **fields}
    return write(lambda: Vod.update(**values).where((Vod.id == vod_id) & (Vod.lease_owner == owner)).execute()) == 1


def release(vod_id: int, owner: str, **fields: object) -> bool:
    """Give the VOD back (with its new state in `fields`); False if it was not ours any more."""
    values = {"lease_owner": None, "lease_until": None, "updated_at": utcnow(), **fields}
    return write(lambda: Vod.update(**values).where((Vod.id == vod_id) & (Vod.lease_owner == owner)).execute()) == 1

# -- the lease rule ---------------------------------------------------------------------------
def lease_busy(now: dt.datetime | None = None) -> peewee.Expression:
    """Rows some worker holds: an owner whose lease runs past `now`."""
    return Vod.lease_owner.is_null(False) & (Vod.lease_until > (now or utcnow()))


def lease_free(now: dt.datetime | None = None) -> peewee.Expression:
    """Rows nobody holds: no owner, or a lease that has run out."""
    return Vod.lease_owner.is_null() | Vod.lease_until.is_null() | (Vod.lease_until <= (now or utcnow()))


def is_leased(vod: Vod, now: dt.datetime | None = None) -> bool:
    return vod.lease_owner is not None and vod.lease_until is not None and vod.lease_until > (now or utcnow())


# -- the event record -------------------------------------------------------------------------
def record_event(vod_id: int, stage: str, kind: str, message: str, error_class: str | None = None) -> None:
    """One `vod_events` row; call inside the write transaction of the move it records, or alone."""
    write(lambda: VodEvent.create(vod=vod_id, stage=stage, kind=kind, error_class=error_class,
                                  message=message[:EVENT_MESSAGE_MAX]))


# -- state moves shared by several stages -----------------------------------------------------
BACK_TO_DOWNLOAD = {"download_state": DISCOVERED, "downloaded_path": None, "download_bytes": 0,
                    "upload_state": None, "upload_session_uri": None, "upload_offset": 0}
"""What "send it back to the downloader" sets: the file is forgotten, and so is any upload session."""
