"""Twitch IRC lines: IRCv3 tags, prefix, command, parameters — parsed by hand, leniently.

Pure text to data, no connection: the chat stage and anything that reads stored raw lines use it
without loading the IRC library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class MalformedLine(ValueError):
    """A line that is not IRC; the message says why."""


@dataclass(slots=True)
class IrcMessage:
    """One parsed IRC line: tags (unescaped), prefix, command (upper case), params."""

    tags: dict[str, str]
    prefix: str
    command: str
    params: list[str]
    raw_tags: str = ""

    @property
    def nick(self) -> str:
        return self.prefix.split("!", 1)[0]

    @property
    def channel(self) -> str:
        """The channel a command concerns, without '#', lower case; '' when none."""
        if self.params and self.params[0].startswith("#"):
            return self.params[0][1:].lower()
        return ""

    @property
    def trailing(self) -> str:
        return self.params[-1] if len(self.params) > 1 else ""


_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)


def unescape_tag_value(value: str) -> str:
    r"""IRCv3 tag value unescaping: `\s`->space, `\:`->`;`, `\\`->`\`, `\r` `\n`; an unknown
    escape drops the backslash (`\b`->`b`) and a trailing lone backslash is dropped."""
    if "\\" not in value:
        return value
    return _TAG_ESCAPE.sub(lambda m: _TAG_ESCAPES.get(m.group(1), m.group(1)), value)


def raw_tags_of(line: str) -> str:
    """The tag part of a line (between '@' and the first space), '' when it has none."""
    if not line.startswith("@"):
        return ""
    space = line.find(" ")
    return line[1:space] if space >= 0 else line[1:]


def parse_tags(raw: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        key, _, value = item.partition("=")
        if key:
            tags[key] = unescape_tag_value(value) if "\\" in value else value
    return tags


# The widest number a tag may carry into a column: PostgreSQL's INTEGER, the narrower of the two databases.
INT_COLUMN_MAX = 2**31 - 1
_MAX_DIGITS = 19  # longer than any int64: out of range whatever it says, so int() never parses megabytes


def bounded_int(value: str | None, low: int, high: int) -> int | None:
    """A tag's non-negative decimal number if it lies in [low, high]; None when absent, not plain ASCII
    digits (int() would take "+5", "1_0", Arabic digits), or out of range (the raw tag string still holds it)."""
    if not value or len(value) > _MAX_DIGITS or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if low <= number <= high else None


def parse_line(line: str) -> IrcMessage:
    """Parse one IRC line (without CR LF).  Raises MalformedLine on anything that is not IRC."""
    rest = line
    raw_tags = ""
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags = raw_tags_of(rest)
        if len(raw_tags) + 1 == len(rest):
            raise MalformedLine("tags without a command")
        tags = parse_tags(raw_tags)
        rest = rest[len(raw_tags) + 2 :].lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        space = rest.find(" ")
        if space < 0:
            raise MalformedLine("prefix without a command")
        prefix = rest[1:space]
        rest = rest[space + 1 :].lstrip(" ")
    trailing = None
    colon = rest.find(" :")
    if colon >= 0:
        rest, trailing = rest[:colon], rest[colon + 2 :]
    params = rest.split()
    if not params:
        raise MalformedLine("no command")
    command = params.pop(0).upper()
    if not (command.isalpha() or (command.isdigit() and len(command) == 3)):
        raise MalformedLine(f"bad command {command[:20]!r}")
    if trailing is not None:
        params.append(trailing)
    return IrcMessage(tags, prefix, command, params, raw_tags)
