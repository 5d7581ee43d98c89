"""Reconciliation: after a stream ends, move its placeholder's chat onto the real archive VOD.

VOD_RECONCILE_DELAY after `live_ended_at`, the archive VOD is looked for: in `vods` first (the
catalog may have stored it), else in the channel's newest Helix videos, by `stream_id`, and
failing that (a VOD without a stream id) by start time within VOD_RECONCILE_MATCH_WINDOW.
A VOD whose stream id names another stream never matches, so two streams in one evening
each keep their own chat.  The move is one transaction: chat rows re-pointed with
`rel_timestamp` shifted by (placeholder start - VOD start), the placeholder's priority
carried over, the placeholder deleted.  Chat rows are never deleted.

After VOD_RECONCILE_WINDOW without a match the placeholder is reported once (warning,
metric, a `vod_events` row) and kept with its chat; the database is still checked now and
then, so a VOD that the catalog finds later is reconciled after all.
"""

from __future__ import annotations

import functools
import json
import time

from prometheus_client import Counter, Gauge

from vodtender.clients.helix import HelixClient
from vodtender.pipeline import vods
from vodtender.pipeline.catalog.channels import ChannelDirectory
from vodtender.pipeline.catalog.helix_records import VideoRecord, parse_video
from vodtender.pipeline.catalog.sync import upsert_videos
from vodtender.pipeline.chat.rows import repoint_chat
from vodtender.pipeline.kv import RECONCILED_PREFIX, kv_delete, kv_set, kv_with_prefix, reconciled_key
from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.db import write
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod

log = get_logger("poller")

UNRECONCILED = Gauge(
    "vodtender_placeholders_unreconciled", "ended live placeholders whose VOD was not found within VOD_RECONCILE_WINDOW"
)
RECONCILED = Counter("vodtender_placeholders_reconciled_total", "placeholders whose chat moved to the real VOD")
GAVE_UP = Counter(
    "vodtender_placeholders_given_up_total", "placeholders reported as never reconciled (window passed without a VOD)"
)

RECENT_VIDEOS = 20  # the archive of a stream that just ended is among the newest few
LATE_CHECK_INTERVAL = 300.0  # given-up placeholders: look for a VOD the catalog found later
IDLE_CHECK = 30.0  # how often the database is checked for ended placeholders
MOVED_KEEP = 86400.0  # seconds a `reconciled:<placeholder>` key stays, for late chat rows


def find_match(placeholder: Vod, videos: list[VideoRecord], match_window: float) -> VideoRecord | None:
    """The placeholder's archive among these videos: same stream id, else the nearest start without a stream id."""
    archives = [v for v in videos if v.type == "archive"]
    if placeholder.stream_id:
        for video in archives:
            if video.stream_id == placeholder.stream_id:
                return video

    def distance(video: VideoRecord) -> float:
        assert placeholder.date is not None, "a placeholder is opened with its stream's start time"
        return abs(unix_seconds(video.created_at) - unix_seconds(placeholder.date))

    candidates = [
        v for v in archives if (v.stream_id is None or not placeholder.stream_id) and distance(v) <= match_window
    ]
    return min(candidates, key=distance, default=None)


def move_chat(placeholder_pk: int, video: VideoRecord | None, real_vod_id: str) -> int | None:
    """The reconciliation transaction; returns the chat rows moved, None if the placeholder is already gone."""

    def run() -> int | None:
        placeholder = Vod.get_or_none((Vod.id == placeholder_pk) & (Vod.is_placeholder == 1))
        if placeholder is None:
            return None
        if video is not None:
            upsert_videos([video], placeholder.channel)
        real = Vod.get(Vod.twitch_vod_id == real_vod_id)
        assert placeholder.date is not None, "a placeholder is opened with its stream's start time"
        assert real.date is not None, "an archive VOD's row carries Helix's created_at"
        shift = (placeholder.date - real.date).total_seconds()
        moved = repoint_chat(placeholder.twitch_vod_id, real.twitch_vod_id, shift, unix_seconds(real.date))
        kv_set(
            reconciled_key(placeholder.twitch_vod_id),
            json.dumps(
                {"vod": real.twitch_vod_id, "shift": shift, "start": unix_seconds(real.date), "at": time.time()}
            ),
        )
        vods.replace_placeholder(
            placeholder,
            real,
            f"chat of {placeholder.twitch_vod_id} moved here: {moved} rows, rel_timestamp shifted by {shift:+.3f}s",
        )
        return moved

    return write(run)


def move_late_chat() -> int:
    """Chat rows written for a placeholder after it was reconciled (a recorder's buffer flushed late).

    Each reconciliation leaves `reconciled:<placeholder>` in kv for a day; rows still naming
    that placeholder are moved the same way.  Lookups by `vod_id` use its index: cheap.
    """
    moved = 0
    for placeholder_vod_id, value in kv_with_prefix(RECONCILED_PREFIX).items():
        try:
            data = json.loads(value or "")
            real_vod_id, shift, start, at = str(data["vod"]), float(data["shift"]), float(data["start"]), data["at"]
        except (ValueError, KeyError, TypeError):
            kv_delete(reconciled_key(placeholder_vod_id))
            continue
        if time.time() - float(at) > MOVED_KEEP:
            kv_delete(reconciled_key(placeholder_vod_id))
            continue
        count = write(functools.partial(repoint_chat, placeholder_vod_id, real_vod_id, shift, start))
        if count:
            log.info(
                "late chat rows moved to the reconciled VOD",
                placeholder=placeholder_vod_id,
                vod_id=real_vod_id,
                chat_rows=count,
            )
        moved += count
    return moved


class Reconciler:
    """Finds ended placeholders and reconciles one per `step()`."""

    def __init__(
        self, client: HelixClient, directory: ChannelDirectory, delay: float, window: float, match_window: float
    ):
        self.client = client
        self.directory = directory
        self.delay = delay
        self.window = window
        self.match_window = match_window
        self.retry_interval = min(60.0, max(1.0, window / 10))
        self._next_try: dict[int, float] = {}  # placeholder pk -> unix time of the next attempt

    def ended(self) -> list[Vod]:
        return list(
            Vod.select().where((Vod.is_placeholder == 1) & Vod.live_ended_at.is_null(False)).order_by(Vod.live_ended_at)
        )

    def _first_try(self, vod: Vod) -> float:
        assert vod.live_ended_at is not None, "only ended() placeholders are tried"
        return unix_seconds(vod.live_ended_at) + self.delay

    def _given_up(self, vod: Vod) -> bool:
        return vods.reported_unreconciled(vod.id)

    def next_due(self) -> float | None:
        """Seconds until the next attempt is due; None when no placeholder waits."""
        ended = self.ended()
        self._report_unreconciled(ended)
        if not ended:
            return None
        now = time.time()
        return max(0.0, min(self._next_try.get(v.id, self._first_try(v)) for v in ended) - now)

    def advance(self) -> float:
        """The poller's reconcile job: one attempt; returns the delay to the next."""
        self.step()
        wait = self.next_due()
        return IDLE_CHECK if wait is None else min(wait, IDLE_CHECK)

    def step(self) -> None:
        move_late_chat()
        now = time.time()
        due = [v for v in self.ended() if self._next_try.get(v.id, self._first_try(v)) <= now]
        if not due:
            return
        placeholder = due[0]
        given_up = self._given_up(placeholder)
        self._next_try[placeholder.id] = now + (LATE_CHECK_INTERVAL if given_up else self.retry_interval)
        if self._reconcile_from_db(placeholder) or given_up:
            return
        if self._reconcile_from_helix(placeholder):
            return
        if now >= self._first_try(placeholder) + self.window:
            self._give_up(placeholder)

    def _reconcile_from_db(self, placeholder: Vod) -> bool:
        if not placeholder.stream_id:
            return False
        real = (
            Vod.select()
            .where((Vod.stream_id == placeholder.stream_id) & (Vod.is_placeholder == 0) & (Vod.type == "archive"))
            .first()
        )
        return real is not None and self._done(placeholder, None, real.twitch_vod_id)

    def _reconcile_from_helix(self, placeholder: Vod) -> bool:
        user_id = placeholder.user_id or self.directory.user_id(placeholder.channel)
        if user_id is None:
            return False
        items, _ = self.client.videos(user_id, "archive", RECENT_VIDEOS)
        video = find_match(placeholder, [v for v in map(parse_video, items) if v is not None], self.match_window)
        return video is not None and self._done(placeholder, video, video.id)

    def _done(self, placeholder: Vod, video: VideoRecord | None, real_vod_id: str) -> bool:
        moved = move_chat(placeholder.id, video, real_vod_id)
        self._next_try.pop(placeholder.id, None)
        if moved is not None:
            RECONCILED.inc()
            log.info(
                "placeholder reconciled: chat moved to the VOD",
                channel=placeholder.channel,
                placeholder=placeholder.twitch_vod_id,
                vod_id=real_vod_id,
                chat_rows=moved,
            )
        return True

    def _give_up(self, placeholder: Vod) -> None:
        vods.never_reconciled(placeholder.id, "no archive VOD found within VOD_RECONCILE_WINDOW; chat kept here")
        GAVE_UP.inc()
        self._next_try[placeholder.id] = time.time() + LATE_CHECK_INTERVAL
        log.warning(
            "placeholder never reconciled: no archive VOD appeared; its chat stays on the placeholder",
            channel=placeholder.channel,
            placeholder=placeholder.twitch_vod_id,
            stream_id=placeholder.stream_id,
            waited=f"{self.delay + self.window:.0f}s",
        )

    def _report_unreconciled(self, ended: list[Vod]) -> None:
        now = time.time()
        UNRECONCILED.set(sum(1 for v in ended if now >= self._first_try(v) + self.window))
