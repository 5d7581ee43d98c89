"""Hypothesis over the whole chat path a line takes: line buffer, parser, event builder, writer, a real
database (SQLite and PostgreSQL).  Every tag Twitch sends, with extreme numbers and any text: each chat
line ends up stored (numbers out of range left out of their columns) or quarantined, never stuck."""

from __future__ import annotations

import itertools

import peewee
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.standins.irc import load_irc_lines
from vodtender.clients.irc_lines import INT_COLUMN_MAX, MalformedLine, parse_line, parse_tags, raw_tags_of
from vodtender.clients.twitch_irc import LenientLineBuffer
from vodtender.pipeline.chat.events import ChatEvent, ChatEventBuilder
from vodtender.pipeline.chat.writer import ChatWriter
from vodtender.runtime.models import ChatMessage, ChatQuarantine

TWITCH_TAGS = sorted({key for line in load_irc_lines("corpus.txt") for key in parse_tags(raw_tags_of(line))} - {"id"})
_examples = itertools.count()

EXTREME_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(
        [
            "2147483647",
            "2147483648",
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551616",
            "99999999999999999999",
            "9" * 5000,
            "-0",
            "+1",
            "1_0",
            "1e9",
            "nan",
            "inf",
            "\u0663",
        ]
    ),
    st.text(alphabet="0123456789", min_size=1, max_size=40),
)
ANY_TEXT = st.text(max_size=40)  # NUL, controls, any plane


def escape_tag_value(value: str) -> str:
    return value.translate(str.maketrans({"\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n"}))


@st.composite
def chat_lines(draw: st.DrawFn, msg_id: str) -> bytes:
    names = draw(st.lists(st.sampled_from(TWITCH_TAGS), unique=True, max_size=len(TWITCH_TAGS)))
    tags = [f"id={msg_id}"] + [
        f"{name}={escape_tag_value(draw(st.one_of(EXTREME_NUMBERS, ANY_TEXT)))}" for name in names
    ]
    command = draw(st.sampled_from(["PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG"]))
    text = draw(ANY_TEXT).replace("\r", " ").replace("\n", " ")
    return f"@{';'.join(tags)} :u!u@u.tmi.twitch.tv {command} #chan :{text}\r\n".encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_chat_line_is_stored_or_quarantined(migrated_db: peewee.Database, data: st.DataObject) -> None:
    example = next(_examples)
    ids = [f"hyp-{example}-{i}" for i in range(data.draw(st.integers(1, 8)))]
    buffer = LenientLineBuffer()
    for msg_id in ids:
        buffer.feed(data.draw(chat_lines(msg_id)))
    builder = ChatEventBuilder()
    events: list[ChatEvent] = []
    for line in buffer:
        try:
            event = builder.build(parse_line(line), line, 1_700_000_000.0)
        except MalformedLine:
            continue
        if event is not None:
            events.append(event)
    writer = ChatWriter(0.01, 1000, 10_000)
    writer.start()
    for event in events:
        writer.put(event)
    assert writer.close(timeout=60)
    built = {event.msg_id for event in events}
    stored = {m.msg_id: m for m in ChatMessage.select().where(ChatMessage.msg_id.in_(ids))}
    quarantined = {q.msg_id for q in ChatQuarantine.select().where(ChatQuarantine.msg_id.in_(ids))}
    assert built == set(stored) | quarantined, "every chat line is stored or quarantined"
    for m in stored.values():
        assert 0 <= m.bits <= INT_COLUMN_MAX
        assert m.ban_duration is None or 0 <= m.ban_duration <= INT_COLUMN_MAX
        assert 0 < m.abs_timestamp < 253_402_300_800
