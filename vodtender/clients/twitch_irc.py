"""Twitch IRC, thin: one connection (the `irc` library); lines are parsed by `irc_lines`.

The `irc` library does what it does well here: the socket (TLS or not), the reactor that
selects over several connections at once (old and new during a RECONNECT), the commands
we send (CAP, PASS, NICK, USER, JOIN, PONG, PING) and the disconnect event.  Incoming lines
take our own path instead of the library's: its parser raises on a tag-less
`:tmi.twitch.tv PING` and kills its loop, decodes strictly (a bad byte raises), and its
regex + Event + handler dispatch costs about half the time of the whole client
(docs/chat.md has the numbers).  So `TwitchConnection` reads with a lenient UTF-8 line
buffer, caps a line that never ends, and hands each line to a callback that parses it
with `irc_lines.parse_line` and survives anything.
"""

from __future__ import annotations

import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import irc.client
from jaraco.stream import buffer

# A line longer than this without a newline is garbage (Twitch lines stay well under 16 kB).
MAX_LINE_BYTES = 64 * 1024
CONNECT_TIMEOUT = 15.0
CAPABILITIES = "twitch.tv/tags twitch.tv/commands"


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
    """UTF-8 lines; a bad byte becomes U+FFFD instead of an exception (the rest of the line stays), and
    so does NUL: IRC forbids it and PostgreSQL cannot store it in a text column."""

    errors = "replace"

    def lines(self) -> Iterator[str]:
        for line in super().lines():
            yield line.replace("\x00", "\ufffd")


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
        self.connect(
            endpoint.host, endpoint.port, login.nickname, password=login.password, connect_factory=endpoint.open_socket
        )
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
