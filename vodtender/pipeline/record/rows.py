"""The `recordings` row's life cycle: the only writer of that table.

A row is one live stream (its `stream_id`), created when a recorder first sees the poller's live
placeholder of a channel in LIVE_RECORD.  States: pending (created, nobody recorded yet) ->
recording (a part file grows; it stays so while no recorder holds it, between attempts) ->
finished (the final file published) or failed.

Leases follow the VOD queue's rule (pipeline/vods.py): a lease is free when it has no owner or
`lease_until <= now`, and the leases of this host's dead processes are free at once, so a recorder
restarted after a SIGKILL resumes its recording without waiting.  A claim is one write
transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: `FOR UPDATE SKIP LOCKED`, and the row of a new
stream inserted with ON CONFLICT DO NOTHING), so of several recorders exactly one takes a stream.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence

import peewee

from vodtender.pipeline import vods
from vodtender.runtime.db import retry_on_busy, write
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Recording, Vod, utcnow
from vodtender.runtime.redact import redact

log = get_logger("recorder")

PENDING, RECORDING, FINISHED, FAILED = "pending", "recording", "finished", "failed"
# What became of a finished recording once its stream's VOD settled (pipeline/record/keep.py)
KEPT, REMOVED, ARCHIVE, LOST = "kept", "removed", "archive", "lost"
SETTLED_OUTCOMES = (KEPT, REMOVED, ARCHIVE, LOST)
SOURCES = ("live", "vod")  # the live playlist, or the in-progress VOD's
GAP_REASONS = ("ad", "missed", "outage", "restart")
ENDED_UNRECORDED = "the stream ended before it was recorded"
ERROR_MAX = 2000  # characters of `error` kept


# -- the lease rule (pipeline/vods.py's, on this table) ----------------------------------------
def _lease_busy(now: dt.datetime) -> peewee.Expression:
    return Recording.lease_owner.is_null(False) & (Recording.lease_until > now)


def _released() -> dict[str, object]:
    return {"lease_owner": None, "lease_until": None, "updated_at": utcnow()}


# -- reading ----------------------------------------------------------------------------------
def _open_placeholders() -> peewee.Expression:
    return (Vod.is_placeholder == 1) & Vod.live_ended_at.is_null() & Vod.stream_id.is_null(False)


def stream_is_live(stream_id: str) -> bool:
    """The poller's live placeholder for this stream is still open."""
    return vods.stream_still_live(stream_id)


def in_progress_vod(stream_id: str) -> str | None:
    """The twitch_vod_id of the stream's real VOD (not its placeholder), once the poller has found it."""
    query = (
        Vod.select(Vod.twitch_vod_id)
        .where((Vod.stream_id == stream_id) & (Vod.is_placeholder == 0))
        .order_by(Vod.id)
        .limit(1)
    )
    found: str | None = retry_on_busy(query.scalar)
    return found


def wanted_live_channels(channels: Sequence[str] | None) -> set[str]:
    """The channels (all when None) whose stream is live now, per the poller's open placeholders."""
    cond = _open_placeholders()
    if channels is not None:
        cond &= Vod.channel.in_(list(channels))
    return retry_on_busy(lambda: {v.channel for v in Vod.select(Vod.channel).where(cond).distinct()})


def for_stream(stream_id: str | None) -> Recording | None:
    """The recording of a stream, if there is one (`vodtender show`)."""
    if not stream_id:
        return None
    found: Recording | None = Recording.get_or_none(Recording.stream_id == stream_id)
    return found


def unsettled(host: str | None) -> list[Recording]:
    """Finished recordings whose outcome is not decided yet, oldest first: those whose file is on `host`,
    or every one (None: DATA_DIR is shared)."""
    cond = (Recording.state == FINISHED) & Recording.outcome.is_null()
    if host is not None:
        cond &= Recording.host == host
    return retry_on_busy(lambda: list(Recording.select().where(cond).order_by(Recording.ended_at, Recording.id)))


def by_ids(ids: Sequence[int]) -> list[Recording]:
    return retry_on_busy(lambda: list(Recording.select().where(Recording.id.in_(list(ids))))) if ids else []


def recent(since: dt.datetime) -> list[Recording]:
    """Recordings pending or in progress, and those that ended after `since`, oldest first (`vodtender status`)."""
    cond = Recording.state.in_([PENDING, RECORDING]) | (Recording.updated_at >= since)
    return list(Recording.select().where(cond).order_by(Recording.created_at, Recording.id))


@dataclasses.dataclass(frozen=True)
class StoredGap:
    """A wall-clock span a recording does not hold, and why (an ad break, a restart, ...), as read back
    from `recordings.gaps` (written by the recorder: `recording.RecordedGap`)."""

    start: str  # ISO 8601, as the recorder wrote it
    end: str
    seconds: float
    why: str

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


_UNREADABLE_GAPS_SEEN: set[str] = set()  # streams whose unreadable gaps were already logged (read every second)


def gaps_of(rec: Recording) -> list[StoredGap]:
    """The recording's gaps; a value that cannot be read gives none, with one warning per stream."""
    if not rec.gaps:
        return []
    try:
        items = json.loads(rec.gaps)
        if not isinstance(items, list):
            raise ValueError("not a list")
        return [StoredGap(str(i["start"]), str(i["end"]), float(i["seconds"]), str(i["why"])) for i in items]
    except (ValueError, TypeError, KeyError) as exc:
        if rec.stream_id not in _UNREADABLE_GAPS_SEEN:
            _UNREADABLE_GAPS_SEEN.add(rec.stream_id)
            log.warning("recording gaps unreadable", stream_id=rec.stream_id, error=str(exc))
        return []


# -- claims -----------------------------------------------------------------------------------
def _adopt_live_streams(channels: Sequence[str] | None) -> None:
    """A pending row for each open placeholder of a wanted channel that has none yet."""
    cond = _open_placeholders() & Vod.stream_id.not_in(Recording.select(Recording.stream_id))
    if channels is not None:
        cond &= Vod.channel.in_(list(channels))
    rows = [
        {"stream_id": v.stream_id, "channel": v.channel, "placeholder_vod_id": v.twitch_vod_id}
        for v in Vod.select(Vod.stream_id, Vod.channel, Vod.twitch_vod_id).where(cond).order_by(Vod.id)
    ]
    if rows:
        Recording.insert_many(rows).on_conflict_ignore().execute()  # another recorder may insert it at once


def _give_up_unstarted(live_streams: peewee.SelectQuery, now: dt.datetime) -> None:
    """Pending rows whose stream ended before any recorder took it: nothing to record any more."""
    Recording.update(state=FAILED, error=ENDED_UNRECORDED, updated_at=now).where(
        (Recording.state == PENDING) & Recording.stream_id.not_in(live_streams)
    ).execute()


def claim_recording(owner: str, lease_seconds: float, channels: Sequence[str] | None) -> Recording | None:
    """Take a stream to record: a live stream of a wanted channel (`channels`; None: all), or an
    unfinished recording whose stream has ended (its part still to finish, whatever the channel).
    The row is created first if the stream has none.  None when there is nothing to take."""

    def take() -> Recording | None:
        now = utcnow()
        _adopt_live_streams(channels)
        live_streams = Vod.select(Vod.stream_id).where(_open_placeholders())
        _give_up_unstarted(live_streams, now)
        unfinished = Recording.state.in_([PENDING, RECORDING])
        busy = _lease_busy(now)
        owners = {r.lease_owner for r in Recording.select(Recording.lease_owner).where(unfinished & busy)}
        free = ~busy
        dead = vods.dead_local_owners({o for o in owners if o})
        if dead:
            free |= Recording.lease_owner.in_(list(dead))
        live = Recording.stream_id.in_(live_streams)
        if channels is not None:
            live &= Recording.channel.in_(list(channels))
        ended_part = (Recording.state == RECORDING) & Recording.stream_id.not_in(live_streams)
        query = (
            Recording.select()
            .where(unfinished & free & (live | ended_part))
            .order_by(Recording.created_at, Recording.id)
            .limit(1)
        )
        if isinstance(Recording._meta.database.obj, peewee.PostgresqlDatabase):
            query = query.for_update(skip_locked=True)
        rec = query.first()
        if rec is None:
            return None
        Recording.update(
            state=RECORDING, lease_owner=owner, lease_until=now + dt.timedelta(seconds=lease_seconds), updated_at=now
        ).where(Recording.id == rec.id).execute()
        claimed: Recording = Recording.get_by_id(rec.id)
        return claimed

    return write(take)


def _ours(rec_id: int, owner: str) -> peewee.Expression:
    return (Recording.id == rec_id) & (Recording.lease_owner == owner)


def _move(rec_id: int, owner: str, values: dict[str, object]) -> bool:
    """Write `values` if the lease is still `owner`'s; False if it is not."""
    return write(lambda: Recording.update(**values).where(_ours(rec_id, owner)).execute()) == 1


# -- moves ------------------------------------------------------------------------------------
def renew_recording(
    rec_id: int,
    owner: str,
    lease_seconds: float,
    *,
    seconds: float,
    bytes: int,
    gaps: str | None,
    ads_seconds: float,
    started_at: dt.datetime | None,
    part_path: str | None,
    source: str,
) -> bool:
    """Extend our lease and write the progress; False if the lease is no longer ours.  A `started_at`
    or `part_path` of None leaves what is stored (not known yet in this attempt)."""
    now = utcnow()
    values: dict[str, object] = {
        "lease_until": now + dt.timedelta(seconds=lease_seconds),
        "updated_at": now,
        "seconds": seconds,
        "bytes": bytes,
        "gaps": gaps,
        "ads_seconds": ads_seconds,
        "source": source,
    }
    if started_at is not None:
        values["started_at"] = started_at
    if part_path is not None:
        values["part_path"] = part_path
    return _move(rec_id, owner, values)


def finish_recording(
    rec_id: int,
    owner: str,
    path: str,
    *,
    seconds: float,
    bytes: int,
    gaps: str | None,
    ads_seconds: float,
    ended_at: dt.datetime,
    host: str,
) -> bool:
    """The final file is published at `path` on `host`: the recording is finished and nobody holds it."""
    values = {
        **_released(),
        "state": FINISHED,
        "path": path,
        "host": host,
        "part_path": None,
        "seconds": seconds,
        "bytes": bytes,
        "gaps": gaps,
        "ads_seconds": ads_seconds,
        "ended_at": ended_at,
        "error": None,
    }
    return _move(rec_id, owner, values)


def release_recording(rec_id: int, owner: str) -> bool:
    """Stopping mid-way: the lease is freed and the recording stays in progress for the next attempt."""
    return _move(rec_id, owner, _released())


def settle(rec_id: int, outcome: str, note: str) -> bool:
    """Record what became of a finished recording; False if another recorder decided first.  Part of
    the caller's transaction when one is open (the archive move changes its VOD row with it)."""

    def move() -> bool:
        decided = Recording.update(outcome=outcome, outcome_note=note[:ERROR_MAX], updated_at=utcnow()).where(
            (Recording.id == rec_id) & Recording.outcome.is_null()
        )
        return decided.execute() == 1

    return move() if Recording._meta.database.in_transaction() else write(move)


def fail_recording(rec_id: int, owner: str, error: str) -> bool:
    """The recording cannot go on: marked failed with its reason, the lease freed."""
    return _move(rec_id, owner, {**_released(), "state": FAILED, "error": redact(error)[:ERROR_MAX]})
