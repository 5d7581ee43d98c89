"""`vodtender chat search` as a real process against a real database (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import peewee

from tests.helpers.chat_search import START_UNIX, event, store
from tests.helpers.processes import base_env, run_cli
from tests.unit.ops.fixtures import vod
from vodtender.pipeline.chat.rows import mark_deleted
from vodtender.runtime.db import write


def test_search_prints_where_each_message_was_said(tmp_path: Path, migrated_db: peewee.Database, db_dsn: str) -> None:
    vod("2001", 1)
    store(event("m1", "that clutch was insane", START_UNIX + 3723, user="bob"), vod_id="2001")
    store(event("m2", "clutch", START_UNIX + 10), event("m3", "insane clutch", START_UNIX + 20))
    write(lambda: mark_deleted([("chan", "m1")]))
    env = base_env(tmp_path, DB_DSN=db_dsn)

    text = run_cli(tmp_path, "chat", "search", "CLUTCH", "insane", "--vod", "2001", env=env)
    assert text.returncode == 0, text.stderr
    assert text.stdout == "chan  2001 1:02:03  Bob: that clutch was insane  [deleted]\n"
    assert "1 found; `vodtender show <vod>` shows a VOD" in text.stderr

    as_json = run_cli(tmp_path, "chat", "search", '"insane clutch"', "--json", "--user", "alice", env=env)
    assert as_json.returncode == 0, as_json.stderr
    [hit] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert (hit["channel"], hit["vod"], hit["offset"], hit["user"], hit["text"], hit["show"]) == (
        "chan",
        None,
        None,
        "alice",
        "insane clutch",
        None,
    )

    refused = run_cli(tmp_path, "chat", "search", '"', "*", "--since", "2026-03-01", env=env)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.strip() == "vodtender: nothing to search for: give at least one word (letters or digits)"
