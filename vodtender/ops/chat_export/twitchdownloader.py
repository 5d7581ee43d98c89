"""TwitchDownloader's chat JSON, which its renderer and the archivers built on it read.

The shape is TwitchDownloader's own model (lay295/TwitchDownloader):
TwitchDownloaderCore/TwitchObjects/ChatRoot.cs (ChatRoot, Streamer, Video, Comment, Commenter,
Message, Fragment, Emoticon, UserBadge, Emoticon2, UserNoticeParams, EmbeddedData) and
ChatRootInfo.cs (FileInfo.Version, 1.4.0); TwitchDownloaderCore/Chat/ChatJson.cs reads the file
property by property, so members it does not know are skipped.

What the model has no member for goes under a `vodtender` key: on a comment its kind, deletion,
shared-chat source, origin (live/replay) and the message it replies to; on the root the recorder's
gaps and the moderation events (timeouts, bans, clears, deletions).  Emote positions are IRC's:
code points, `end` inclusive; the fragments split the body at them.  Times the model requires but
we do not know (a commenter's account dates) are DateTime's zero, as TwitchDownloader writes them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from vodtender.ops.chat_export.rows import Gap, offset, reply_to, rows_and_gaps
from vodtender.runtime.models import ChatMessage, Vod

VERSION = {"Major": 1, "Minor": 4, "Patch": 0}
_NO_DATE = "0001-01-01T00:00:00Z"
_COMMENT_KINDS = ("message", "action", "usernotice")


def _iso(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _naive_iso(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") + "Z" if value else _NO_DATE


def emote_ranges(emotes: str | None, length: int) -> list[tuple[str, int, int]]:
    """`25:0-4,8-12/1902:6-10` as (id, begin, end) in order; ranges outside the text are dropped."""
    found = []
    for item in (emotes or "").split("/"):
        emote_id, _, spans = item.partition(":")
        for span in spans.split(","):
            begin, _, end = span.partition("-")
            if emote_id and begin.isdigit() and end.isdigit() and int(begin) <= int(end) < length:
                found.append((emote_id, int(begin), int(end)))
    found.sort(key=lambda r: r[1])
    return [r for i, r in enumerate(found) if i == 0 or r[1] > found[i - 1][2]]  # overlaps: the first wins


def fragments(body: str, ranges: list[tuple[str, int, int]]) -> list[dict]:
    """The body cut into text and emote fragments, as TwitchDownloader's renderer draws them."""
    parts: list[dict] = []
    at = 0
    for emote_id, begin, end in ranges:
        if begin > at:
            parts.append({"text": body[at:begin], "emoticon": None})
        parts.append({"text": body[begin : end + 1], "emoticon": {"emoticon_id": emote_id}})
        at = end + 1
    if at < len(body) or not parts:
        parts.append({"text": body[at:], "emoticon": None})
    return parts


def badges(value: str | None) -> list[dict]:
    found = []
    for item in (value or "").split(","):
        name, _, version = item.partition("/")
        if name:
            found.append({"_id": name, "version": version})
    return found


def _body(m: ChatMessage) -> str:
    if m.kind == "usernotice":  # as Twitch's replay shows a resub: the system text, then the user's
        return " ".join(part for part in (m.system_message or m.notice_type or "", m.message) if part)
    return m.message or ""


def _comment(m: ChatMessage, vod: Vod) -> dict:
    body = _body(m)
    ranges = emote_ranges(m.emotes, len(body)) if m.kind != "usernotice" else []
    message: dict = {
        "body": body,
        "bits_spent": m.bits or 0,
        "fragments": fragments(body, ranges),
        "user_badges": badges(m.badges),
        "user_color": m.color or None,
        "emoticons": [{"_id": e, "begin": b, "end": end} for e, b, end in ranges],
    }
    if m.kind == "usernotice":
        message["user_notice_params"] = {"msg_id": m.notice_type}
    return {
        "_id": m.msg_id,
        "created_at": _iso(m.abs_timestamp),
        "channel_id": vod.user_id,
        "content_type": "video",
        "content_id": vod.twitch_vod_id,
        "content_offset_seconds": offset(m.rel_timestamp),
        "commenter": {
            "display_name": m.display_name or m.username,
            "_id": m.user_id,
            "name": m.username,
            "bio": None,
            "created_at": _NO_DATE,
            "updated_at": _NO_DATE,
            "logo": None,
        },
        "message": message,
        "vodtender": {
            "kind": m.kind,
            "deleted": bool(m.deleted),
            "mirrored": bool(m.mirrored),
            "source_channel": m.source_channel,
            "origin": m.origin,
            "first_msg": bool(m.first_msg),
            "reply_to": reply_to(m),
        },
    }


def _moderation(m: ChatMessage) -> dict:
    return {
        "_id": m.msg_id,
        "kind": m.kind,
        "type": m.notice_type,
        "content_offset_seconds": offset(m.rel_timestamp),
        "target_user": m.target_user,
        "ban_duration": m.ban_duration,
        "text": m.message or None,
    }


def _gap(g: Gap) -> dict:
    return {"start_offset_seconds": offset(g.start), "end_offset_seconds": offset(g.end), "reason": g.reason}


def _chapters(vod: Vod) -> list[dict]:
    try:
        stored = json.loads(vod.chapters or "[]")
    except ValueError:
        return []
    return [
        {
            "id": str(i),
            "startMilliseconds": round(float(c.get("offset") or 0) * 1000),
            "lengthMilliseconds": 0,
            "type": "GAME_CHANGE",
            "description": str(c.get("title") or c.get("game") or ""),
            "subDescription": "",
            "thumbnailUrl": "",
            "gameId": None,
            "gameDisplayName": c.get("game"),
            "gameBoxArtUrl": "",
        }
        for i, c in enumerate(stored if isinstance(stored, list) else [])
        if isinstance(c, dict)
    ]


def chat_root(vod: Vod) -> dict:
    """The whole file as one object (NoChat when the VOD has no chat)."""
    rows, found = rows_and_gaps(vod)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    user_id = vod.user_id or ""
    return {
        "FileInfo": {"Version": VERSION, "CreatedAt": now, "UpdatedAt": now},
        "streamer": {"name": vod.channel, "login": vod.channel.lower(), "id": int(user_id) if user_id.isdigit() else 0},
        "clipper": None,
        "video": {
            "title": vod.title,
            "description": vod.description,
            "id": vod.twitch_vod_id,
            "created_at": _naive_iso(vod.date),
            "start": 0.0,
            "end": float(vod.duration_seconds or 0),
            "length": float(vod.duration_seconds or 0),
            "viewCount": 0,
            "game": "",
            "chapters": _chapters(vod),
        },
        "comments": [_comment(m, vod) for m in rows if m.kind in _COMMENT_KINDS],
        "embeddedData": None,
        "vodtender": {
            "gaps": [_gap(g) for g in found],
            "moderation": [_moderation(m) for m in rows if m.kind not in _COMMENT_KINDS],
        },
    }


def export_twitchdownloader(vod: Vod) -> Iterator[str]:
    """One line: the JSON document (TwitchDownloader reads it whole)."""
    return iter([json.dumps(chat_root(vod), ensure_ascii=False)])
