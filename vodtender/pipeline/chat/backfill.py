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

from vodtender.clients.twitch_gql import Comment, CursorRefused, TwitchGql
from vodtender.pipeline.kv import kv_delete, kv_get, kv_set, kv_with_prefix
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import ChatMessage, Vod, database_proxy

log = get_logger("chat")

BACKFILLED = Counter("vodtender_chat_backfilled_total", "comment-replay messages stored by backfill")
PROGRESS_PREFIX = "chat_backfill:"
DONE = "done"
MAX_PAGES = 100_000  # a bound on one VOD: some tens of comments a page, millions of comments


def has_live_chat(vod_id: str) -> bool:
    return ChatMessage.select().where((ChatMessage.vod_id == vod_id) & (ChatMessage.origin == "live")).exists()


def vods_without_chat() -> list[str]:
    """Catalog VODs (not live placeholders) with no chat row and no finished backfill."""
    done = {key for key, value in kv_with_prefix(PROGRESS_PREFIX).items() if value == DONE}
    with_chat = ChatMessage.select(ChatMessage.id).where(ChatMessage.vod_id == Vod.twitch_vod_id)
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
                "chat backfill of VOD %s: cursor paging refused (%s); paging by offset from %.0fs",
                self.vod.twitch_vod_id,
                exc,
                offset,
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


def backfill(client: TwitchGql, vod: Vod, pace: float, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run one VOD's replay to its end; the comments fetched."""
    replay = VodReplay(client, vod)
    total = 0
    for _ in range(MAX_PAGES):
        if replay.done:
            break
        total += replay.step()
        log.info("chat backfill of VOD %s: %d comments so far", vod.twitch_vod_id, total)
        if not replay.done:
            sleep(pace)
    return total
