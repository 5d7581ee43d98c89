"""What the operator's `reprocess`, `cancel` and `priority` commands do to a VOD row.

They change the same columns as the runbook's SQL (plus the pipeline's own bookkeeping), through
the moves of `pipeline/vods.py`; each command is one write transaction (find, check, move) and
returns a line saying what it did.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from vodtender.pipeline import vods
from vodtender.runtime.db import write
from vodtender.runtime.models import Vod


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


def _changes(vod: Vod, fields: Mapping[str, object]) -> str:
    shown = [
        f"{k} cleared" if v is None else f"{k}={v!r}"  # not `youtube_url=None`
        for k, v in fields.items()
        if getattr(vod, k) != v and k != "updated_at"
    ]
    return ", ".join(shown) or "nothing changed"


def reprocess(ref: str, reupload: bool = False, insert_cost: int = 1600) -> str:
    """The runbook's reset, plus the bookkeeping that makes it clean: back to download if the file is gone.
    A VOD that is on YouTube is only downloaded and verified again, unless `reupload` (a new video,
    costing `insert_cost` units per part); the line says which, and the cost."""

    def apply() -> str:
        vod = find_vod(ref)
        if vods.is_leased(vod):
            raise ControlError(
                f"VOD {vod.twitch_vod_id} is being worked on by {vod.lease_owner} "
                f"({vods.stage_of(vod)}); cancel it first"
            )
        cost = _upload_cost(vod, insert_cost)
        if vod.youtube_url and not reupload:
            requeued = vods.reverify_at_download(vod.id)
            return (
                f"VOD {vod.twitch_vod_id}: queued for {requeued.where}; it stays on YouTube at {vod.youtube_url}; "
                f"{_changes(vod, requeued.fields)}. To upload a new video instead: "
                f"reprocess --reupload {vod.twitch_vod_id} ({cost})"
            )
        have_file = (
            vod.download_state == vods.DOWNLOADED and vod.downloaded_path and os.path.exists(vod.downloaded_path)
        )
        requeued = vods.reprocess_at_upload(vod.id) if have_file else vods.reprocess_at_download(vod.id)
        line = f"VOD {vod.twitch_vod_id}: queued for {requeued.where}; {_changes(vod, requeued.fields)}"
        if vod.youtube_url:
            line += f". It will be uploaded again as a new video ({cost}); {vod.youtube_url} stays on YouTube"
        return line

    return write(apply)


def _upload_cost(vod: Vod, insert_cost: int) -> str:
    parts = vods.parts_of_last_round(vod.id)
    if parts == 1:
        return f"{insert_cost} quota units"
    return f"{parts} parts x {insert_cost} = {parts * insert_cost} quota units"


def cancel(ref: str) -> str:
    """Stop a download: the worker holding it sees `cancel_requested` within a second; a VOD nobody
    holds is marked cancelled at once."""

    def apply() -> str:
        vod = find_vod(ref)
        if vod.processed:
            raise ControlError(f"VOD {vod.twitch_vod_id} is already done; nothing to cancel")
        if vod.download_state == vods.CANCELLED and vod.processing_error is not None:
            return f"VOD {vod.twitch_vod_id} is already cancelled"
        if vods.is_leased(vod):
            vods.request_cancel(vod.id)
            return (
                f"VOD {vod.twitch_vod_id}: cancel requested (cancel_requested=1); {vod.lease_owner} "
                "stops within 2 s and marks it cancelled"
            )
        changes = _changes(vod, vods.mark_cancelled(vod.id))
        return f"VOD {vod.twitch_vod_id}: cancelled (no worker held it); {changes}"

    return write(apply)


def set_priority(ref: str, priority: int) -> str:
    def apply() -> str:
        vod = find_vod(ref)
        vods.set_priority(vod.id, priority)
        return f"VOD {vod.twitch_vod_id}: priority {vod.priority} -> {priority}"

    return write(apply)
