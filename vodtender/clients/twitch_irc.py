"""Twitch IRC, thin: one connection (the `irc` library), line parsing, Twitch's IRCv3 tags.

The `irc` library does what it does well here: the socket (TLS or not), the reactor that
selects over several connections at once (old and new during a RECONNECT), the commands
we send (CAP, PASS, NICK, USER, JOIN, PONG, PING) and the disconnect event.  Incoming lines
take our own path instead of the library's: its parser raises on a tag-less
`:tmi.twitch.tv PING` and kills its loop, decodes strictly (a bad byte raises), and its
regex + Event + handler dispatch costs about half the time of the whole client
(docs/chat.md has the numbers).  So `TwitchConnection` reads with a lenient UTF-8 line
buffer, caps a line that never ends, and hands each line to a callback that parses it
with `parse_line` and survives anything.
"""

from __future__ import annotations

import random
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import irc.client
from jaraco.stream import buffer

# A line longer than this without a newline is garbage (Twitch lines stay well under 16 kB).
MAX_LINE_BYTES = 64 * 1024
CONNECT_TIMEOUT = 15.0
CAPABILITIES = "twitch.tv/tags twitch.tv/commands"


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


def parse_tags(raw: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        key, _, value = item.partition("=")
        if key:
            tags[key] = unescape_tag_value(value) if "\\" in value else value
    return tags


def parse_line(line: str) -> IrcMessage:
    """Parse one IRC line (without CR LF).  Raises MalformedLine on anything that is not IRC."""
    rest = line
    raw_tags = ""
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        space = rest.find(" ")
        if space < 0:
            raise MalformedLine("tags without a command")
        raw_tags = rest[1:space]
        tags = parse_tags(raw_tags)
        rest = rest[space + 1:].lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        space = rest.find(" ")
        if space < 0:
            raise MalformedLine("prefix without a command")
        prefix = rest[1:space]
        rest = rest[space + 1:].lstrip(" ")
    trailing = None
    colon = rest.find(" :")
    if colon >= 0:
        rest, trailing = rest[:colon], rest[colon + 2:]
    params = rest.split()
    if not params:
        raise MalformedLine("no command")
    command = params.pop(0).upper()
    if not (command.isalpha() or (command.isdigit() and len(command) == 3)):
        raise MalformedLine(f"bad command {command[:20]!r}")
    if trailing is not None:
        params.append(trailing)
    return IrcMessage(tags, prefix, command, params, raw_tags)


@dataclass(frozen=True)
class IrcLogin:
    """Who we log in as: anonymous `justinfan<random>` unless a bot name and token are given."""

    nickname: str
    password: str | None = None

    @classmethod
    def from_settings(cls, username: str | None, token: str | None) -> IrcLogin:
        if username and token:
            password = token if token.startswith("oauth:") else "oauth:" + token
            return cls(username.strip().lower(), password)
        return cls(f"justinfan{random.randint(10_000, 99_999_999)}")

    @property
    def anonymous(self) -> bool:
        return self.password is None


@dataclass(frozen=True)
class IrcEndpoint:
    host: str
    port: int
    tls: bool = True

    def open_socket(self, address: tuple[str, int]) -> socket.socket:
        """The library's `connect_factory`: a connected (TLS) socket, with a connect timeout."""
        sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
        if self.tls:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        sock.settimeout(None)
        return sock


class LenientLineBuffer(buffer.DecodingLineBuffer):
    """UTF-8 lines; a bad byte becomes U+FFFD instead of an exception (the rest of the line stays)."""

    errors = "replace"


LineHandler = Callable[["TwitchConnection", str, float], None]


class TwitchConnection(irc.client.ServerConnection):
    """An `irc` ServerConnection whose incoming lines go to `on_line(conn, line, received_at)`."""

    buffer_class = LenientLineBuffer
    buffer: LenientLineBuffer  # the library makes one per connect

    def __init__(self, reactor: irc.client.Reactor):
        super().__init__(reactor)
        self.on_line: LineHandler = lambda conn, line, at: None
        self.on_oversized: Callable[[int], None] = lambda size: None
        self.clock: Callable[[], float] = time.time
        self.last_received = 0.0
        self.joined: set[str] = set()
        self.registered = False
        self.opened_at = 0.0
        self.retiring = False  # RECONNECT seen or closed by us: its end is not a gap
        self.announced = False  # joined to every channel it was asked to join
        self.pinged_at = 0.0
        self._discarded = False

    def open(self, endpoint: IrcEndpoint, login: IrcLogin) -> TwitchConnection:
        """Connect and log in (PASS/NICK/USER by the library), then ask for Twitch's tags and commands."""
        self.opened_at = self.last_received = self.clock()
        self.connect(endpoint.host, endpoint.port, login.nickname, password=login.password,
                     connect_factory=endpoint.open_socket)
        self.cap("REQ", *CAPABILITIES.split())  # several: the library adds the ':' only then
        return self

    def process_data(self) -> None:
        """Read what the socket has (TLS: also what the TLS layer already decrypted) and hand on the lines."""
        while self.connected:
            try:
                data = self.socket.recv(2**16)
            except (OSError, ValueError):  # reset, or closed under us
                self.disconnect("Connection reset by peer")
                return
            if not data:
                self.disconnect("Connection closed by server")
                return
            self.last_received = now = self.clock()
            self.buffer.feed(data)
            for line in self.buffer:
                if line and self.connected:
                    self.on_line(self, line, now)
            if len(self.buffer) > MAX_LINE_BYTES:
                self.on_oversized(len(self.buffer))
                self.buffer = self.buffer_class()
            if not (isinstance(self.socket, ssl.SSLSocket) and self.socket.pending()):
                return

    def discard(self) -> None:
        """Close for good (QUIT if still up) and leave the reactor; safe to call twice."""
        if not self._discarded:
            self._discarded = True
            self.close()

    def send_line(self, line: str) -> None:
        """Send a raw line; a broken socket becomes a disconnect event, never an exception."""
        if self.connected:
            try:
                self.send_raw(line)
            except irc.client.IRCError:
                self.disconnect("send failed")


class TwitchReactor(irc.client.Reactor):
    connection_class = TwitchConnection
