"""`--format twitchdownloader`: TwitchDownloader's ChatRoot, checked against a schema from its model classes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import peewee

from tests.unit.ops.chat_export.corpus_vod import corpus_vod
from vodtender.ops.chat_export import export_twitchdownloader
from vodtender.runtime.models import ChatMessage

SCHEMA = json.loads((Path(__file__).parents[3] / "data" / "twitchdownloader" / "chat_root.schema.json").read_text())


def exported() -> dict:
    (line,) = list(export_twitchdownloader(corpus_vod()))
    return json.loads(line)


def test_every_corpus_event_kind_validates_against_the_model_schema(migrated_db: peewee.Database) -> None:
    root = exported()
    jsonschema.validate(root, SCHEMA, format_checker=jsonschema.FormatChecker())
    kinds = {c["vodtender"]["kind"] for c in root["comments"]} | {m["kind"] for m in root["vodtender"]["moderation"]}
    stored = {kind for (kind,) in ChatMessage.select(ChatMessage.kind).distinct().tuples()}
    assert kinds == stored == {"message", "action", "usernotice", "clearchat", "clearmsg"}
    assert root["streamer"] == {"name": "pajlada", "login": "pajlada", "id": 11148817}
    assert root["vodtender"]["gaps"] == [
        {"start_offset_seconds": 30.0, "end_offset_seconds": 45.0, "reason": "connection lost"}
    ]


def by_body(root: dict, body: str) -> dict:
    return next(c for c in root["comments"] if c["message"]["body"] == body)


def test_emotes_badges_colours_bits_replies_and_marks(migrated_db: peewee.Database) -> None:
    root = exported()
    kappa = by_body(root, "Kappa 😂 Kappa")["message"]  # IRC positions are code points: the emoji is one
    assert [(f["text"], f["emoticon"]) for f in kappa["fragments"]] == [
        ("Kappa", {"emoticon_id": "25"}),
        (" 😂 ", None),
        ("Kappa", {"emoticon_id": "25"}),
    ]
    assert kappa["emoticons"] == [{"_id": "25", "begin": 0, "end": 4}, {"_id": "25", "begin": 8, "end": 12}]
    assert {"_id": "broadcaster", "version": "1"} in kappa["user_badges"] and kappa["user_color"] == "#CC44FF"
    assert any(c["message"]["bits_spent"] > 0 for c in root["comments"])
    replies = [c["vodtender"]["reply_to"] for c in root["comments"] if c["vodtender"]["reply_to"]]
    assert replies and all(r["id"] and r["user"] for r in replies)
    notices = [c for c in root["comments"] if c["vodtender"]["kind"] == "usernotice"]
    assert notices and all("user_notice_params" in c["message"] for c in notices)
    assert {"sub", "resub", "raid"} <= {c["message"]["user_notice_params"]["msg_id"] for c in notices}
    assert sum(c["vodtender"]["deleted"] for c in root["comments"]) == 1
    assert by_body(root, "from next door")["vodtender"]["source_channel"] in ("other", None)
    marks = {(c["_id"], c["vodtender"]["mirrored"], c["vodtender"]["origin"]) for c in root["comments"]}
    assert {("shared", True, "live"), ("replayed", False, "replay")} <= marks
    offsets = [c["content_offset_seconds"] for c in root["comments"]]
    assert all(round(o, 3) == o for o in offsets)  # milliseconds, no float noise
    bans = [m for m in root["vodtender"]["moderation"] if m["type"] in ("ban", "timeout")]
    assert {m["type"] for m in bans} == {"ban", "timeout"} and all(m["target_user"] for m in bans)
