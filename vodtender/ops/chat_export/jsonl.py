"""JSON lines: one object per chat event or gap, in VOD order, every stored field."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from vodtender.ops.chat_export.rows import Gap, offset, reply_to, rows_and_gaps
from vodtender.runtime.models import ChatMessage, Vod

# Line breaks to str.splitlines() (and to JavaScript before ES2019) that JSON leaves raw with ensure_ascii=False.
_JSON_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _json_row(m: ChatMessage) -> dict:
    return {
        "type": "chat",
        "id": m.msg_id,
        "kind": m.kind,
        "notice_type": m.notice_type,
        "offset": offset(m.rel_timestamp),
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
        "reply_to": reply_to(m),
        "target_user": m.target_user,
        "ban_duration": m.ban_duration,
        "deleted": bool(m.deleted),
        "mirrored": bool(m.mirrored),
        "source_channel": m.source_channel,
        "source_room_id": m.source_room_id,
        "source_msg_id": m.source_msg_id,
        "origin": m.origin,
    }


def _json_gap(g: Gap) -> dict:
    return {"type": "gap", "offset": offset(g.start), "end_offset": offset(g.end), "reason": g.reason}


def export_jsonl(vod: Vod) -> Iterator[str]:
    """One JSON object per line: chat events and gaps, in VOD order (NoChat when there are none)."""
    rows, found = rows_and_gaps(vod)
    items: list[tuple[float, dict]] = [(m.rel_timestamp or 0.0, _json_row(m)) for m in rows]
    items += [(g.start, _json_gap(g)) for g in found]
    items.sort(key=lambda item: item[0])
    return (json.dumps(item, ensure_ascii=False).translate(_JSON_LINE_BREAKS) for _, item in items)
