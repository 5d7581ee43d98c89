"""The IRC line layer's guards against hostile input: numbers for columns, tags, NUL."""

from __future__ import annotations

import pytest

from vodtender.clients.irc_lines import INT_COLUMN_MAX, bounded_int, parse_line, raw_tags_of
from vodtender.clients.twitch_irc import LenientLineBuffer


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("2147483647", INT_COLUMN_MAX),
        ("2147483648", None),
        ("99999999999999999999", None),
        ("9" * 100_000, None),
        ("", None),
        (None, None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1_0", None),
        ("\u0661", None),
        ("1e3", None),
    ],
)
def test_bounded_int_takes_only_plain_digits_in_range(value: str | None, expected: int | None) -> None:
    assert bounded_int(value, 0, INT_COLUMN_MAX) == expected


@pytest.mark.parametrize(
    ("line", "tags"), [("@a=b;c=d :p PRIVMSG #x :y", "a=b;c=d"), (":p PRIVMSG #x :y", ""), ("@only", "only")]
)
def test_raw_tags_are_what_parse_line_sees(line: str, tags: str) -> None:
    assert raw_tags_of(line) == tags
    if " " in line:
        assert parse_line(line).raw_tags == tags


def test_nul_and_bad_bytes_become_replacement_characters() -> None:
    buffer = LenientLineBuffer()
    buffer.feed(b"@id=n :u!u@u PRIVMSG #x :a\x00b\xffc\r\n")
    assert list(buffer) == ["@id=n :u!u@u PRIVMSG #x :a\ufffdb\ufffdc"]
