"""A Twitch-like IRC server on loopback (asyncio), for tests, benchmarks and end-to-end harnesses.

It speaks what a Twitch chat client meets: `CAP REQ` (ACK), PASS/NICK (optional token
check: a wrong one gets `NOTICE * :Login authentication failed` and the close), the welcome
numerics 001-004/375/372/376, JOIN (echo, 353/366, ROOMSTATE, USERSTATE), PART, PING/PONG.
Lines sent to a channel go to every client joined to it, like a real server.

Control API (thread-safe; the server runs its own event loop in a thread):

    server = TwitchIrcStandin().start()           # .address -> (host, port); ssl_context= for TLS,
                                                   # valid_tokens=, suspended_channels= (JOIN refused)
    server.wait_joined("chan", clients=1)          # until that many clients joined #chan
    server.send("PRIVMSG ...", channel="chan")     # one raw line (its channel rewritten)
    replay = server.replay(lines, "chan", rate=5000, count=20000, fresh_ids=True)
    replay.wait(); replay.sent; replay.ids; replay.missed   # missed: sent while nobody was joined
    server.reconnect()                              # RECONNECT to every client (they should reconnect)
    server.drop()                                   # hard close of every client connection
    server.clients(); server.connections_total; server.client_lines   # what clients sent
    server.stop()

`replay()` rewrites each line to the channel (`#x` -> `#chan`); with `fresh_ids` every
line gets a new unique `id` (so a 5,800-line file can make 20,000 distinct messages),
with `fresh_ts` a `tmi-sent-ts` of the moment it is sent.  `wait_for_listener=True`
pauses the replay while no client is joined (nothing is missed); with False the lines are
"sent" anyway and kept in `replay.missed`, the stand-in's own log of what nobody received.

As a process: `python -m tests.standins.irc --port 6667 [--control-port 8080]` serves IRC
and a small HTTP control API: POST /reconnect, POST /drop, POST /send?channel=c (body:
lines), POST /replay?file=F&channel=c&rate=R&count=N&fresh=1, GET /stats (JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

from vodtender.runtime.httpserver import HttpServer, QuietHandler

SERVER = "tmi.twitch.tv"
TESTDATA = Path(__file__).resolve().parents[1] / "data" / "twitch_irc"  # a copy of the shared real Twitch lines
_CHANNEL_PARAM = re.compile(r"^((?:@\S+ +)?(?::\S+ +)?[A-Za-z0-9]+ +)#[^\s,]+")
_ID_TAG = re.compile(r"(^@|;)id=[^; ]*")
_TS_TAG = re.compile(r"(^@|;)tmi-sent-ts=\d*")
_ID_MARK, _TS_MARK = "\x00id\x00", "\x00ts\x00"  # filled in per send


def load_irc_lines(name: str) -> list[str]:
    """Lines of a file in the shared Twitch IRC test data (corpus.txt, bench_chat.txt, ...)."""
    return (TESTDATA / name).read_text(encoding="utf-8").splitlines()


def rewrite(line: str, channel: str, msg_id: str | None = None, sent_ms: int | str | None = None) -> str:
    """The line addressed to #channel, optionally with a new `id` and `tmi-sent-ts`."""
    line = _CHANNEL_PARAM.sub(lambda m: m.group(1) + "#" + channel, line, count=1)
    if msg_id is not None:
        if _ID_TAG.search(line):
            line = _ID_TAG.sub(lambda m: f"{m.group(1)}id={msg_id}", line, count=1)
        elif line.startswith("@"):
            line = f"@id={msg_id};" + line[1:]
        else:
            line = f"@id={msg_id} " + line
    if sent_ms is not None and _TS_TAG.search(line):
        line = _TS_TAG.sub(lambda m: f"{m.group(1)}tmi-sent-ts={sent_ms}", line, count=1)
    return line


@dataclass
class Client:
    writer: asyncio.StreamWriter
    nick: str = ""
    password: str | None = None
    registered: bool = False
    caps: str = ""
    channels: set[str] = field(default_factory=set)
    closed: bool = False


@dataclass
class Replay:
    """A running replay: how far it got, the ids it sent, the lines nobody received."""

    total: int
    sent: int = 0
    ids: list[str] = field(default_factory=list)
    missed: list[tuple[float, str]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0

    def wait(self, timeout: float = 120.0) -> Replay:
        if not self.done.wait(timeout):
            raise TimeoutError(f"replay sent {self.sent}/{self.total} in {timeout}s")
        return self

    def cancel(self) -> None:
        self.cancelled = True


class TwitchIrcStandin:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        valid_tokens: Iterable[str] | None = None,
        suspended_channels: Iterable[str] = (),
        room_ids: dict[str, str] | None = None,
    ):
        self.host = host
        self.room_ids = dict(room_ids or {})  # channel -> its ROOMSTATE room-id (Twitch's user id); else 1
        self.suspended_channels = set(suspended_channels)  # JOIN refused with a NOTICE, like Twitch
        self.port = port
        self.ssl_context = ssl_context
        self.valid_tokens = set(valid_tokens) if valid_tokens is not None else None
        self.loop = asyncio.new_event_loop()
        self._clients: list[Client] = []
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="irc-standin", daemon=True)
        self.connections_total = 0
        self.client_lines: list[str] = []  # everything clients sent (PASS included: it is a test token)
        self._id_prefix = uuid.uuid4().hex[:8]
        self._id_seq = itertools.count()

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> TwitchIrcStandin:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def __enter__(self) -> TwitchIrcStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def _call(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, ssl=self.ssl_context, limit=1 << 20
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        for client in list(self._clients):
            self._close(client)
        if self._server is not None:
            self._server.close()

    # -- control API -----------------------------------------------------------------------------
    def clients(self) -> list[dict]:
        return [
            {
                "nick": c.nick,
                "channels": sorted(c.channels),
                "registered": c.registered,
                "caps": c.caps,
                "password": c.password,
            }
            for c in list(self._clients)
        ]

    def joined(self, channel: str) -> int:
        return sum(1 for c in list(self._clients) if channel in c.channels and not c.closed)

    def wait_joined(self, channel: str, clients: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.joined(channel) < clients:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.joined(channel)} clients joined #{channel}, wanted {clients}")
            time.sleep(0.02)

    def send(self, line: str, channel: str | None = None) -> None:
        """One raw line to every client of `channel` (rewritten to it), or to every registered client."""
        data = (rewrite(line, channel) if channel else line).encode("utf-8", "surrogateescape") + b"\r\n"
        self.send_bytes(data, channel)

    def send_bytes(self, data: bytes, channel: str | None = None) -> None:
        """Raw bytes as they are (malformed input welcome) to the clients of `channel` (or all)."""
        self.loop.call_soon_threadsafe(self._broadcast, data, channel)

    def reconnect(self) -> None:
        self.send(f":{SERVER} RECONNECT")

    def drop(self) -> None:
        """Hard disconnect of every client, without a word."""

        def drop_all() -> None:
            for client in list(self._clients):
                self._close(client, abort=True)

        self.loop.call_soon_threadsafe(drop_all)

    def replay(
        self,
        lines: list[str],
        channel: str,
        rate: float | None = None,
        count: int | None = None,
        fresh_ids: bool = False,
        fresh_ts: bool = False,
        wait_for_listener: bool = True,
        batch: int = 256,
    ) -> Replay:
        """Send `lines` (cycled up to `count`) to #channel at `rate` lines/s (None: as fast as possible)."""
        replay = Replay(total=count if count is not None else len(lines))
        asyncio.run_coroutine_threadsafe(
            self._replay(replay, lines, channel, rate, fresh_ids, fresh_ts, wait_for_listener, batch), self.loop
        )
        return replay

    # -- the protocol ----------------------------------------------------------------------------
    def _targets(self, channel: str | None) -> list[Client]:
        return [
            c for c in self._clients if not c.closed and c.registered and (channel is None or channel in c.channels)
        ]

    def _broadcast(self, data: bytes, channel: str | None) -> None:
        for client in self._targets(channel):
            client.writer.write(data)

    def _close(self, client: Client, abort: bool = False) -> None:
        if client.closed:
            return
        client.closed = True
        if client in self._clients:
            self._clients.remove(client)
        if abort and client.writer.transport is not None:
            client.writer.transport.abort()
        else:
            client.writer.close()

    def _reply(self, client: Client, *lines: str) -> None:
        client.writer.write("".join(line + "\r\n" for line in lines).encode())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Client(writer)
        self._clients.append(client)
        self.connections_total += 1
        try:
            while not client.closed:
                raw = await reader.readline()
                if not raw:
                    break
                self._handle(client, raw.decode("utf-8", "replace").rstrip("\r\n"))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self._close(client)

    def _handle(self, client: Client, line: str) -> None:
        self.client_lines.append(line)
        command, _, rest = line.partition(" ")
        command = command.upper()
        if command == "CAP" and rest.upper().startswith("REQ"):
            client.caps = rest.partition(":")[2]
            self._reply(client, f":{SERVER} CAP * ACK :{client.caps}")
        elif command == "PASS":
            client.password = rest.strip()
        elif command == "NICK":
            client.nick = rest.strip().lower()
            self._welcome(client)
        elif command == "JOIN" and client.registered:
            for name in rest.strip().split(","):
                channel = name.strip().lstrip("#").lower()
                if channel in self.suspended_channels:
                    self._reply(
                        client,
                        f"@msg-id=msg_channel_suspended :{SERVER} NOTICE #{channel} "
                        ":This channel does not exist or has been suspended.",
                    )
                    continue
                client.channels.add(channel)
                nick = client.nick
                room_id = self.room_ids.get(channel, "1")
                self._reply(
                    client,
                    f":{nick}!{nick}@{nick}.{SERVER} JOIN #{channel}",
                    f":{nick}.{SERVER} 353 {nick} = #{channel} :{nick}",
                    f":{nick}.{SERVER} 366 {nick} #{channel} :End of /NAMES list",
                    f"@emote-only=0;followers-only=-1;r9k=0;room-id={room_id};slow=0;subs-only=0 "
                    f":{SERVER} ROOMSTATE #{channel}",
                    f"@badge-info=;badges=;color=;display-name={nick};emote-sets=0;mod=0;subscriber=0;"
                    f"user-type= :{SERVER} USERSTATE #{channel}",
                )
        elif command == "PART":
            for name in rest.strip().split(","):
                client.channels.discard(name.strip().lstrip("#").lower())
        elif command == "PING":
            self._reply(client, f":{SERVER} PONG {SERVER} {rest.strip()}")
        elif command == "QUIT":
            self._close(client)

    def _welcome(self, client: Client) -> None:
        token = (client.password or "").removeprefix("oauth:")
        if self.valid_tokens is not None and not client.nick.startswith("justinfan") and token not in self.valid_tokens:
            self._reply(client, f":{SERVER} NOTICE * :Login authentication failed")
            self._close(client)
            return
        nick = client.nick
        client.registered = True
        self._reply(
            client,
            f":{SERVER} 001 {nick} :Welcome, GLHF!",
            f":{SERVER} 002 {nick} :Your host is {SERVER}",
            f":{SERVER} 003 {nick} :This server is rather new",
            f":{SERVER} 004 {nick} :-",
            f":{SERVER} 375 {nick} :-",
            f":{SERVER} 372 {nick} :You are in a maze of twisty passages.",
            f":{SERVER} 376 {nick} :>",
        )

    async def _replay(
        self,
        replay: Replay,
        lines: list[str],
        channel: str,
        rate: float | None,
        fresh_ids: bool,
        fresh_ts: bool,
        wait_for_listener: bool,
        batch: int,
    ) -> None:
        # Rewrite each distinct line once; per send only the id and time are filled in (cheap at 100k lines/s).
        templates = [
            rewrite(line, channel, _ID_MARK if fresh_ids else None, _TS_MARK if fresh_ts else None) for line in lines
        ]
        source = itertools.islice(itertools.cycle(templates), replay.total) if templates else iter(())
        replay.started_at = time.monotonic()
        try:
            while replay.sent < replay.total and not replay.cancelled:
                targets = self._targets(channel)
                if not targets and wait_for_listener:
                    await asyncio.sleep(0.01)
                    continue
                if rate:
                    due = int((time.monotonic() - replay.started_at) * rate) - replay.sent
                    if due <= 0:
                        await asyncio.sleep(min(0.005, 1 / rate))
                        continue
                    size = min(due, batch * 4, replay.total - replay.sent)
                else:
                    size = min(batch, replay.total - replay.sent)
                now_ms = str(int(time.time() * 1000))
                chunk = []
                for template in itertools.islice(source, size):
                    line = template
                    if fresh_ids:
                        msg_id = f"{self._id_prefix}-{next(self._id_seq):012d}"
                        line = line.replace(_ID_MARK, msg_id)
                        replay.ids.append(msg_id)
                    chunk.append(line.replace(_TS_MARK, now_ms) if fresh_ts else line)
                replay.sent += len(chunk)
                if not targets:
                    replay.missed.extend((time.time(), line) for line in chunk)
                    continue
                data = ("\r\n".join(chunk) + "\r\n").encode("utf-8")
                for client in targets:
                    client.writer.write(data)
                for client in targets:
                    try:
                        await client.writer.drain()
                    except (ConnectionError, OSError):
                        self._close(client)
        finally:
            replay.finished_at = time.monotonic()
            replay.done.set()


class _Control(QuietHandler):
    server_ref: ClassVar[TwitchIrcStandin]
    replays: ClassVar[list[Replay]] = []

    def _answer(self, payload: object, status: int = 200) -> None:
        self.reply(status, json.dumps(payload).encode(), "application/json")

    def do_GET(self) -> None:
        irc = self.server_ref
        self._answer(
            {
                "clients": irc.clients(),
                "connections_total": irc.connections_total,
                "replays": [
                    {"sent": r.sent, "total": r.total, "done": r.done.is_set(), "missed": len(r.missed)}
                    for r in self.replays
                ],
            }
        )

    def do_POST(self) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        irc = self.server_ref
        if url.path == "/reconnect":
            irc.reconnect()
        elif url.path == "/drop":
            irc.drop()
        elif url.path == "/send":
            for line in body.splitlines():
                irc.send(line, query.get("channel"))
        elif url.path == "/replay":
            lines = load_irc_lines(query.get("file", "bench_chat.txt"))
            self.replays.append(
                irc.replay(
                    lines,
                    query["channel"],
                    rate=float(query["rate"]) if "rate" in query else None,
                    count=int(query["count"]) if "count" in query else None,
                    fresh_ids=query.get("fresh") == "1",
                    fresh_ts=query.get("fresh") == "1",
                )
            )
        else:
            self._answer({"error": "unknown"}, 404)
            return
        self._answer({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser(description="Twitch-like IRC stand-in on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6667)
    parser.add_argument("--control-port", type=int, default=0, help="HTTP control API port (0: none)")
    args = parser.parse_args()
    irc = TwitchIrcStandin(args.host, args.port).start()
    print(f"irc stand-in on {irc.host}:{irc.port}", flush=True)
    if args.control_port:
        _Control.server_ref = irc
        control = HttpServer((args.host, args.control_port), _Control, name="irc-control").start()
        print(f"control API on {args.host}:{control.address[1]}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
