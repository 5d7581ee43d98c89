"""`chat export`: JSON lines and WebVTT from stored rows, aligned to the VOD, with deletions and gaps."""

from __future__ import annotations

import datetime as dt
import json

import peewee
import pytest

from vodtender.ops.chat_export import FORMATS, NoChat, export_jsonl, export_webvtt
from vodtender.runtime.models import ChatGap, ChatMessage, Vod

START = dt.datetime(2026, 3, 1, 12, 0, 0)
START_UNIX = 1772366400.0


def add(msg_id: str, offset: float, **fields: object) -> None:
    ChatMessage.create(
        msg_id=msg_id, channel="chan", vod_id="v1", abs_timestamp=START_UNIX + offset, rel_timestamp=offset, **fields
    )


def make_vod() -> Vod:
    vod = Vod.create(twitch_vod_id="v1", channel="chan", date=START, duration_seconds=4 * 3600)
    add("a", 3725.5, username="alice", display_name="Alice", message="hi <b>&</b>")
    add("b", 10, kind="action", username="bob", display_name="Bob", message="waves")
    add("c", 20, kind="usernotice", notice_type="raid", system_message="5 raiders from x have joined!")
    add("d", 30, kind="clearchat", notice_type="timeout", target_user="troll", ban_duration=600)
    add("e", 40, username="troll", display_name="Troll", message="rude", deleted=1)
    add("f", 41, kind="clearmsg", target_user="troll", message="rude")
    add("early", -5, username="z", message="before the VOD")
    ChatGap.create(channel="chan", started_at=START_UNIX + 100, ended_at=START_UNIX + 160, reason="connection lost: x")
    ChatGap.create(channel="chan", started_at=START_UNIX - 500, ended_at=START_UNIX - 400, reason="before")
    ChatGap.create(channel="other", started_at=START_UNIX + 100, ended_at=START_UNIX + 160, reason="other channel")
    return vod


def test_webvtt_cues(migrated_db: peewee.Database) -> None:
    text = "\n".join(export_webvtt(make_vod()))
    assert text.startswith("WEBVTT\n\n")
    assert "01:02:05.500 --> 01:02:10.500\n<v Alice>hi &lt;b&gt;&amp;&lt;/b&gt;" in text
    assert "<v Bob><i>* Bob waves</i>" in text
    assert "<b>5 raiders from x have joined!</b>" in text
    assert "[troll timed out for 600s]" in text
    assert "<v Troll>rude [deleted by a moderator]" in text
    assert "00:01:40.000 --> 00:02:40.000\n[chat not recorded: connection lost: x]" in text
    assert "before the VOD" not in text and "other channel" not in text and "[chat not recorded: before]" not in text
    starts = [line.split(" --> ")[0] for line in text.splitlines() if " --> " in line]
    assert starts == sorted(starts)


def test_jsonl_has_every_event_and_gap_in_vod_order(migrated_db: peewee.Database) -> None:
    items = [json.loads(line) for line in export_jsonl(make_vod())]
    assert [i.get("id", "gap") for i in items] == ["early", "b", "c", "d", "e", "f", "gap", "a"]
    deleted = next(i for i in items if i.get("id") == "e")
    assert deleted["deleted"] is True and deleted["offset"] == 40
    gap = next(i for i in items if i["type"] == "gap")
    assert (gap["offset"], gap["end_offset"], gap["reason"]) == (100, 160, "connection lost: x")


def test_jsonl_escapes_the_line_breaks_json_leaves_raw(migrated_db: peewee.Database) -> None:
    vod = make_vod()
    text = "line\u2028separator\u2029paragraph\u0085next line"
    add("breaks", 50, username="u", message=text)
    exported = "\n".join(export_jsonl(vod))
    lines = exported.splitlines()
    assert len(lines) == ChatMessage.select().count() + 1  # and the one gap inside the VOD
    assert [json.loads(line)["text"] for line in lines if '"id": "breaks"' in line] == [text]


def test_offsets_are_milliseconds_without_float_noise(migrated_db: peewee.Database) -> None:
    vod = make_vod()
    add("noise", 20.418999910354614, username="u", message="x")
    item = next(json.loads(line) for line in export_jsonl(vod) if '"id": "noise"' in line)
    assert item["offset"] == 20.419


def test_a_vod_without_chat_is_refused_in_every_format(migrated_db: peewee.Database) -> None:
    vod = Vod.create(twitch_vod_id="quiet", channel="chan", date=START, duration_seconds=60)
    for export in FORMATS.values():
        with pytest.raises(NoChat, match="no chat recorded for VOD quiet"):
            export(vod)


def test_mirrored_messages_are_marked_with_their_source(migrated_db: peewee.Database) -> None:
    vod = Vod.create(twitch_vod_id="v1", channel="chan", date=START, duration_seconds=600)
    shared = {"mirrored": 1, "source_room_id": "1025594235", "source_msg_id": "s-1"}
    add("m1", 1, username="u", display_name="U", message="hello", source_channel="friend", **shared)
    add("m2", 2, kind="usernotice", notice_type="announcement", message="news", **shared)
    add("own", 3, username="o", display_name="O", message="mine")
    vtt = "\n".join(export_webvtt(vod))
    assert "<v U>hello [shared from #friend]" in vtt
    assert "news [shared from room 1025594235]" in vtt
    assert "\n<v O>mine\n" in vtt
    items = {i["id"]: i for i in map(json.loads, export_jsonl(vod))}
    assert (items["m1"]["mirrored"], items["m1"]["source_channel"], items["m1"]["source_msg_id"]) == (
        True,
        "friend",
        "s-1",
    )
    assert (items["m2"]["source_channel"], items["m2"]["source_room_id"]) == (None, "1025594235")
    assert items["own"]["mirrored"] is False
