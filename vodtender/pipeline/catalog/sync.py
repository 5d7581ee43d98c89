"""Catalog backfill: every VOD of every channel into `vods`, one Helix page per step, resumable.

Per channel, a run pages through `videos` newest first.  Each page's rows and the cursor of
the next page (`kv` key `catalog_after:<channel>`) are written in one transaction, so a
run killed at any point continues from the page after the last stored one, and a page is
never half stored.  Inserts are upserts on `twitch_vod_id` (`vods.store_listed`): a second run
adds nothing and refreshes changed metadata (title, duration, muted segments).

A run ends at the last page, at VOD_CATALOG_MAX VODs, or at the first VOD older than
VOD_CATALOG_MAX_AGE_DAYS.  Then not-yet-downloaded VODs the run did not list (within the
range it covered) are marked `helix_missing`: Twitch deleted them, so the downloader does not
retry them forever.  A later run that lists one again clears the mark.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable, Sequence

from prometheus_client import Counter, Gauge

from vodtender.clients.helix import HelixClient, HelixNotFound
from vodtender.pipeline import vods
from vodtender.pipeline.catalog.channels import ChannelDirectory
from vodtender.pipeline.catalog.expiry import deletion_deadline
from vodtender.pipeline.catalog.helix_records import VideoRecord, parse_video
from vodtender.pipeline.kv import (
    broadcaster_type_key,
    catalog_cursor_key,
    catalog_last_sync_key,
    catalog_run_key,
    kv_delete,
    kv_get,
    kv_set,
)
from vodtender.runtime.clock import from_unix
from vodtender.runtime.db import write
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod, utcnow
from vodtender.runtime.options import Settings

log = get_logger("poller")

UNKNOWN_CHANNEL_RETRY = 600.0  # with no channel known on Twitch, look them up again this soon

LAST_SYNC = Gauge("vodtender_catalog_last_sync_timestamp_seconds", "end of the last complete catalog run", ["channel"])
CATALOG_VODS = Gauge(
    "vodtender_catalog_vods", "VODs of the channel in the database (placeholders excluded)", ["channel"]
)
VODS_ADDED = Counter("vodtender_catalog_vods_added_total", "VODs first found by the catalog backfill", ["channel"])
VODS_MISSING = Counter(
    "vodtender_catalog_vods_missing_total",
    "VODs marked helix_missing: gone from Helix before they were downloaded",
    ["channel"],
)


def upsert_videos(records: Sequence[VideoRecord], channel: str) -> int:
    """Insert new VODs, refresh the metadata of known ones; returns how many were new.

    Call inside a `write()` transaction.  Pipeline columns of known VODs are never touched.  The
    deletion deadline comes from the channel's broadcaster type as last seen on Helix (none if never).
    """
    broadcaster_type = kv_get(broadcaster_type_key(channel))
    return vods.store_listed(
        channel,
        [
            {
                "twitch_vod_id": r.id,
                "user_id": r.user_id,
                "title": r.title,
                "description": r.description,
                "date": r.created_at,
                "duration_seconds": r.duration_seconds,
                "stream_id": r.stream_id,
                "type": r.type,
                "vod_url": r.url,
                "thumbnail_url": r.thumbnail_url,
                "muted_segments": r.muted_segments,
                "deletion_deadline": deletion_deadline(r.type, r.created_at, broadcaster_type),
            }
            for r in records
        ],
    )


def count_vods(channel: str) -> int:
    return Vod.select().where((Vod.channel == channel) & (Vod.is_placeholder == 0)).count()


@dataclasses.dataclass
class ChannelRun:
    """Progress of one channel's run, as kept in kv."""

    started: float
    seen: int = 0
    pages: int = 0
    added: int = 0
    oldest: str | None = None  # ISO created_at of the oldest VOD stored by this run

    @classmethod
    def load(cls, channel: str) -> ChannelRun:
        try:
            data = json.loads(kv_get(catalog_run_key(channel), "") or "")
            return cls(
                float(data["started"]),
                int(data["seen"]),
                int(data["pages"]),
                int(data.get("added", 0)),
                data.get("oldest"),
            )
        except (ValueError, KeyError, TypeError):
            return cls(started=time.time())


@dataclasses.dataclass(frozen=True)
class CatalogLimits:
    """What one channel's run lists: VOD_CATALOG_TYPES, VOD_CATALOG_MAX, VOD_CATALOG_MAX_AGE_DAYS (0: no limit)."""

    types: tuple[str, ...] = ("archive",)
    max_vods: int = 0
    max_age_days: int = 0

    @classmethod
    def of(cls, settings: Settings) -> CatalogLimits:
        return cls(
            tuple(settings.vod_catalog_types) or ("archive",),
            settings.vod_catalog_max,
            settings.vod_catalog_max_age_days,
        )

    @property
    def helix_type(self) -> str:
        return self.types[0] if len(self.types) == 1 else "all"


class CatalogSync:
    """One round = one run per channel; `step()` fetches and stores one page.  `limits_for(channel)`:
    that channel's limits (a `[channel]` section may set its own)."""

    def __init__(
        self,
        client: HelixClient,
        directory: ChannelDirectory,
        limits_for: Callable[[str], CatalogLimits],
        live_stream_ids: Callable[[], set[str]],
        page_size: int = 100,
    ):
        self.client = client
        self.directory = directory
        self.limits_for = limits_for
        self.live_stream_ids = live_stream_ids
        self.page_size = page_size
        self.pending: list[str] = []
        self.round_active = False
        self.synced_at: dict[str, float] = {}  # channel -> end of its last complete run (unix)
        self.listed = 0  # VODs the current channel's run has listed so far, for STATUS=
        for login in directory.logins:
            last = kv_get(catalog_last_sync_key(login))
            if last:
                self.synced_at[login] = float(last)
                LAST_SYNC.labels(login).set(float(last))

    def start_round(self) -> None:
        self.pending = list(self.directory.known())
        self.round_active = bool(self.pending)

    def current(self) -> str | None:
        return self.pending[0] if self.pending else None

    def advance(self, interval: float) -> float:
        """The poller's catalog job: start a round (one users lookup: it notices renames), or store
        one page; returns the delay to the next step (`interval` once the round is over)."""
        if not self.round_active:
            self.directory.resolve(self.client)
            self.start_round()
            return 0.0 if self.round_active else min(UNKNOWN_CHANNEL_RETRY, interval)
        return interval if self.step() else 0.0

    def step(self) -> bool:
        """Fetch and store one page of the current channel; True when the round is over."""
        if not self.pending:
            self.round_active = False
            return True
        channel = self.pending[0]
        user_id = self.directory.user_id(channel)
        if user_id is None:
            self.pending.pop(0)
            return not self.pending
        limits = self.limits_for(channel)
        cursor_key = catalog_cursor_key(channel)
        cursor = kv_get(cursor_key)
        run = ChannelRun.load(channel)
        if cursor is None and run.pages == 0:
            log.info("catalog sync started", channel=channel)
        try:
            items, next_cursor = self.client.videos(user_id, limits.helix_type, self.page_size, cursor)
        except HelixNotFound:
            if cursor is None:
                raise
            # Cursors do not live forever; the upserts make starting over from the top harmless.
            log.warning("stored catalog cursor refused by Helix; the run restarts from the newest VOD", channel=channel)
            kv_delete(cursor_key)
            kv_set(catalog_run_key(channel), json.dumps(dataclasses.asdict(ChannelRun(started=run.started))))
            return False
        records, cut = self._select(items, run, limits)
        finished = cut or next_cursor is None or not items
        run.pages += 1
        run.seen += len(records)
        self.listed = run.seen
        if records:
            run.oldest = min(r.created_at for r in records).isoformat()

        def store() -> int:
            added = upsert_videos(records, channel)
            if finished:
                kv_delete(cursor_key, catalog_run_key(channel))
                kv_set(catalog_last_sync_key(channel), str(time.time()))
            else:
                kv_set(cursor_key, next_cursor)
                kv_set(catalog_run_key(channel), json.dumps({**dataclasses.asdict(run), "added": run.added + added}))
            return added

        added = write(store)
        run.added += added
        VODS_ADDED.labels(channel).inc(added)
        if finished:
            missing = self._mark_missing(channel, run, cut, limits.types)
            self._finish(channel, run, missing)
        return not self.pending

    def _select(self, items: list, run: ChannelRun, limits: CatalogLimits) -> tuple[list[VideoRecord], bool]:
        """The page's usable, wanted VODs; `cut` when the run must stop here (max count or age reached)."""
        cutoff = utcnow() - dt.timedelta(days=limits.max_age_days) if limits.max_age_days > 0 else None
        live = self.live_stream_ids()
        out: list[VideoRecord] = []
        for record in map(parse_video, items):
            if record is None or record.type not in limits.types:
                continue
            if cutoff is not None and record.created_at < cutoff:
                return out, True
            if limits.max_vods > 0 and run.seen + len(out) >= limits.max_vods:
                return out, True
            if record.stream_id and record.stream_id in live:
                continue  # still being recorded: reconciliation inserts it once the stream has ended
            out.append(record)
        return out, False

    def _mark_missing(self, channel: str, run: ChannelRun, cut: bool, types: Sequence[str]) -> int:
        """Mark VODs this run should have listed but did not; a cut run judges only the range it covered."""
        if cut and run.oldest is None:
            return 0
        started = from_unix(run.started)
        cond = (
            (Vod.channel == channel)
            & (Vod.is_placeholder == 0)
            & (Vod.helix_missing == 0)
            & (Vod.processed == 0)
            & (Vod.download_state != vods.DOWNLOADED)
            & Vod.type.in_(list(types))
            & (Vod.helix_seen_at.is_null() | (Vod.helix_seen_at < started))
            & vods.lease_free()
        )
        if cut and run.oldest is not None:  # always set when cut: a cut run without it returned above
            cond &= Vod.date >= dt.datetime.fromisoformat(run.oldest)
        live = self.live_stream_ids()
        if live:  # skipped on purpose while their stream is live, not gone
            cond &= Vod.stream_id.is_null() | Vod.stream_id.not_in(list(live))

        def mark() -> list[Vod]:
            gone = list(Vod.select(Vod.id, Vod.twitch_vod_id).where(cond))
            vods.mark_helix_missing(gone)
            return gone

        gone = write(mark)
        for vod in gone:
            log.warning(
                "VOD gone from Helix before it was downloaded; marked helix_missing",
                channel=channel,
                vod_id=vod.twitch_vod_id,
            )
        VODS_MISSING.labels(channel).inc(len(gone))
        return len(gone)

    def _finish(self, channel: str, run: ChannelRun, missing: int) -> None:
        self.pending.pop(0)
        self.round_active = bool(self.pending)
        self.synced_at[channel] = time.time()
        LAST_SYNC.labels(channel).set(self.synced_at[channel])
        total = count_vods(channel)
        CATALOG_VODS.labels(channel).set(total)
        log.info(
            "catalog sync done",
            channel=channel,
            listed=run.seen,
            new=run.added,
            missing=missing,
            pages=run.pages,
            total=total,
        )

    def describe(self) -> list[str]:
        """STATUS= parts: the channel being backfilled, and when the catalog was last synced."""
        parts = []
        channel = self.current() if self.round_active else None
        synced = self.last_synced()
        if channel is not None:
            parts.append(f"backfilling {channel} ({self.listed} VODs listed)")
        if synced is not None:
            parts.append("catalog synced " + from_unix(synced).strftime("%Y-%m-%d %H:%M UTC"))
        elif channel is None:
            parts.append("catalog not synced yet")
        return parts

    def last_synced(self) -> float | None:
        """When the least recently synced channel last finished a run (None while one never did)."""
        logins = self.directory.logins
        if not logins or any(c not in self.synced_at for c in logins):
            return None
        return min(self.synced_at[c] for c in logins)
