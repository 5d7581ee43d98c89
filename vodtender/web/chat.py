"""A window of a VOD's chat, for the replay beside the player: the events between two offsets.

One indexed range read (`chat_messages (vod_id, rel_timestamp)`), at most `limit` rows, so a
window of a VOD with a million messages costs what the window holds.  The lines carry the same
marks the exports show (ops/chat_export/rows.py).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any, Protocol, cast

import peewee

from vodtender.ops.chat_export.rows import Gap, StoredEvent, flags, offset, reply_to
from vodtender.ops.chat_export.rows import gaps as chat_gaps
from vodtender.runtime.models import ChatMessage, Vod
from vodtender.web.archive import BadRequest, parse_float, parse_int

WINDOW_LIMIT, WINDOW_LIMIT_MAX = 500, 2000
DEFAULT_SPAN = 60.0  # seconds a window without `to` covers


class WindowRow(StoredEvent, Protocol):
    """A chat event as the window reads it: a ChatMessage, or a row of `WINDOW_COLUMNS`."""

    @property
    def id(self) -> int: ...
    @property
    def msg_id(self) -> str: ...
    @property
    def rel_timestamp(self) -> float | None: ...
    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def color(self) -> str | None: ...
    @property
    def badges(self) -> str | None: ...
    @property
    def message(self) -> str: ...
    @property
    def system_message(self) -> str | None: ...
    @property
    def target_user(self) -> str | None: ...
    @property
    def ban_duration(self) -> int | None: ...
    @property
    def source_channel(self) -> str | None: ...


# Only what a line shows, read as plain rows: a window of 500 costs a fraction of what model objects would.
WINDOW_COLUMNS = (
    ChatMessage.id,
    ChatMessage.msg_id,
    ChatMessage.rel_timestamp,
    ChatMessage.kind,
    ChatMessage.notice_type,
    ChatMessage.username,
    ChatMessage.display_name,
    ChatMessage.color,
    ChatMessage.badges,
    ChatMessage.message,
    ChatMessage.system_message,
    ChatMessage.deleted,
    ChatMessage.mirrored,
    ChatMessage.origin,
    ChatMessage.target_user,
    ChatMessage.ban_duration,
    ChatMessage.reply_parent_msg_id,
    ChatMessage.reply_parent_user_login,
    ChatMessage.reply_parent_display_name,
    ChatMessage.reply_parent_msg_body,
    ChatMessage.source_channel,
)
WindowRecord = collections.namedtuple("WindowRecord", [column.name for column in WINDOW_COLUMNS])  # type: ignore[misc]


def chat_line(m: WindowRow) -> dict[str, Any]:
    return {
        "id": m.id,
        "msg_id": m.msg_id,
        "offset": offset(m.rel_timestamp),
        "kind": m.kind,
        "notice_type": m.notice_type,
        "user": m.username,
        "display_name": m.display_name,
        "color": m.color,
        "badges": m.badges,
        "text": m.message,
        "system_message": m.system_message,
        "marks": list(flags(m)),
        "deleted": bool(m.deleted),
        "target_user": m.target_user,
        "ban_duration": m.ban_duration,
        "reply_to": reply_to(m),
        "source_channel": m.source_channel,
    }


def gap_line(g: Gap) -> dict[str, Any]:
    return {"offset": offset(g.start), "duration": offset(g.end - g.start), "reason": g.reason}


def window_bounds(args: dict[str, str]) -> tuple[float, float, int]:
    start = parse_float("from", args.get("from"), 0.0)
    end = parse_float("to", args.get("to"), start + DEFAULT_SPAN)
    if end < start:
        raise BadRequest(f"to ({end:g}) is before from ({start:g})")
    return start, end, parse_int("limit", args.get("limit"), WINDOW_LIMIT, 1, WINDOW_LIMIT_MAX)


def window_query(vod: Vod, start: float, end: float, limit: int) -> peewee.ModelSelect[ChatMessage]:
    """The events with `start <= offset < end`, by offset then id; `limit + 1` at most (one more says truncated)."""
    return (
        ChatMessage.select(*WINDOW_COLUMNS)
        .where(
            (ChatMessage.vod_id == vod.twitch_vod_id)
            & (ChatMessage.rel_timestamp >= start)
            & (ChatMessage.rel_timestamp < end)
        )
        .order_by(ChatMessage.rel_timestamp, ChatMessage.id)
        .limit(limit + 1)
    )


def window_rows(vod: Vod, start: float, end: float, limit: int) -> list[WindowRow]:
    """The window's rows as the driver gives them (the columns need no conversion), named by column."""
    sql, params = window_query(vod, start, end, limit).sql()
    cursor = ChatMessage._meta.database.execute_sql(sql, params)
    return cast(list[WindowRow], [WindowRecord._make(row) for row in cursor.fetchall()])


def chat_window(vod: Vod, start: float, end: float, limit: int) -> dict[str, Any]:
    rows = window_rows(vod, start, end, limit)
    return window_answer(vod, start, end, rows[:limit], truncated=len(rows) > limit)


def window_answer(vod: Vod, start: float, end: float, rows: Sequence[WindowRow], *, truncated: bool) -> dict[str, Any]:
    return {
        "vod_id": vod.id,
        "from": start,
        "to": end,
        "messages": [chat_line(m) for m in rows],
        "gaps": [gap_line(g) for g in chat_gaps(vod) if g.start < end and g.end > start],
        "truncated": truncated,
    }
