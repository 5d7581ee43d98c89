"""Parsing Twitch IRC lines and turning them into chat rows: real corpus lines and broken ones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.standins.irc import load_irc_lines
from vodtender.clients.irc_lines import MalformedLine, parse_line, unescape_tag_value
from vodtender.clients.twitch_irc import IrcLogin
from vodtender.pipeline.chat.events import ROW_COLUMNS, ChatEventBuilder

CORPUS = load_irc_lines("corpus.txt")


def row(line: str, received_at: float = 1_700_000_000.5) -> dict:
    event = ChatEventBuilder().build(parse_line(line), line, received_at)
    assert event is not None, line
    return {**dict(zip(ROW_COLUMNS, event.row(None, None), strict=True)), "deletes": event.deletes}


def corpus_line(fragment: str) -> str:
    found = [line for line in CORPUS if fragment in line]
    assert len(found) >= 1, fragment
    return found[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"a\sb", "a b"),
        (r"semi\:colon", "semi;colon"),
        (r"back\\slash", "back\\slash"),
        (r"line\nbreak", "line\nbreak"),
        (r"cr\r", "cr\r"),
        (r"unknown\b", "unknownb"),
        ("trailing\\", "trailing"),
        ("plain", "plain"),
    ],
)
def test_tag_values_are_unescaped(raw: str, expected: str) -> None:
    assert unescape_tag_value(raw) == expected


def test_every_corpus_line_parses() -> None:
    commands = {parse_line(line).command for line in CORPUS}
    assert {"PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG", "PING", "RECONNECT", "ROOMSTATE", "001"} <= commands


def test_ping_without_parameter_parses() -> None:
    msg = parse_line(":tmi.twitch.tv PING")
    assert (msg.command, msg.params) == ("PING", [])


@pytest.mark.parametrize("line", ["", "   ", "@only-tags", ":prefix-only", "@a=b :prefix", "@a=b  ", "PRIV%MSG #x :y"])
def test_broken_lines_raise_malformed(line: str) -> None:
    with pytest.raises(MalformedLine):
        parse_line(line)


# The table: real lines from the corpus and what must be stored for them.
CASES = [
    (
        "plain message with emotes on astral-plane text",
        "id=44f85d39-b5fb-475d-8555-f4244f2f7e82",
        {
            "kind": "message",
            "username": "pajlada",
            "display_name": "pajlada",
            "message": "Kappa 😂 Kappa",
            "emotes": "25:0-4,8-12",
            "abs_timestamp": 1662204423.418,
            "channel": "pajlada",
            "badges": "broadcaster/1,subscriber/3072,partner/1",
            "color": "#CC44FF",
        },
    ),
    (
        "reply with escaped parent body",
        "id=6efffc70-27a1-4637-9111-44e5104bb7da;mod=0;reply-parent",
        {
            "kind": "message",
            "reply_parent_msg_id": "b34ccfc7-4977-403a-8a94-33c6bac34fb8",
            "reply_parent_user_login": "yannismate",
            "reply_parent_display_name": "Yannismate",
            "reply_parent_msg_body": "This message contains special chars !;",
        },
    ),
    ("bits", "id=405c4ccb-7d69-4a57-ac16-292e72ba288b", {"kind": "message", "bits": 5000}),
    ("first message", "id=9c2dd916-5a6d-4c1f-9fe7-a081b62a9c6b", {"first_msg": 1, "message": "Kappa"}),
    ("/me action", "id=d831d848-b7c7-4559-ae3a-2cb88f4dbfed", {"kind": "action", "message": "-tags"}),
    (
        "resub with system message",
        "id=8c2918c2-adf4-4208-a554-8a72d016de70",
        {
            "kind": "usernotice",
            "notice_type": "resub",
            "username": "randers",
            "system_message": "randers subscribed at Tier 1. They've subscribed for 23 months, currently on a 23 month "
            "streak!",
        },
    ),
    (
        "timeout",
        "@ban-duration=1;room-id=11148817;target-user-id=148973258",
        {"kind": "clearchat", "notice_type": "timeout", "target_user": "fabzeef", "ban_duration": 1},
    ),
    (
        "ban",
        "@room-id=11148817;target-user-id=70948394;tmi-sent-ts=1594561360331",
        {"kind": "clearchat", "notice_type": "ban", "target_user": "weeb123", "ban_duration": None},
    ),
    (
        "deleted message",
        "target-msg-id=15e5164d-f8e6-4aec-baf4-2d6a330760c4",
        {"kind": "clearmsg", "target_user": "randers", "deletes": "15e5164d-f8e6-4aec-baf4-2d6a330760c4"},
    ),
]


@pytest.mark.parametrize(("what", "fragment", "expected"), CASES, ids=[c[0] for c in CASES])
def test_corpus_events_become_rows(what: str, fragment: str, expected: dict) -> None:
    stored = row(corpus_line(fragment))
    assert {k: stored[k] for k in expected} == expected


def test_emote_ranges_index_code_points() -> None:
    stored = row(corpus_line("id=23c8b81c-7c73-44e4-84f1-7d37e99714e4"))
    names = [
        stored["message"][int(a) : int(b) + 1]
        for part in stored["emotes"].split("/")
        for a, b in (r.split("-") for r in part.split(":")[1].split(","))
    ]
    assert names == ["Kappa", "PogChamp", "Keepo"]


def test_raid_and_subgift_name_their_target() -> None:
    for line in CORPUS:
        msg = parse_line(line)
        if msg.command == "USERNOTICE" and msg.tags.get("msg-id") in ("raid", "subgift"):
            assert row(line)["target_user"], line


def test_clear_chat_without_user_is_a_clear() -> None:
    stored = row("@room-id=1;tmi-sent-ts=1594561360331 :tmi.twitch.tv CLEARCHAT #chan")
    assert (stored["notice_type"], stored["target_user"]) == ("clear", None)


def test_lines_without_tags_fall_back_to_receive_time_and_a_synthetic_id() -> None:
    line = ":alice!alice@host PRIVMSG #chan :hello"
    builder = ChatEventBuilder()
    first = builder.build(parse_line(line), line, 100.2)
    second = builder.build(parse_line(line), line, 100.7)  # same text again in the same second
    other_connection = ChatEventBuilder().build(parse_line(line), line, 100.4)
    assert first.abs_timestamp == 100.2
    assert first.msg_id != second.msg_id  # a repeat is a new message
    assert other_connection.msg_id == first.msg_id  # the copy on the other connection is the same message


def test_tagged_lines_without_id_get_the_same_id_on_every_connection() -> None:
    line = "@room-id=1;target-user-id=2;tmi-sent-ts=1594553828245 :tmi.twitch.tv CLEARCHAT #chan :someone"
    assert row(line, 1.0)["msg_id"] == row(line, 9.0)["msg_id"]


def test_non_chat_lines_are_not_rows() -> None:
    for line in (
        ":tmi.twitch.tv PING",
        "@emote-only=0 :tmi.twitch.tv ROOMSTATE #chan",
        "@msg-id=slow_off :tmi.twitch.tv NOTICE #chan :This room is no longer in slow mode.",
        ":tmi.twitch.tv PRIVMSG :no channel",
    ):
        assert ChatEventBuilder().build(parse_line(line), line, 1.0) is None


def test_login_is_anonymous_without_a_token_and_prefixes_oauth() -> None:
    assert IrcLogin.from_settings(None, None).nickname.startswith("justinfan")
    assert IrcLogin.from_settings("Bot", "abc123").password == "oauth:abc123"
    assert IrcLogin.from_settings("bot", "oauth:abc123") == IrcLogin("bot", "oauth:abc123")
    assert IrcLogin.from_settings("bot", None).anonymous


_irc_ish = st.lists(
    st.sampled_from(
        [
            "@",
            ":",
            " ",
            ";",
            "=",
            "\\",
            "#chan",
            "PRIVMSG",
            "USERNOTICE",
            "CLEARMSG",
            "CLEARCHAT",
            "PING",
            "id=",
            "tmi-sent-ts=",
            "emotes=",
            "bits=",
            "x",
            "\x01",
            "ACTION ",
            "é",
            "😂",
            "\x00",
            "9" * 30,
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(max_size=300), _irc_ish, st.sampled_from(CORPUS).map(lambda s: s[: len(s) // 2])))
def test_any_line_parses_or_is_refused_cleanly(line: str) -> None:
    try:
        msg = parse_line(line)
    except MalformedLine:
        return
    ChatEventBuilder().build(msg, line, 1.0)  # must not raise either


@pytest.mark.parametrize(
    "tags",
    [
        "bits=99999999999999999999",
        "bits=2147483648",  # one beyond PostgreSQL's INTEGER
        "bits=-5",
        "bits=+5",
        "bits=1_000",
        "bits=\u0663",  # an Arabic-Indic digit, which int() would take
        "bits=" + "9" * 5000,  # beyond int()'s digit limit
    ],
)
def test_bits_out_of_range_leave_the_column_empty_and_the_stored_tags_keep_them(tags: str) -> None:
    line = f"@id=b;{tags};tmi-sent-ts=1700000000000 :u!u@u.tmi.twitch.tv PRIVMSG #chan :cheer"
    event = ChatEventBuilder().build(parse_line(line), line, 1_700_000_000.5)
    assert event is not None and event.refused_tags == ("bits",)
    stored = row(line)
    assert stored["bits"] == 0 and stored["message"] == "cheer"
    assert tags in stored["tags"]


def test_a_ban_duration_out_of_range_is_a_ban_without_duration() -> None:
    stored = row("@ban-duration=99999999999999999999;tmi-sent-ts=1700000000000 :tmi.twitch.tv CLEARCHAT #chan :troll")
    assert (stored["ban_duration"], stored["notice_type"], stored["target_user"]) == (None, "ban", "troll")
    assert row("@ban-duration=2147483647 :tmi.twitch.tv CLEARCHAT #chan :troll")["ban_duration"] == 2147483647


@pytest.mark.parametrize("sent", ["99999999999999999999", "253402300800000", "0", "-1"])
def test_a_send_time_out_of_range_falls_back_to_the_receive_time(sent: str) -> None:
    assert row(f"@id=t;tmi-sent-ts={sent} :u!u@u PRIVMSG #chan :hi", received_at=1_700_000_000.5)["abs_timestamp"] == (
        1_700_000_000.5
    )


SHARED = load_irc_lines("shared_chat.txt")


def test_shared_chat_lines_carry_their_source_and_a_sharedchatnotice_is_stored_as_its_event() -> None:
    from vodtender.pipeline.chat.rooms import RoomNames

    builder = ChatEventBuilder(RoomNames({"1025594235": "shared_chat_test_01"}))
    rows = []
    for line in SHARED:
        event = builder.build(parse_line(line), line, 1_700_000_000.5)
        assert event is not None, line
        rows.append(dict(zip(ROW_COLUMNS, event.row(None, None), strict=True)))
    shared = ("mirrored", "source_room_id", "source_channel", "source_msg_id")
    assert [tuple(r[c] for c in ("channel", "kind", "notice_type", *shared)) for r in rows] == [
        ("pajlada", "message", None, 1, "1025594235", "shared_chat_test_01", "b97eea45-f9dc-4f0c-8744-f8256c3ed950"),
        ("pajlada", "message", None, 1, "1025594235", "shared_chat_test_01", "040d1673-826d-48d1-9728-badc945e4a5e"),
        (
            "pajlada",
            "usernotice",
            "announcement",
            1,
            "1025594235",
            "shared_chat_test_01",
            "4083dadc-9f20-40f9-ba92-949ebf6bc294",
        ),
        (
            "shared_chat_test_02",
            "usernotice",
            "announcement",
            1,
            "1025594235",
            "shared_chat_test_01",
            "4083dadc-9f20-40f9-ba92-949ebf6bc294",
        ),
        # room 1025597036 was learned from the line before (its own room-id)
        (
            "shared_chat_test_01",
            "message",
            None,
            1,
            "1025597036",
            "shared_chat_test_02",
            "0b1e60f3-5990-4b26-94e2-885231614e07",
        ),
        ("cdawgva", "usernotice", "resub", 1, "92038375", None, "b119fb84-ecb6-4543-99bb-b797a335083c"),
    ]
    assert rows[1]["message"] == "shared9Dog"


def test_a_line_of_the_channel_itself_in_a_shared_session_is_not_mirrored() -> None:
    line = "@id=own;room-id=7;source-room-id=7;source-id=own :u!u@u.tmi.twitch.tv PRIVMSG #chan :mine"
    r = row(line)
    assert (r["mirrored"], r["source_room_id"], r["source_msg_id"]) == (0, "7", "own")
    plain = row("@id=p;room-id=7 :u!u@u.tmi.twitch.tv PRIVMSG #chan :plain")
    assert (plain["mirrored"], plain["source_room_id"], plain["source_channel"]) == (0, None, None)
