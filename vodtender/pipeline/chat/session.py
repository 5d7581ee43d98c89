"""The IRC session: every channel joined over one connection (two during a RECONNECT), in its own thread.

It connects, logs in, joins, answers PING, follows RECONNECT, reconnects with backoff after a
drop, and turns lines into events for the writer.  RECONNECT: a new connection is opened and
joined to every channel first; only then is the old one closed, so a message sent in between
arrives on one of them (or both: the id dedupes it).  A connection that drops instead leaves a
gap per channel (`coverage`), recorded in `chat_gaps` from the moment the drop was seen until
the channel is joined again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from vodtender.clients.irc_lines import IrcMessage, MalformedLine, parse_line
from vodtender.clients.twitch_irc import MAX_LINE_BYTES, IrcEndpoint, IrcLogin, TwitchConnection, TwitchReactor
from vodtender.pipeline.chat.coverage import ChannelCoverage
from vodtender.pipeline.chat.dedupe import RecentIds
from vodtender.pipeline.chat.events import CHAT_COMMANDS, ChatEvent, ChatEventBuilder, ChatItem
from vodtender.pipeline.chat.rooms import RoomNames
from vodtender.pipeline.chat.stats import (
    CONNECTIONS,
    DUPLICATES,
    MALFORMED,
    RECONNECTS,
    REFUSED_TAGS,
    ChannelStats,
    EventRate,
)
from vodtender.pipeline.chat.throttled_log import ThrottledWarning
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.clock import Clock
from vodtender.runtime.logs import get_logger

log = get_logger("chat")

RECONNECT_BASE = 1.0  # first retry after a drop; doubles per failed attempt, with jitter
RECONNECT_CAP = 60.0
STABLE_AFTER = 30.0  # a connection that lived this long resets the backoff
REGISTER_TIMEOUT = 30.0  # from connect to every channel joined (or as many as the server lets us)
REJOIN_INTERVAL = 60.0  # a channel the server did not let us join (suspended, ...) is tried again this often
KEEPALIVE_AFTER = 60.0  # silence before we PING
DEAD_AFTER = 150.0  # silence before the connection counts as dead
JOIN_BATCH = 20  # Twitch allows 20 JOINs per 10 s
JOIN_INTERVAL = 11.0
SEEN_IDS = 100_000  # recent ids kept to drop duplicates before they reach the queue


class IrcSession:
    """Keeps every channel joined over one connection (two during a RECONNECT), in its own thread."""

    def __init__(
        self,
        endpoint: IrcEndpoint,
        login: IrcLogin,
        channels: list[str],
        sink: Callable[[ChatItem], None],
        stats: ChannelStats,
        clock: Clock,
        rooms: RoomNames | None = None,
    ):
        self.endpoint = endpoint
        self.rooms = rooms if rooms is not None else RoomNames()
        self.login = login
        self.channels = sorted(set(channels))
        self.stats = stats
        stats.watch(self.channels)
        self.sink = sink
        self.clock = clock
        self.reactor = TwitchReactor()
        self.reactor.add_global_handler("disconnect", self._on_disconnect)
        self.connections: list[TwitchConnection] = []
        self.builders: dict[TwitchConnection, ChatEventBuilder] = {}
        self.pending_joins: dict[TwitchConnection, list[str]] = {}
        self.next_join_at: dict[TwitchConnection, float] = {}
        self.coverage = ChannelCoverage(self.channels, sink)
        self.drop_reason = "connection lost"
        self.retry_reason = ""
        self.attempt = 0
        self.next_connect_at = 0.0
        self.stopping = False
        self.seen = RecentIds(SEEN_IDS)
        self.rate = EventRate(self.clock.time)
        self.received = 0
        self._malformed_warning = ThrottledWarning("malformed IRC line skipped", clock=clock.monotonic)
        self._refused_tags_warning = ThrottledWarning(
            "chat tag not a number or out of range: its column left empty, the stored tags keep it",
            clock=clock.monotonic,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- thread ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="chat-irc", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
                self.reactor.process_once(timeout=0.2)
            except Exception as exc:  # never let the reader die; the next step starts clean
                log.error("chat session step failed", error=f"{type(exc).__name__}: {exc}", exc_info=True)
                self._stop.wait(1.0)
        self._close_all()

    # -- connections -----------------------------------------------------------------------------
    def _live(self) -> list[TwitchConnection]:
        return [c for c in self.connections if not c.retiring]

    def _open(self) -> None:
        conn: TwitchConnection = self.reactor.server()
        conn.on_line = self._on_line
        conn.on_oversized = lambda size: self._malformed(
            f"<{size} bytes without a newline>", f"line longer than {MAX_LINE_BYTES} bytes"
        )
        conn.clock = self.clock.time
        try:
            conn.open(self.endpoint, self.login)
        except Exception as exc:  # refused, DNS, TLS, timeout: try again later
            conn.discard()
            self._schedule_reconnect(f"connect failed: {exc}")
            return
        self.connections.append(conn)
        self.builders[conn] = ChatEventBuilder(self.rooms)
        CONNECTIONS.set(len(self.connections))
        log.info(
            "chat connecting",
            server=f"{self.endpoint.host}:{self.endpoint.port}",
            tls=int(self.endpoint.tls),
            nick=self.login.nickname,
            attempt=self.attempt,
        )

    def _schedule_reconnect(self, reason: str) -> None:
        self.attempt += 1
        delay = min(RECONNECT_CAP, backoff_delay(RECONNECT_BASE, self.attempt, cap=RECONNECT_CAP))
        self.next_connect_at = self.clock.time() + delay
        self.retry_reason = reason
        log.warning("chat reconnecting", reason=reason, retry_in=f"{delay:.1f}s", attempt=self.attempt)

    def _forget(self, conn: TwitchConnection) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
        self.builders.pop(conn, None)
        self.pending_joins.pop(conn, None)
        self.next_join_at.pop(conn, None)
        conn.discard()
        CONNECTIONS.set(len(self.connections))

    def _on_disconnect(self, conn: TwitchConnection, event: object) -> None:
        if conn not in self.connections:
            return
        reason = (getattr(event, "arguments", None) or ["connection lost"])[0]
        unexpected = not conn.retiring and not self.stopping
        lived = self.clock.time() - conn.opened_at
        self._forget(conn)
        if unexpected:
            self.drop_reason = f"connection lost: {reason}"
            log.warning("chat connection lost", reason=reason, lived=f"{lived:.0f}s")
        elif not self.stopping:
            self.drop_reason = "connection closed after RECONNECT before the new one had joined"
        self._coverage_changed()
        if not self.stopping and not self._live():
            if lived >= STABLE_AFTER:
                self.attempt = 0
            self._schedule_reconnect(self.drop_reason)

    def _close_all(self) -> None:
        self.stopping = True
        self.drop_reason = "recorder stopped"
        for conn in list(self.connections):
            conn.retiring = True
            self._forget(conn)
        self._coverage_changed()

    def _tick(self) -> None:
        now = self.clock.time()
        if not self.stopping and not self._live() and now >= self.next_connect_at:
            if self.coverage.ever_joined:
                for channel in self.channels:
                    RECONNECTS.labels(channel).inc()
            self._open()
        for conn in list(self.connections):
            silent = now - conn.last_received
            if not conn.announced and now - conn.opened_at > REGISTER_TIMEOUT:
                if conn.joined:  # some channels refused (suspended, renamed): record the others
                    self._on_ready(conn)
                else:
                    conn.disconnect(f"not joined after {REGISTER_TIMEOUT:.0f}s")
            elif silent > DEAD_AFTER:
                conn.disconnect(f"no data for {silent:.0f}s")
            elif silent > KEEPALIVE_AFTER and now - conn.pinged_at > KEEPALIVE_AFTER:
                conn.pinged_at = now
                conn.send_line("PING :vodtender")
            if conn.registered and now >= self.next_join_at.get(conn, 0):
                if self.pending_joins.get(conn):
                    self._send_joins(conn)
                elif conn.announced and not self._is_ready(conn):
                    self.pending_joins[conn] = ["#" + c for c in self.channels if c not in conn.joined]
                    self._send_joins(conn)
                    self.next_join_at[conn] = now + REJOIN_INTERVAL

    def _is_ready(self, conn: TwitchConnection) -> bool:
        return conn.joined.issuperset(self.channels)

    # -- lines -----------------------------------------------------------------------------------
    def _on_line(self, conn: TwitchConnection, line: str, received_at: float) -> None:
        try:
            msg = parse_line(line)
            if msg.command in CHAT_COMMANDS:
                event = self.builders[conn].build(msg, line, received_at)
                if event is not None:
                    self._accept(event)
            else:
                self._on_command(conn, msg.command, msg)
        except MalformedLine as exc:
            self._malformed(line, str(exc))
        except Exception as exc:  # whatever a hostile line does, it only skips that line
            self._malformed(line, f"{type(exc).__name__}: {exc}")

    def _accept(self, event: ChatEvent) -> None:
        if not self.seen.add((event.channel, event.msg_id)):
            DUPLICATES.labels(self.stats.label(event.channel)).inc()
            return
        self.received += 1
        if event.refused_tags:
            REFUSED_TAGS.inc()
            self._refused_tags_warning.warn(
                channel=event.channel, msg_id=event.msg_id, tags=",".join(event.refused_tags)
            )
        self.stats.event(event)
        self.rate.add(event.received_at)
        self.sink(event)

    def _on_command(self, conn: TwitchConnection, command: str, msg: IrcMessage) -> None:
        if command == "PING":  # answered whatever it carries; `:tmi.twitch.tv PING` has nothing
            conn.send_line("PONG :" + (msg.params[-1] if msg.params else "tmi.twitch.tv"))
        elif command == "001" and not conn.registered:  # a replayed welcome must not rename us or rejoin
            conn.registered = True
            if msg.params:
                conn.real_nickname = msg.params[0]
            self.pending_joins[conn] = ["#" + c for c in self.channels]
            self._send_joins(conn)
        elif command in ("JOIN", "PART") and msg.nick.lower() == conn.real_nickname.lower() and msg.channel:
            if command == "JOIN":
                conn.joined.add(msg.channel)
            else:
                conn.joined.discard(msg.channel)
                self.pending_joins.setdefault(conn, []).append("#" + msg.channel)
            self._coverage_changed()
            if command == "JOIN" and self._is_ready(conn):
                self._on_ready(conn)
        elif command == "RECONNECT":
            self._on_reconnect(conn)
        elif command == "NOTICE":
            self._on_notice(conn, msg)
        elif command == "ROOMSTATE":  # names the channel's room id, the source of what it shares
            self.rooms.learn(msg.tags.get("room-id"), msg.channel)
        # USERSTATE, GLOBALUSERSTATE, CAP, numerics, HOSTTARGET, WHISPER, PONG: not chat

    def _send_joins(self, conn: TwitchConnection) -> None:
        pending = self.pending_joins.get(conn, [])
        batch, self.pending_joins[conn] = pending[:JOIN_BATCH], pending[JOIN_BATCH:]
        line = ""
        for name in batch:  # one JOIN line per ~400 bytes
            if line and len(line) + len(name) > 400:
                conn.send_line("JOIN " + line)
                line = ""
            line = f"{line},{name}" if line else name
        if line:
            conn.send_line("JOIN " + line)
        self.next_join_at[conn] = self.clock.time() + JOIN_INTERVAL

    def _on_ready(self, conn: TwitchConnection) -> None:
        if conn.announced:
            return
        conn.announced = True
        missing = [c for c in self.channels if c not in conn.joined]
        if missing:
            log.warning("chat channels not joined, will retry", channels=",".join(missing))
        log.info("chat joined", channels=len(conn.joined), nick=conn.real_nickname)
        for old in list(self.connections):
            if old is not conn and old.retiring:  # the successor has every channel: let the old one go
                self._forget(old)
        self._coverage_changed()

    def _on_reconnect(self, conn: TwitchConnection) -> None:
        log.info("chat server asked to reconnect: opening a new connection before closing this one")
        conn.retiring = True
        if not self._live():
            for channel in self.channels:
                RECONNECTS.labels(channel).inc()
            self._open()

    def _on_notice(self, conn: TwitchConnection, msg: IrcMessage) -> None:
        text = msg.trailing
        if "authentication failed" in text.lower() or "improperly formatted auth" in text.lower():
            log.error("chat login refused: check TWITCH_BOT_USERNAME and TWITCH_OAUTH_TOKEN", notice=text)
        else:
            log.info("chat notice", channel=msg.channel or None, notice_id=msg.tags.get("msg-id"), text=text[:200])

    def _coverage_changed(self) -> None:
        covered = set().union(*(c.joined for c in self.connections)) if self.connections else set()
        self.coverage.update(covered, self.clock.time(), self.drop_reason)

    def _malformed(self, line: str, reason: str) -> None:
        MALFORMED.inc()
        self._malformed_warning.warn(reason=reason, line=repr(line[:200]))

    # -- state for STATUS ------------------------------------------------------------------------
    def describe(self) -> str:
        joined = len(self.coverage.covered)
        rate = self.rate.per_minute()
        if joined == len(self.channels):
            return f"recording {joined} channel{'s' if joined != 1 else ''}, {rate} msg/min"
        if not self._live() and self.next_connect_at > self.clock.time():
            wait = self.next_connect_at - self.clock.time()
            return f"chat reconnecting in {wait:.0f}s ({self.retry_reason}); {joined}/{len(self.channels)} joined"
        return f"joining chat: {joined}/{len(self.channels)} channels joined, {rate} msg/min"
