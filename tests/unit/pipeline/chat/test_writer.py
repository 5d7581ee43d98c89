"""The batched chat writer against a real SQLite database: binding, dedupe, deletions, gaps, back-pressure."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import sqlite3
import threading
import time
from pathlib import Path

import peewee
import pytest
from prometheus_client import REGISTRY

from tests.helpers.processes import wait_until
from vodtender.clients.irc_lines import parse_line
from vodtender.pipeline.chat.events import DETAIL_COLUMNS, ChatEvent, ChatEventBuilder, GapEnd, GapStart
from vodtender.pipeline.chat.writer import ChatWriter
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatGap, ChatMessage, ChatQuarantine, Vod

STREAM_START = dt.datetime(2026, 3, 1, 12, 0, 0)
START_UNIX = 1772366400.0  # STREAM_START as unix seconds


def message(msg_id: str, at: float, channel: str = "chan", text: str = "hi") -> ChatEvent:
    line = f"@id={msg_id};tmi-sent-ts={int(at * 1000)} :u!u@u.tmi.twitch.tv PRIVMSG #{channel} :{text}"
    return ChatEventBuilder().build(parse_line(line), line, at)


def writer(interval: float = 0.05, size: int = 100, queue_max: int = 10_000) -> ChatWriter:
    w = ChatWriter(interval, size, queue_max)
    w.start()
    return w


def test_rows_are_written_once_and_flushed_on_close(migrated_db: peewee.Database) -> None:
    w = writer()
    for i in range(250):
        w.put(message(f"m{i}", START_UNIX + i))
    w.put(message("m7", START_UNIX + 7))  # a duplicate (both connections during a RECONNECT)
    assert w.close(timeout=30)
    assert ChatMessage.select().count() == 250
    assert ChatMessage.get(ChatMessage.msg_id == "m7").abs_timestamp == START_UNIX + 7


def test_messages_bind_to_the_live_placeholder_and_earlier_offline_rows_follow(migrated_db: peewee.Database) -> None:
    w = writer()
    w.put(message("before-placeholder", START_UNIX + 30))  # the stream is live, the poller has not seen it yet
    w.put(message("offline", START_UNIX - 600))  # before the stream: stays offline
    wait_until(lambda: ChatMessage.select().count() == 2, what="offline rows")
    Vod.create(twitch_vod_id=f"live-{int(START_UNIX)}", channel="chan", is_placeholder=1, date=STREAM_START)
    time.sleep(2.5)  # the placeholder cache refreshes every ~2 s
    w.put(message("live", START_UNIX + 90))
    assert w.close(timeout=30)
    rows = {m.msg_id: (m.vod_id, m.rel_timestamp) for m in ChatMessage.select()}
    assert rows == {
        "before-placeholder": (f"live-{int(START_UNIX)}", 30.0),
        "offline": (None, None),
        "live": (f"live-{int(START_UNIX)}", 90.0),
    }


def test_an_ended_placeholder_is_not_bound(migrated_db: peewee.Database) -> None:
    Vod.create(
        twitch_vod_id="live-1",
        channel="chan",
        is_placeholder=1,
        date=STREAM_START,
        live_ended_at=STREAM_START + dt.timedelta(hours=1),
    )
    w = writer()
    w.put(message("after", START_UNIX + 4000))
    assert w.close(timeout=30)
    assert ChatMessage.get().vod_id is None


def test_clearmsg_marks_the_original_deleted_and_keeps_it(migrated_db: peewee.Database) -> None:
    w = writer()
    w.put(message("orig", START_UNIX, text="something rude"))
    line = "@login=u;target-msg-id=orig;tmi-sent-ts=1772366401000 :tmi.twitch.tv CLEARMSG #chan :something rude"
    w.put(ChatEventBuilder().build(parse_line(line), line, START_UNIX + 1))
    assert w.close(timeout=30)
    original = ChatMessage.get(ChatMessage.msg_id == "orig")
    assert (original.deleted, original.message) == (1, "something rude")
    assert ChatMessage.get(ChatMessage.kind == "clearmsg").target_user == "u"


def test_gaps_are_opened_and_closed(migrated_db: peewee.Database) -> None:
    w = writer()
    w.put(GapStart("chan", 100.0, "connection lost: reset"))
    w.put(GapEnd("chan", 107.5))
    w.put(GapEnd("other", 108.0))  # nothing open there: no row
    assert w.close(timeout=30)
    gaps = [(g.channel, g.started_at, g.ended_at, g.reason) for g in ChatGap.select()]
    assert gaps == [("chan", 100.0, 107.5, "connection lost: reset")]


def test_a_locked_database_holds_rows_in_a_bounded_queue_without_losing_any(db_path: Path) -> None:
    db = open_database(str(db_path))  # SQLite only: another process holding the write lock
    migrate(db)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another daemon holding the write lock for a while
    w = writer(queue_max=50, size=10)
    producer_done = threading.Event()

    def produce() -> None:
        for i in range(300):
            w.put(message(f"m{i}", START_UNIX + i))
        producer_done.set()

    threading.Thread(target=produce, daemon=True).start()
    wait_until(lambda: w.pending() >= 50, what="the queue to fill")
    assert not producer_done.is_set()  # the reader waits instead of growing memory
    assert w.pending() <= 50
    blocker.execute("ROLLBACK")
    blocker.close()
    assert producer_done.wait(30)
    assert w.close(timeout=60)
    assert ChatMessage.select().count() == 300
    db.close()


def test_the_same_id_twice_in_one_batch_is_stored_once(migrated_db: peewee.Database) -> None:
    w = ChatWriter(1.0, 100, 100)
    w._write_until_done(
        [message("same", START_UNIX), message("same", START_UNIX), message("other", START_UNIX)], give_up=False
    )
    assert sorted(m.msg_id for m in ChatMessage.select()) == ["other", "same"]


def poisoned(msg_id: str, at: float) -> ChatEvent:
    """A row no database column can hold (bits beyond any integer type), as no parser would build it now:
    the writer must cope with whatever a future parser or a replay lets through."""
    event = message(msg_id, at)
    details = list(event.details)
    details[DETAIL_COLUMNS.index("bits")] = 10**20
    return dataclasses.replace(event, details=tuple(details))


def test_a_row_the_database_refuses_is_quarantined_and_every_other_row_stored(
    migrated_db: peewee.Database, caplog: pytest.LogCaptureFixture
) -> None:
    quarantined_before = REGISTRY.get_sample_value("vodtender_chat_quarantined_total") or 0
    w = writer(interval=5.0, size=1000)  # one batch
    w.put(GapStart("chan", START_UNIX, "connection lost"))
    for i in range(40):
        w.put(message(f"m{i}", START_UNIX + i))
        if i in (7, 31):
            w.put(poisoned(f"bad{i}", START_UNIX + i))
    w.put(GapEnd("chan", START_UNIX + 50))
    with caplog.at_level(logging.WARNING, logger="vodtender.chat"):
        assert w.close(timeout=60)
    assert {m.msg_id for m in ChatMessage.select()} == {f"m{i}" for i in range(40)}
    refused = {q.msg_id: q for q in ChatQuarantine.select()}
    assert set(refused) == {"bad7", "bad31"}
    assert refused["bad7"].raw_line == message("bad7", START_UNIX + 7).raw_line
    assert refused["bad7"].error.split(":")[0] in ("OverflowError", "NumericValueOutOfRange")
    assert [(g.started_at, g.ended_at) for g in ChatGap.select()] == [(START_UNIX, START_UNIX + 50)]
    assert REGISTRY.get_sample_value("vodtender_chat_quarantined_total") == quarantined_before + 2
    logged = [r for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(logged) == 1, "two refused rows, one log line (the second is counted in the next one)"


def test_rows_waiting_on_a_locked_database_make_the_writer_stalled_until_a_commit(db_path: Path) -> None:
    db = open_database(str(db_path))  # SQLite only: another process holding the write lock
    migrate(db)
    w = writer()
    assert w.stalled_for() == 0.0, "idle, nothing waits: not stalled however long since the last commit"
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    w.put(message("waiting", START_UNIX))
    wait_until(lambda: w.stalled_for() > 1.0, what="the writer to count a stall")
    blocker.execute("ROLLBACK")
    blocker.close()
    wait_until(lambda: ChatMessage.select().count() == 1, timeout=60, what="the row after the lock")
    wait_until(lambda: w.stalled_for() == 0.0, what="the stall to end with the commit")
    assert w.close(timeout=30)
    db.close()


def test_the_same_refused_line_twice_in_one_batch_is_isolated(migrated_db: peewee.Database) -> None:
    w = ChatWriter(1.0, 100, 100)
    bad = poisoned("twice", START_UNIX)
    w._write_until_done([message("a", START_UNIX), bad, dataclasses.replace(bad), message("b", START_UNIX)], False)
    assert sorted(m.msg_id for m in ChatMessage.select()) == ["a", "b"]
    assert [q.msg_id for q in ChatQuarantine.select()] == ["twice", "twice"]
