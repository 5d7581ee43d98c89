"""Chat search against the real full-text index of SQLite (FTS5) and PostgreSQL (tsvector + GIN)."""

from __future__ import annotations

import threading
import time

import peewee
import pytest

from tests.helpers.chat_search import START_UNIX, drop_chat_search_index, event, store
from vodtender.clients.irc_lines import parse_line
from vodtender.pipeline.chat import search
from vodtender.pipeline.chat.events import ChatEventBuilder
from vodtender.pipeline.chat.rows import mark_deleted
from vodtender.pipeline.chat.search import SearchError, SearchFilter, parse_terms, search_chat
from vodtender.pipeline.chat.writer import ChatWriter
from vodtender.runtime.db import write
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatMessage


def found(text: str, **where: object) -> list[str]:
    return [ChatMessage.get_by_id(hit.id).msg_id for hit in search_chat(text, SearchFilter(**where))]  # type: ignore[arg-type]


def test_words_are_anded_phrases_keep_their_order_and_case_does_not_matter(migrated_db: peewee.Database) -> None:
    store(
        event("a", "the Boss fight starts now", START_UNIX + 1),
        event("b", "now the fight, boss!", START_UNIX + 2),
        event("c", "boss only", START_UNIX + 3),
        event("d", "PogChamp KEKW", START_UNIX + 4),
    )
    assert found("boss FIGHT") == ["b", "a"]  # newest first
    assert found('"boss fight"') == ["a"]
    assert found('"fight boss" now') == ["b"]
    assert found("kekw") == ["d"]
    assert found("nobody said this") == []


HOSTILE = {  # query -> the messages it must find, searched as text
    "NEAR(boss fight)": ["near"],  # the words "near boss" in that order, and "fight"
    "col: fight": ["col"],
    "message:boss": ["col"],
    "boss*": ["col", "near"],  # `*` is punctuation, not a prefix search: not "bossy"
    "cats OR dogs": ["or"],  # OR is a word, not an operator
    "NOT dogs": ["not"],
    '"boss fight': ["col", "near"],  # an unbalanced quote: words
    'boss "fight': ["col", "near"],
    "^boss": ["col", "near"],
    "{message}: boss": ["col"],
    "boss\x00fight": ["col", "near"],
    '""boss""': ["col", "near"],
    "'; DROP TABLE chat_messages; --": [],
}


def test_hostile_input_is_searched_as_text(migrated_db: peewee.Database) -> None:
    store(
        event("near", "near boss fight", START_UNIX + 2),
        event("col", "col message boss fight", START_UNIX + 1),
        event("or", "cats or dogs"),
        event("not", "not dogs"),
        event("prefix", "bossy"),
    )
    assert {query: sorted(found(query)) for query in HOSTILE} == HOSTILE
    assert ChatMessage.select().count() == 5


@pytest.mark.parametrize("query", ['"', "*", '" "', "()", "-- :", "\x00"])
def test_a_query_without_a_word_is_refused(query: str) -> None:
    with pytest.raises(SearchError, match="nothing to search for"):
        parse_terms(query)


def test_filters_channel_vod_user_since_and_limit(migrated_db: peewee.Database) -> None:
    store(event("v1", "gg", START_UNIX + 50, user="bob"), event("v2", "gg wp", START_UNIX + 10), vod_id="100")
    store(event("other", "gg", START_UNIX + 20, channel="other"), event("offline", "gg", START_UNIX - 500))
    assert found("gg", vod_id="100") == ["v2", "v1"]  # in the VOD's order
    assert found("gg", channel="#Other") == ["other"]
    assert found("gg", user="BOB") == ["v1"]
    assert found("gg", user="Alice", vod_id="100") == ["v2"]
    assert found("gg", since=START_UNIX) == ["other", "v2", "v1"]  # the last stored first
    assert found("gg", limit=2) == ["offline", "other"]
    hit = search_chat("wp")[0]
    assert (hit.channel, hit.vod_id, hit.offset(), hit.username, hit.message) == (
        "chan",
        "100",
        "0:00:10",
        "alice",
        "gg wp",
    )
    assert hit.show_command() == "vodtender show 100"
    assert search_chat("gg", SearchFilter(channel="chan", since=0, user="alice", vod_id=None))[0].offset() is None


def test_the_newest_matches_come_first_however_far_back_they_lie(
    migrated_db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stretches of 2, 8, 32 ids: PostgreSQL looks back window by window; the answer must not change.
    monkeypatch.setattr(search, "FIRST_ID_WINDOW", 2)
    old = [event(f"old{n}", "rare find" if n in (0, 3) else "filler") for n in range(30)]
    new = [event(f"new{n}", "rare find" if n == 5 else "filler") for n in range(10)]
    store(*old, *new)
    assert found("rare") == ["new5", "old3", "old0"]
    assert found("rare", limit=2) == ["new5", "old3"]
    assert found("filler", limit=3) == ["new9", "new8", "new7"]
    assert found("absent") == []


def test_deletions_are_marked_and_a_clearmsg_is_not_a_second_result(migrated_db: peewee.Database) -> None:
    store(event("m1", "this gets deleted"))
    sent = int(START_UNIX * 1000) + 5
    clear = f"@login=alice;target-msg-id=m1;tmi-sent-ts={sent} :tmi.twitch.tv CLEARMSG #chan :this gets deleted"
    clearmsg = ChatEventBuilder().build(parse_line(clear), clear, START_UNIX + 5)
    assert clearmsg is not None
    store(clearmsg)
    write(lambda: mark_deleted([("chan", "m1")]))
    hits = search_chat("deleted")
    assert [(h.message, h.deleted) for h in hits] == [("this gets deleted", True)]


def test_an_edited_message_is_found_by_its_new_text_only(migrated_db: peewee.Database) -> None:
    """The index follows an operator's UPDATE and DELETE as well as the writer's INSERT."""
    store(event("m1", "old words"), event("m2", "old news"))
    ChatMessage.update(message="new words").where(ChatMessage.msg_id == "m1").execute()
    ChatMessage.delete().where(ChatMessage.msg_id == "m2").execute()
    assert found("old") == []
    assert found("new words") == ["m1"]


def test_the_migration_indexes_rows_stored_before_it(migrated_db: peewee.Database) -> None:
    drop_chat_search_index(migrated_db)
    store(event("old", "stored before the index", START_UNIX))
    assert migrate(migrated_db) == ["chat_search_index"]
    store(event("new", "stored after the index", START_UNIX + 1))
    assert found("stored index") == ["new", "old"]


def test_every_committed_message_is_found_while_the_writer_writes(migrated_db: peewee.Database) -> None:
    """The writer's batch path under load, searched between its commits: nothing committed is missing."""
    total = 1500
    writer = ChatWriter(batch_interval=0.01, batch_size=50, queue_max=10_000)
    writer.start()
    feeding = threading.Thread(
        target=lambda: [writer.put(event(f"m{i}", f"flood word{i}", START_UNIX + i)) for i in range(total)]
    )
    feeding.start()
    rounds = 0
    while rounds < 3 or ChatMessage.select().count() < total:
        committed = {row[0] for row in ChatMessage.select(ChatMessage.id).tuples()}
        searched = {hit.id for hit in search_chat("flood", SearchFilter(limit=total))}
        assert committed <= searched
        rounds += 1
        time.sleep(0.01)
    feeding.join()
    assert writer.close(timeout=30)
    assert len(search_chat("flood", SearchFilter(limit=total + 1))) == total
    assert found("word1234") == ["m1234"]
