"""What the operator's `reprocess`, `cancel` and `priority` commands do to a VOD row, and the
re-queueing of VODs whose downloaded file has gone.

They change the same columns as the runbook's SQL (plus the pipeline's own bookkeeping),
each in one write transaction, and return a line saying what they did.
"""

from __future__ import annotations

import os
from typing import Any

from vodtender.pipeline.vods import CANCELLED, DISCOVERED, DOWNLOADED, reachable_files, stage_of
from vodtender.runtime.db import write
from vodtender.runtime.models import Vod, VodEvent, utcnow

CANCEL_MESSAGE = "cancelled by operator"


class ControlError(Exception):
    """The command cannot be applied; the message says why."""


def find_vod(ref: str) -> Vod:
    """A VOD by Twitch id (or `live-<unix>`), or by row id written `#123`."""
    if ref.startswith("#") and ref[1:].isdigit():
        vod = Vod.get_or_none(Vod.id == int(ref[1:]))
    else:
        vod = Vod.get_or_none(Vod.twitch_vod_id == ref)
    if vod is None:
        raise ControlError(f"no VOD {ref!r} (use the Twitch VOD id, or #<row id>)")
    return vod


def _leased(vod: Vod) -> bool:
    return vod.lease_owner is not None and vod.lease_until is not None and vod.lease_until > utcnow()


def _changes(vod: Vod, fields: dict[str, Any]) -> str:
    shown = [f"{k}={v!r}" for k, v in fields.items() if getattr(vod, k) != v and k != "updated_at"]
    return ", ".join(shown) or "nothing changed"


def reprocess(ref: str) -> str:
    """The runbook's reset, plus the bookkeeping that makes it clean: back to download if the file is gone."""

    def apply() -> str:
        vod = find_vod(ref)
        if _leased(vod):
            raise ControlError(f"VOD {vod.twitch_vod_id} is being worked on by {vod.lease_owner} "
                               f"({stage_of(vod)}); cancel it first")
        fields: dict[str, Any] = {"processed": 0, "processing_error": None, "youtube_url": None,
                                  "error_class": None, "next_attempt_at": None, "cancel_requested": 0,
                                  "download_retries": 0, "upload_retries": 0, "updated_at": utcnow()}
        have_file = (vod.download_state == DOWNLOADED and vod.downloaded_path
                     and os.path.exists(vod.downloaded_path))
        if have_file:
            where = "upload (its file is there)"
        else:
            fields.update(download_state=DISCOVERED, downloaded_path=None, download_bytes=0, upload_state=None,
                          upload_session_uri=None, upload_offset=0)
            where = "download"
        changes = _changes(vod, fields)
        Vod.update(**fields).where(Vod.id == vod.id).execute()
        VodEvent.create(vod=vod.id, stage="operator", kind="reprocess", message=f"queued for {where}")
        return f"VOD {vod.twitch_vod_id}: queued for {where}; {changes}"

    return write(apply)


def cancel(ref: str) -> str:
    """Stop a download: the worker holding it sees `cancel_requested` within a second; a VOD nobody
    holds is marked cancelled at once."""

    def apply() -> str:
        vod = find_vod(ref)
        if vod.processed:
            raise ControlError(f"VOD {vod.twitch_vod_id} is already done; nothing to cancel")
        if vod.download_state == CANCELLED and vod.processing_error is not None:
            return f"VOD {vod.twitch_vod_id} is already cancelled"
        if _leased(vod):
            Vod.update(cancel_requested=1, updated_at=utcnow()).where(Vod.id == vod.id).execute()
            VodEvent.create(vod=vod.id, stage="operator", kind="cancel", message="cancel requested")
            return (f"VOD {vod.twitch_vod_id}: cancel requested (cancel_requested=1); {vod.lease_owner} "
                    "stops within 2 s and marks it cancelled")
        fields = {"download_state": CANCELLED, "processing_error": CANCEL_MESSAGE, "error_class": "cancelled",
                  "cancel_requested": 0, "next_attempt_at": None, "updated_at": utcnow()}
        changes = _changes(vod, fields)
        Vod.update(**fields).where(Vod.id == vod.id).execute()
        VodEvent.create(vod=vod.id, stage="operator", kind="cancelled", error_class="cancelled",
                        message=CANCEL_MESSAGE)
        return f"VOD {vod.twitch_vod_id}: cancelled (no worker held it); {changes}"

    return write(apply)


def set_priority(ref: str, priority: int) -> str:
    def apply() -> str:
        vod = find_vod(ref)
        Vod.update(priority=priority, updated_at=utcnow()).where(Vod.id == vod.id).execute()
        return f"VOD {vod.twitch_vod_id}: priority {vod.priority} -> {priority}"

    return write(apply)


def requeue_missing_files(data_dir_shared: bool) -> list[Vod]:
    """Downloaded, unprocessed VODs whose file (on this host) is gone go back to the download stage,
    as the runbook's reset promises.  Returns them."""
    cond = ((Vod.processed == 0) & Vod.processing_error.is_null() & (Vod.download_state == DOWNLOADED)
            & (Vod.lease_owner.is_null() | (Vod.lease_until < utcnow())) & reachable_files(data_dir_shared))
    gone = [v for v in Vod.select(Vod.id, Vod.downloaded_path, Vod.twitch_vod_id).where(cond)
            if not v.downloaded_path or not os.path.exists(v.downloaded_path)]
    for vod in gone:
        def requeue(vod: Vod = vod) -> None:
            changed = Vod.update(download_state=DISCOVERED, downloaded_path=None, download_bytes=0,
                                 upload_state=None, upload_session_uri=None, upload_offset=0,
                                 updated_at=utcnow()).where(
                (Vod.id == vod.id) & (Vod.download_state == DOWNLOADED)).execute()
            if changed:
                VodEvent.create(vod=vod.id, stage="download", kind="requeued",
                                message=f"file {vod.downloaded_path} is gone: downloading again")
        write(requeue)
    return gone
