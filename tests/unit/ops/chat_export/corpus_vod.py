"""A VOD whose chat is every chat line of the real corpus, plus a gap, a mirrored and a replayed message."""

from __future__ import annotations

import datetime as dt

from tests.standins.irc import load_irc_lines
from vodtender.clients.irc_lines import MalformedLine, parse_line
from vodtender.pipeline.chat.events import ROW_COLUMNS, ChatEventBuilder
from vodtender.runtime.models import ChatGap, ChatMessage, Vod

START = dt.datetime(2026, 3, 1, 12, 0, 0)
START_UNIX = 1772366400.0
VOD_ID = "v-corpus"


def corpus_vod() -> Vod:
    """Each corpus chat event 2 s after the one before (ids made unique), all bound to one VOD."""
    vod = Vod.create(twitch_vod_id=VOD_ID, channel="pajlada", user_id="11148817", date=START, duration_seconds=3600)
    builder = ChatEventBuilder()
    rows = []
    for number, line in enumerate(load_irc_lines("corpus.txt")):
        try:
            event = builder.build(parse_line(line), line, START_UNIX)
        except MalformedLine:
            continue
        if event is None:
            continue
        row = dict(zip(ROW_COLUMNS, event.row(VOD_ID, 2.0 * len(rows) + 0.418999910354614), strict=True))
        rows.append({**row, "msg_id": f"{number}-{row['msg_id']}", "abs_timestamp": START_UNIX + 2.0 * len(rows)})
    ChatMessage.insert_many(rows).execute()
    first = ChatMessage.select().where(ChatMessage.kind == "message").order_by(ChatMessage.id).get()
    ChatMessage.update(deleted=1).where(ChatMessage.id == first.id).execute()
    add = dict(channel="pajlada", vod_id=VOD_ID, username="guest", display_name="Guest", message="from next door")
    ChatMessage.create(
        msg_id="shared", abs_timestamp=START_UNIX + 1, rel_timestamp=1.0, mirrored=1, source_channel="other", **add
    )
    ChatMessage.create(msg_id="replayed", abs_timestamp=START_UNIX + 3, rel_timestamp=3.0, origin="replay", **add)
    ChatGap.create(channel="pajlada", started_at=START_UNIX + 30, ended_at=START_UNIX + 45, reason="connection lost")
    return vod
