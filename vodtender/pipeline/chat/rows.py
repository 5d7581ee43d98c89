"""Every write of `chat_messages` and `chat_gaps`: the one owner of the chat rows' life cycle.

A message row is inserted once per channel and id (a copy seen on both connections during a RECONNECT is
skipped), bound to its channel's live placeholder (at insert, or afterwards for rows stored before
the poller saw the stream), marked `deleted` by a CLEARMSG, re-pointed to the real VOD when
reconciliation replaces the placeholder, and re-timed when a live recording becomes the VOD's file.
Chat rows are never deleted.  A gap row is opened when a channel stops being joined (or at start-up,
after a run that did not stop cleanly) and closed by the next join; a first join after the
stream started records the span from the stream's start as a gap of its own.

Each function runs inside the caller's write transaction, except `open_gaps_left_by_a_crash`,
which is one on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import peewee

from vodtender.pipeline.chat.events import ROW_COLUMNS, ChatEvent, MessageRow
from vodtender.runtime import db as dbmod
from vodtender.runtime.models import ChatGap, ChatMessage, ChatQuarantine, database_proxy

PG_ROWS_PER_STATEMENT = 500
CRASH_GAP_REASON = "recorder did not stop cleanly"
LATE_JOIN_GAP_REASON = "joined after the stream started"
# Ids are unique per channel: a shared chat sends one message to each channel of its session.
_ON_CONFLICT = " ON CONFLICT (channel, msg_id) DO NOTHING"


def insert_messages(rows: Sequence[MessageRow]) -> None:
    """Insert rows, skipping ids already stored in their channel.  SQLite: executemany (in-process, fastest);
    PostgreSQL: multi-row VALUES, one round trip per PG_ROWS_PER_STATEMENT rows instead of one per row."""
    if not rows:
        return
    db = database_proxy.obj
    cursor = db.cursor()
    prefix = f"INSERT INTO chat_messages ({', '.join(ROW_COLUMNS)}) VALUES "
    one_row = "(" + ", ".join([db.param] * len(ROW_COLUMNS)) + ")"
    if not isinstance(db, peewee.PostgresqlDatabase):
        cursor.executemany(prefix + one_row + _ON_CONFLICT, rows)
        return
    for start in range(0, len(rows), PG_ROWS_PER_STATEMENT):
        chunk = rows[start : start + PG_ROWS_PER_STATEMENT]
        cursor.execute(
            prefix + ", ".join([one_row] * len(chunk)) + _ON_CONFLICT,
            [value for row in chunk for value in row],
        )


def quarantine(event: ChatEvent, error: str) -> None:
    """Keep a line the database refused as a row, as received; what no column could hold is replaced
    (NUL, lone surrogates) so that this insert cannot fail the same way."""

    def storable(text: str) -> str:
        return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")

    ChatQuarantine.insert(
        channel=storable(event.channel),
        msg_id=storable(event.msg_id),
        received_at=event.received_at,
        raw_line=storable(event.raw_line),
        error=storable(error),
    ).execute()


def bind_offline_messages(channel: str, vod_id: str, start: float) -> None:
    """Rows of `channel` stored without a VOD since `start` (the stream began before the poller saw it)
    join the live placeholder `vod_id`, `rel_timestamp` counted from `start`."""
    p = database_proxy.obj.param
    database_proxy.obj.cursor().execute(
        f"UPDATE chat_messages SET vod_id = {p}, rel_timestamp = abs_timestamp - {p} "
        f"WHERE channel = {p} AND vod_id IS NULL AND abs_timestamp >= {p}",
        (vod_id, start, channel, start),
    )


def mark_deleted(deletions: Sequence[tuple[str, str]]) -> None:
    """A moderator deleted these (channel, msg_id) messages (CLEARMSG): the rows stay, marked.  Only in the
    CLEARMSG's channel: a shared chat's copy elsewhere is that channel's moderators' to delete."""
    if not deletions:
        return
    p = database_proxy.obj.param
    database_proxy.obj.cursor().executemany(
        f"UPDATE chat_messages SET deleted = 1 WHERE channel = {p} AND msg_id = {p}", deletions
    )


def open_gap(channel: str, started_at: float, reason: str) -> None:
    ChatGap.insert(channel=channel, started_at=started_at, reason=reason).execute()


def close_gap(channel: str, ended_at: float) -> None:
    """Ends the channel's open gap; nothing when none is open."""
    ChatGap.update(ended_at=ended_at).where((ChatGap.channel == channel) & ChatGap.ended_at.is_null()).execute()


def record_missed_start(channel: str, stream_start: float, joined_at: float) -> bool:
    """The recorder first joined `channel` at `joined_at`, after its stream started: the chat before is
    missing.  Recorded as a closed gap unless a gap of the channel already covers part of that span (the
    last run's stop, a crash): then that run recorded up to it.  True when a gap was added."""
    overlapping = ChatGap.select().where(
        (ChatGap.channel == channel)
        & (ChatGap.started_at < joined_at)
        & (ChatGap.ended_at.is_null() | (ChatGap.ended_at > stream_start))
    )
    if joined_at <= stream_start or overlapping.exists():
        return False
    ChatGap.insert(channel=channel, started_at=stream_start, ended_at=joined_at, reason=LATE_JOIN_GAP_REASON).execute()
    return True


def repoint_chat(placeholder_vod_id: str, real_vod_id: str, shift: float, real_start: float) -> int:
    """Move a reconciled placeholder's chat onto the real VOD; returns the rows moved.

    `rel_timestamp` is shifted by `shift` (placeholder start - VOD start); a row that had none is
    counted from `real_start` (unix seconds)."""
    return (
        ChatMessage.update(
            vod_id=real_vod_id,
            rel_timestamp=peewee.fn.COALESCE(ChatMessage.rel_timestamp + shift, ChatMessage.abs_timestamp - real_start),
        )
        .where(ChatMessage.vod_id == placeholder_vod_id)
        .execute()
    )


class Retiming(Protocol):
    """Chat sent in [start, end) (unix seconds, infinite at the ends) plays at `sent - shift`, or at `fixed`."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def shift(self) -> float: ...
    @property
    def fixed(self) -> float | None: ...


def retime_chat(vod_id: str, spans: Sequence[Retiming]) -> int:
    """The VOD's file has another timeline now (a live recording became its archive): each span's rows get
    their `rel_timestamp` from their own send time, one UPDATE a span.  Returns the rows re-timed."""
    p = database_proxy.obj.param
    cursor = database_proxy.obj.cursor()
    retimed = 0
    for span in spans:
        where: list[str] = [f"vod_id = {p}"]
        args: list[object] = [vod_id]
        if math.isfinite(span.start):
            where.append(f"abs_timestamp >= {p}")
            args.append(span.start)
        if math.isfinite(span.end):
            where.append(f"abs_timestamp < {p}")
            args.append(span.end)
        rel = p if span.fixed is not None else f"abs_timestamp - {p}"
        value = span.fixed if span.fixed is not None else span.shift
        cursor.execute(f"UPDATE chat_messages SET rel_timestamp = {rel} WHERE {' AND '.join(where)}", (value, *args))
        retimed += max(cursor.rowcount, 0)
    return retimed


def open_gaps_left_by_a_crash(channels: list[str]) -> list[str]:
    """Before recording starts: a channel whose last run did not stop cleanly (SIGKILL, power cut)
    has no open gap, yet everything after its last stored message may be lost.  Open a gap there;
    the first join closes it, as it closes the gap a clean stop leaves.  Returns those channels."""

    def open_gaps() -> list[str]:
        opened = []
        for channel in channels:
            if ChatGap.select().where((ChatGap.channel == channel) & ChatGap.ended_at.is_null()).exists():
                continue  # a clean stop (or a drop) already left one open
            last = (
                ChatMessage.select(peewee.fn.MAX(ChatMessage.abs_timestamp))
                .where(ChatMessage.channel == channel)
                .scalar()
            )
            if last is None:
                continue  # never recorded: nothing can have been missed
            open_gap(channel, last, CRASH_GAP_REASON)
            opened.append(channel)
        return opened

    return dbmod.write(open_gaps)
