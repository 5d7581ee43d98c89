"""A VOD's chat as JSON lines or as a WebVTT subtitle track aligned to the VOD.

Offsets are `rel_timestamp` (seconds from the VOD's start, already shifted to the real VOD
by reconciliation).  Both formats show what an archive reader must not miss: messages a
moderator deleted (kept, marked), timeouts/bans/clears, and the gaps when the recorder was
not connected (so silence is not mistaken for an empty chat), and which messages a shared chat
mirrored from another channel (`[from <source>]`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.models import ChatGap, ChatMessage, Vod

CUE_SECONDS = 5.0  # how long a chat line stays on screen
# Line breaks to str.splitlines() (and to JavaScript before ES2019) that JSON leaves raw with ensure_ascii=False.
_JSON_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


@dataclass(frozen=True)
class Gap:
    start: float  # offsets from the VOD start, clamped to the VOD
    end: float
    reason: str


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


def mirrored_from(m: ChatMessage) -> str | None:
    """The channel a shared chat mirrored this message from (its room id when its login is unknown);
    None for the channel's own chat."""
    if not m.mirrored:
        return None
    return m.source_channel or (f"room {m.source_room_id}" if m.source_room_id else "another channel")


def _json_row(m: ChatMessage) -> dict:
    reply = None
    if m.reply_parent_msg_id:
        reply = {
            "id": m.reply_parent_msg_id,
            "user": m.reply_parent_user_login,
            "display_name": m.reply_parent_display_name,
            "text": m.reply_parent_msg_body,
        }
    return {
        "type": "chat",
        "id": m.msg_id,
        "kind": m.kind,
        "notice_type": m.notice_type,
        "offset": m.rel_timestamp,
        "time": dt.datetime.fromtimestamp(m.abs_timestamp, dt.UTC).isoformat(timespec="milliseconds"),
        "user": m.username,
        "display_name": m.display_name,
        "user_id": m.user_id,
        "text": m.message,
        "system_message": m.system_message,
        "badges": m.badges,
        "emotes": m.emotes,
        "color": m.color,
        "bits": m.bits,
        "first_msg": bool(m.first_msg),
        "reply_to": reply,
        "target_user": m.target_user,
        "ban_duration": m.ban_duration,
        "deleted": bool(m.deleted),
        "mirrored": bool(m.mirrored),
        "source_channel": m.source_channel,
        "source_room_id": m.source_room_id,
        "source_msg_id": m.source_msg_id,
    }


def export_jsonl(vod: Vod) -> Iterator[str]:
    """One JSON object per line: chat events and gaps, in VOD order."""
    items: list[tuple[float, dict]] = [(m.rel_timestamp or 0.0, _json_row(m)) for m in chat_rows(vod)]
    items += [(g.start, {"type": "gap", "offset": g.start, "end_offset": g.end, "reason": g.reason}) for g in gaps(vod)]
    items.sort(key=lambda item: item[0])
    for _, item in items:
        yield json.dumps(item, ensure_ascii=False).translate(_JSON_LINE_BREAKS)


def _timestamp(seconds: float) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _escape(text: str) -> str:
    return " ".join(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split())


def _cue_text(m: ChatMessage) -> str | None:
    name = _escape(m.display_name or m.username or "")
    text = _escape(m.message or "")
    if m.kind == "message":
        line = f"<v {name}>{text}" if name else text
    elif m.kind == "action":
        line = f"<v {name}><i>* {name} {text}</i>"
    elif m.kind == "usernotice":
        line = "<b>" + _escape(m.system_message or m.notice_type or "notice") + "</b>" + (f" {text}" if text else "")
    elif m.kind == "clearchat":
        target = _escape(m.target_user or "")
        line = {"timeout": f"[{target} timed out for {m.ban_duration}s]", "ban": f"[{target} banned]"}.get(
            m.notice_type or "", "[chat cleared by a moderator]"
        )
    else:  # clearmsg: the original message carries the mark
        return None
    source = mirrored_from(m)
    line = f"[from {_escape(source)}] {line}" if source else line
    return f"{line} [deleted by a moderator]" if m.deleted else line


def export_webvtt(vod: Vod) -> Iterator[str]:
    """A WebVTT track: each chat line for a few seconds from its offset; gaps as their own cues."""
    yield "WEBVTT"
    yield ""
    cues: list[tuple[float, float, str]] = []
    for m in chat_rows(vod):
        text = _cue_text(m)
        if text is None or m.rel_timestamp is None or m.rel_timestamp < 0:
            continue
        cues.append((m.rel_timestamp, m.rel_timestamp + CUE_SECONDS, text))
    for g in gaps(vod):
        cues.append((g.start, max(g.end, g.start + 1), f"[chat not recorded: {_escape(g.reason)}]"))
    cues.sort(key=lambda cue: cue[0])
    for start, end, text in cues:
        yield f"{_timestamp(start)} --> {_timestamp(end)}"
        yield text
        yield ""
