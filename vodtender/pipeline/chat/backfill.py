"""Chat of VODs recorded before the recorder ran: their comment replay, stored as `origin='replay'`.

One `ReplayBackfill.run_once()` fetches one page per call of the VOD it is working on, so the chat
daemon's loop stays short and stoppable, and `backfill()` runs a VOD to its end (the CLI).  Where it
stopped is kept in kv per VOD (the cursor, or the offset when paging by offset), so a kill mid-way
resumes there; a page stored twice inserts nothing (the replay's comment ids are the rows' msg_ids).
A VOD that has live-recorded chat is not backfilled unless forced: then its replay comments are
added next to the live rows (the ids differ from IRC's, so a message may be there twice, once per
origin; `origin` tells them apart in show and exports).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import peewee
from prometheus_client import Counter

from vodtender.clients.twitch_gql import Comment, CursorRefused, ReplayRefused, ReplayUnavailable, TwitchGql
from vodtender.pipeline.kv import kv_delete, kv_get, kv_set, kv_with_prefix
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import ChatMessage, Vod, database_proxy

log = get_logger("chat")

BACKFILLED = Counter("vodtender_chat_backfilled_total", "comment-replay messages stored by backfill")
STOPPED = Counter(
    "vodtender_chat_backfill_failures_total",
    "comment-replay pages not fetched: unavailable (asked again later) or refused (the VOD is left)",
    ["reason"],
)
for _reason in ("unavailable", "refused"):
    STOPPED.labels(_reason)
RETRY_MAX = 600.0  # seconds: the longest wait before asking an unavailable Twitch again
CLI_RETRIES = 4  # `vodtender chat backfill` asks an unavailable Twitch this many times more (2+4+8+16 s)
PROGRESS_PREFIX = "chat_backfill:"
DONE = "done"
IDLE_RECHECK = 300.0  # seconds between looks at the catalog when every VOD has chat
MAX_PAGES = 100_000  # a bound on one VOD: some tens of comments a page, millions of comments


def has_live_chat(vod_id: str) -> bool:
    return ChatMessage.select().where((ChatMessage.vod_id == vod_id) & (ChatMessage.origin == "live")).exists()


def vods_without_chat() -> list[str]:
    """Catalog VODs (not live placeholders) with no live-recorded chat and no finished backfill."""
    done = {key for key, value in kv_with_prefix(PROGRESS_PREFIX).items() if value == DONE}
    with_chat = ChatMessage.select(ChatMessage.id).where(
        (ChatMessage.vod_id == Vod.twitch_vod_id) & (ChatMessage.origin == "live")
    )
    rows = Vod.select(Vod.twitch_vod_id).where((Vod.is_placeholder == 0) & ~peewee.fn.EXISTS(with_chat))
    return [v.twitch_vod_id for v in rows.order_by(Vod.id) if v.twitch_vod_id not in done]


def _row(vod: Vod, c: Comment) -> dict[str, object]:
    return {
        "msg_id": c.comment_id,
        "channel": vod.channel,
        "vod_id": vod.twitch_vod_id,
        "kind": "message",
        "username": c.login,
        "display_name": c.display_name,
        "user_id": c.user_id,
        "message": c.text,
        "abs_timestamp": c.created_at,
        "rel_timestamp": c.offset,
        "badges": c.badges,
        "emotes": c.emotes,
        "color": c.color,
        "origin": "replay",
    }


class VodReplay:
    """One VOD's replay, page by page, from where kv says it stopped."""

    def __init__(self, client: TwitchGql, vod: Vod):
        self.client = client
        self.vod = vod
        self.key = PROGRESS_PREFIX + vod.twitch_vod_id

    @property
    def done(self) -> bool:
        return kv_get(self.key) == DONE

    def restart(self) -> None:
        kv_delete(self.key)

    def step(self) -> int:
        """Fetch and store one page; the number of comments it held.  Raises ReplayRefused."""
        state = json.loads(kv_get(self.key) or "{}")
        cursor, offset = state.get("cursor"), float(state.get("offset", 0.0))
        try:
            page = self.client.comments(self.vod.twitch_vod_id, cursor=cursor, offset=offset)
            by_offset = cursor is None and state.get("by_offset", False)
        except CursorRefused as exc:
            log.warning(
                "chat backfill: cursor paging refused, paging by offset",
                vod=self.vod.twitch_vod_id,
                reason=str(exc),
                offset=round(offset),
            )
            page = self.client.comments(self.vod.twitch_vod_id, offset=offset)
            by_offset = True
        with database_proxy.obj.atomic():
            if page.comments:
                ChatMessage.insert_many([_row(self.vod, c) for c in page.comments]).on_conflict_ignore().execute()
            last = max((c.offset for c in page.comments), default=offset)
            if page.next_cursor is None:
                kv_set(self.key, DONE)
            elif by_offset:
                # the next page starts at the last offset seen (its comments skipped as stored), or
                # one second on when a whole page sits in one second
                kv_set(self.key, json.dumps({"offset": last if last > offset else offset + 1, "by_offset": True}))
            else:
                kv_set(self.key, json.dumps({"cursor": page.next_cursor, "offset": last}))
        BACKFILLED.inc(len(page.comments))
        return len(page.comments)


def retry_delay(vod_id: str, exc: ReplayUnavailable, pace: float, failures: int) -> float:
    """Count and log an unavailable answer; the seconds before asking again after `failures` of them
    in a row: doubling, bounded."""
    STOPPED.labels("unavailable").inc()
    delay = min(max(pace, 1.0) * 2**failures, RETRY_MAX)
    log.warning("chat backfill: Twitch unavailable, asking again", vod=vod_id, reason=str(exc), retry_in=delay)
    return delay


def backfill(client: TwitchGql, vod: Vod, pace: float, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run one VOD's replay to its end; the comments fetched.  An unavailable Twitch is asked again
    CLI_RETRIES times, then ReplayUnavailable is raised (what is stored stays, and a rerun resumes)."""
    replay = VodReplay(client, vod)
    total = failures = 0
    for _ in range(MAX_PAGES):
        if replay.done:
            break
        try:
            total += replay.step()
        except ReplayUnavailable as exc:
            failures += 1
            if failures > CLI_RETRIES:
                raise
            sleep(retry_delay(vod.twitch_vod_id, exc, 0.0, failures))
            continue
        failures = 0
        log.info("chat backfill progress", vod=vod.twitch_vod_id, comments=total)
        if not replay.done:
            sleep(pace)
    return total


class CatalogBackfill:
    """CHAT_BACKFILL=1 in the chat daemon: one page per `run_once()` of the first catalog VOD
    without chat, at most one page per `pace` seconds.  A VOD Twitch refuses is logged once and
    left for this run (its progress stays in kv for the next); while Twitch is unavailable (no
    connection, 429, 5xx) the same page is asked for again, later each time (retry_delay)."""

    def __init__(self, client: TwitchGql, pace: float, clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.pace = pace
        self.clock = clock
        self.next_at = 0.0
        self.refused: set[str] = set()
        self.current: VodReplay | None = None
        self.fetched = 0
        self.failures = 0  # unavailable answers in a row

    def run_once(self) -> float:
        """Seconds until the next page is due."""
        now = self.clock()
        if now < self.next_at:
            return self.next_at - now
        self.next_at = now + self.pace
        if self.current is None or self.current.done:
            self.current = self._next_vod()
            if self.current is None:
                self.next_at = now + IDLE_RECHECK
                return IDLE_RECHECK
        vod_id = self.current.vod.twitch_vod_id
        try:
            self.fetched += self.current.step()
        except ReplayUnavailable as exc:
            self.failures += 1
            delay = retry_delay(vod_id, exc, self.pace, self.failures)
            self.next_at = now + delay
            return delay
        except ReplayRefused as exc:
            STOPPED.labels("refused").inc()
            self.failures = 0
            log.error("chat backfill stopped: Twitch refused the comment replay", vod=vod_id, reason=str(exc))
            self.refused.add(vod_id)
            self.current = None
            return self.pace
        self.failures = 0
        if self.current.done:
            log.info("chat backfill finished", vod=vod_id, comments=self.fetched)
            self.fetched = 0
        return self.pace

    def _next_vod(self) -> VodReplay | None:
        for vod_id in vods_without_chat():
            if vod_id not in self.refused:
                return VodReplay(self.client, Vod.get(Vod.twitch_vod_id == vod_id))
        return None

    def status(self) -> str:
        if self.current is None or self.current.done:
            return "chat backfill idle"
        return f"chat backfill of VOD {self.current.vod.twitch_vod_id}: {self.fetched} comments"
