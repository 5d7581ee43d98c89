"""The rows every chat export reads: a VOD's chat events and recorder gaps, aligned to the VOD.

Offsets are `rel_timestamp` (seconds from the VOD's start, already shifted to the real VOD by
reconciliation; for a live recording, from the placeholder's start).  `describe` says in plain
words what one event shows, so the subtitle formats mark the same things: deletions, timeouts,
bans and clears, mirrored (shared-chat) and replayed messages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from vodtender.pipeline.chat.search import ChatHit
from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.models import ChatGap, ChatMessage, Vod

CUE_SECONDS = 5.0  # how long a chat line stays on screen in the subtitle formats


class NoChat(Exception):
    """The VOD has neither chat rows nor gaps: there is nothing to export."""


@dataclass(frozen=True)
class Gap:
    start: float  # offsets from the VOD start, clamped to the VOD
    end: float
    reason: str


@dataclass(frozen=True)
class Line:
    """What one chat event shows, before any format's markup."""

    style: str  # say, action, notice, moderation
    speaker: str  # display name, empty for notices and moderation
    text: str  # a notice's system message, a moderation's words
    marks: tuple[str, ...]  # e.g. "deleted by a moderator", "shared from #other"
    said: str = ""  # the message a user sent with a notice (a resub's text)


class StoredEvent(Protocol):
    """What `flags` and `reply_to` read of a chat event: a ChatMessage, or a row of just these columns."""

    @property
    def kind(self) -> str: ...
    @property
    def notice_type(self) -> str | None: ...
    @property
    def deleted(self) -> int: ...
    @property
    def mirrored(self) -> int: ...
    @property
    def origin(self) -> str: ...
    @property
    def reply_parent_msg_id(self) -> str | None: ...
    @property
    def reply_parent_user_login(self) -> str | None: ...
    @property
    def reply_parent_display_name(self) -> str | None: ...
    @property
    def reply_parent_msg_body(self) -> str | None: ...


def vod_window(vod: Vod) -> tuple[float, float]:
    """The VOD's span in unix seconds (a live placeholder runs until now)."""
    start = unix_seconds(vod.date) if vod.date else 0.0
    if vod.duration_seconds:
        return start, start + vod.duration_seconds
    end = vod.live_ended_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return start, unix_seconds(end)


def chat_rows(vod: Vod) -> list[ChatMessage]:
    return list(
        ChatMessage.select()
        .where(ChatMessage.vod_id == vod.twitch_vod_id)
        .order_by(ChatMessage.rel_timestamp, ChatMessage.abs_timestamp, ChatMessage.id)
    )


def gaps(vod: Vod) -> list[Gap]:
    """Recorder gaps of the VOD's channel that overlap it (an open gap lasts until now)."""
    start, end = vod_window(vod)
    now = dt.datetime.now(dt.UTC).timestamp()
    found = []
    overlaps = (ChatGap.started_at < end) & (ChatGap.ended_at.is_null() | (ChatGap.ended_at > start))
    query = ChatGap.select().where((ChatGap.channel == vod.channel.lower()) & overlaps).order_by(ChatGap.started_at)
    for gap in query:
        found.append(Gap(max(0.0, gap.started_at - start), min(end, gap.ended_at or now) - start, gap.reason))
    return found


def rows_and_gaps(vod: Vod) -> tuple[list[ChatMessage], list[Gap]]:
    """Both, or NoChat when the VOD has neither (an empty export would look like a quiet chat)."""
    rows, found = chat_rows(vod), gaps(vod)
    if not rows and not found:
        raise NoChat(f"no chat recorded for VOD {vod.twitch_vod_id}")
    return rows, found


def offset(seconds: float | None) -> float | None:
    """An offset to the millisecond: a double's noise (20.418999910354614) is no information."""
    return None if seconds is None else round(seconds, 3)


def one_line(text: str) -> str:
    return " ".join(text.split())


def describe(m: ChatMessage) -> Line | None:
    """The event in words; None for a CLEARMSG (the deleted message itself carries the mark) and an empty line."""
    name = one_line(m.display_name or m.username or "")
    text = one_line(m.message or "")
    if m.kind in ("message", "action") and not text:
        return None  # nothing to show; an empty cue would end a subtitle block early
    if m.kind in ("message", "action"):
        return Line("say" if m.kind == "message" else "action", name, text, marks(m))
    if m.kind == "usernotice":
        return Line("notice", "", one_line(m.system_message or m.notice_type or "notice"), marks(m), said=text)
    if m.kind == "clearchat":
        target = one_line(m.target_user or "")
        words = {"timeout": f"{target} timed out for {m.ban_duration}s", "ban": f"{target} banned"}
        return Line("moderation", "", words.get(m.notice_type or "", "chat cleared by a moderator"), marks(m))
    return None


def flags(m: StoredEvent) -> tuple[str, ...]:
    """What is marked on one event, a word each: deleted, timeout / ban / clear (a CLEARCHAT), mirrored,
    replayed.  The web viewer shows these words; `marks` says the ones a line's text does not in full."""
    found = []
    if m.deleted:
        found.append("deleted")
    if m.kind == "clearchat":
        found.append(m.notice_type if m.notice_type in ("timeout", "ban") else "clear")
    if m.mirrored:
        found.append("mirrored")
    if m.origin == "replay":
        found.append("replayed")
    return tuple(found)


def marks(m: ChatMessage) -> tuple[str, ...]:
    """The flags a subtitle line adds to its text (a CLEARCHAT's own words already say what it did)."""
    words = {"deleted": "deleted by a moderator", "mirrored": f"shared from {mirrored_from(m)}", "replayed": "replayed"}
    return tuple(words[flag] for flag in flags(m) if flag in words)


def reply_to(m: StoredEvent) -> dict | None:
    """The message this one replies to, as Twitch's `reply-parent-*` tags name it."""
    if not m.reply_parent_msg_id:
        return None
    return {
        "id": m.reply_parent_msg_id,
        "user": m.reply_parent_user_login,
        "display_name": m.reply_parent_display_name,
        "text": m.reply_parent_msg_body,
    }


def mirrored_from(m: ChatMessage | ChatHit) -> str:
    """Where a shared chat mirrored this message from: the channel, else its room id."""
    if m.source_channel:
        return f"#{m.source_channel}"
    return f"room {m.source_room_id}" if m.source_room_id else "another channel"
