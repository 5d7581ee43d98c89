"""The one owner of the chat rows against a real database: insert, bind, delete marks, gaps, re-pointing."""

from __future__ import annotations

import peewee

from vodtender.clients.irc_lines import parse_line
from vodtender.pipeline.chat.events import ChatEventBuilder, MessageRow
from vodtender.pipeline.chat.rows import (
    CRASH_GAP_REASON,
    LATE_JOIN_GAP_REASON,
    PG_ROWS_PER_STATEMENT,
    bind_offline_messages,
    close_gap,
    insert_messages,
    mark_deleted,
    open_gap,
    open_gaps_left_by_a_crash,
    record_missed_start,
    repoint_chat,
)
from vodtender.runtime.db import write
from vodtender.runtime.models import ChatGap, ChatMessage

START_UNIX = 1772366400.0


def row(
    msg_id: str, at: float, channel: str = "chan", vod_id: str | None = None, rel: float | None = None
) -> MessageRow:
    line = f"@id={msg_id};tmi-sent-ts={int(at * 1000)} :u!u@u.tmi.twitch.tv PRIVMSG #{channel} :hi {msg_id}"
    event = ChatEventBuilder().build(parse_line(line), line, at)
    assert event is not None
    return event.row(vod_id, rel)


def stored() -> dict[str, tuple[str | None, float | None]]:
    return {m.msg_id: (m.vod_id, m.rel_timestamp) for m in ChatMessage.select()}


def test_insert_skips_ids_already_stored(migrated_db: peewee.Database) -> None:
    write(lambda: insert_messages([row("a", START_UNIX), row("b", START_UNIX + 1)]))
    write(lambda: insert_messages([row("b", START_UNIX + 99), row("c", START_UNIX + 2), row("c", START_UNIX + 3)]))
    write(lambda: insert_messages([]))
    assert {m.msg_id: m.abs_timestamp for m in ChatMessage.select()} == {
        "a": START_UNIX,
        "b": START_UNIX + 1,
        "c": START_UNIX + 2,
    }
    assert ChatMessage.get(ChatMessage.msg_id == "a").message == "hi a"


def test_insert_of_more_rows_than_one_statement_holds(migrated_db: peewee.Database) -> None:
    count = PG_ROWS_PER_STATEMENT * 2 + 7
    write(lambda: insert_messages([row(f"m{i}", START_UNIX + i) for i in range(count)]))
    assert ChatMessage.select().count() == count


def test_offline_rows_since_the_stream_start_join_the_placeholder(migrated_db: peewee.Database) -> None:
    write(
        lambda: insert_messages(
            [
                row("before", START_UNIX - 1),
                row("after", START_UNIX + 12.5),
                row("other-channel", START_UNIX + 5, "other"),
                row("bound", START_UNIX + 20, vod_id="v-earlier", rel=3.0),
            ]
        )
    )
    write(lambda: bind_offline_messages("chan", "live-1", START_UNIX))
    assert stored() == {
        "before": (None, None),
        "after": ("live-1", 12.5),
        "other-channel": (None, None),
        "bound": ("v-earlier", 3.0),
    }


def test_deleted_messages_are_marked_and_kept(migrated_db: peewee.Database) -> None:
    write(lambda: insert_messages([row("a", START_UNIX), row("b", START_UNIX + 1)]))
    write(lambda: mark_deleted([("chan", "b"), ("chan", "not-stored")]))
    write(lambda: mark_deleted([]))
    assert {m.msg_id: m.deleted for m in ChatMessage.select()} == {"a": 0, "b": 1}


def test_one_id_is_stored_once_per_channel_and_deleted_only_where_it_was(migrated_db: peewee.Database) -> None:
    # A shared chat sends one message to every channel of its session, sometimes with the same id.
    write(lambda: insert_messages([row("s", START_UNIX, "chan"), row("s", START_UNIX, "other")]))
    write(lambda: insert_messages([row("s", START_UNIX + 1, "other")]))
    write(lambda: mark_deleted([("other", "s")]))
    rows = {(m.channel, m.msg_id): (m.abs_timestamp, m.deleted) for m in ChatMessage.select()}
    assert rows == {("chan", "s"): (START_UNIX, 0), ("other", "s"): (START_UNIX, 1)}


def test_a_first_join_after_the_stream_started_records_the_span_before_it(migrated_db: peewee.Database) -> None:
    assert write(lambda: record_missed_start("late", 100.0, 120.0)) is True
    assert write(lambda: record_missed_start("late", 100.0, 120.0)) is False, "recorded once"
    assert [(g.started_at, g.ended_at, g.reason) for g in ChatGap.select()] == [(100.0, 120.0, LATE_JOIN_GAP_REASON)]
    write(lambda: open_gap("stopped", 50.0, "recorder stopped"))  # the last run's stop: it covers the span
    write(lambda: close_gap("stopped", 120.0))
    assert write(lambda: record_missed_start("stopped", 100.0, 120.0)) is False
    assert write(lambda: record_missed_start("early", 130.0, 120.0)) is False, "joined before the stream started"


def test_a_gap_is_opened_and_closed_once(migrated_db: peewee.Database) -> None:
    write(lambda: open_gap("chan", 100.0, "connection lost: reset"))
    write(lambda: close_gap("chan", 107.5))
    write(lambda: close_gap("chan", 200.0))  # nothing open any more
    write(lambda: close_gap("other", 108.0))  # nothing open there
    gaps = [(g.channel, g.started_at, g.ended_at, g.reason) for g in ChatGap.select()]
    assert gaps == [("chan", 100.0, 107.5, "connection lost: reset")]


def test_a_crash_leaves_a_gap_from_the_last_stored_message(migrated_db: peewee.Database) -> None:
    write(lambda: insert_messages([row("a", START_UNIX), row("b", START_UNIX + 30)]))
    write(lambda: insert_messages([row("c", START_UNIX + 5, "cleanly-stopped")]))
    write(lambda: open_gap("cleanly-stopped", START_UNIX + 6, "recorder stopped"))
    opened = open_gaps_left_by_a_crash(["chan", "cleanly-stopped", "never-recorded"])
    assert opened == ["chan"]
    gaps = {(g.channel, g.started_at, g.ended_at, g.reason) for g in ChatGap.select()}
    assert gaps == {
        ("chan", START_UNIX + 30, None, CRASH_GAP_REASON),
        ("cleanly-stopped", START_UNIX + 6, None, "recorder stopped"),
    }
    assert open_gaps_left_by_a_crash(["chan"]) == [], "the open gap is not opened twice"


def test_repointing_moves_a_placeholders_chat_with_the_exact_shift(migrated_db: peewee.Database) -> None:
    shift, real_start = 7.125, START_UNIX - 7.125  # the VOD started 7.125 s before the placeholder's time
    rows = [row(f"m{n}", START_UNIX + 10 + n * 1.25, vod_id="live-1", rel=10 + n * 1.25) for n in range(20)]
    rows.append(row("no-rel", START_UNIX + 3.5, vod_id="live-1"))  # bound without an offset
    rows.append(row("elsewhere", START_UNIX + 4, vod_id="live-2", rel=4.0))
    write(lambda: insert_messages(rows))
    assert write(lambda: repoint_chat("live-1", "777", shift, real_start)) == 21
    moved = list(ChatMessage.select().where(ChatMessage.vod_id == "777"))
    assert len(moved) == 21
    for m in moved:
        assert abs(m.rel_timestamp - (m.abs_timestamp - real_start)) < 1e-6, m.msg_id
    assert stored()["elsewhere"] == ("live-2", 4.0)
    assert write(lambda: repoint_chat("live-1", "777", shift, real_start)) == 0
    assert ChatMessage.select().count() == 22, "chat rows are never deleted"
