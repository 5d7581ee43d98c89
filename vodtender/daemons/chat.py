"""The chat recorder: one Twitch IRC connection for every channel, batched writes, no gaps on RECONNECT.

Wiring and supervision only.  Two threads besides the runtime's loop: the IRC session
(`pipeline.chat.session`) and the writer (`pipeline.chat.writer`); `run_once()` starts the
session again if its thread ended.
"""

from __future__ import annotations

from vodtender.clients.twitch_gql import TwitchGql
from vodtender.clients.twitch_irc import IrcEndpoint, IrcLogin
from vodtender.daemons.base import PipelineDaemon
from vodtender.pipeline.chat.backfill import CatalogBackfill
from vodtender.pipeline.chat.rooms import RoomNames
from vodtender.pipeline.chat.rows import open_gaps_left_by_a_crash
from vodtender.pipeline.chat.session import IrcSession
from vodtender.pipeline.chat.stats import channel_stats
from vodtender.pipeline.chat.writer import STALL_AFTER, ChatWriter
from vodtender.runtime.config import Problem
from vodtender.runtime.daemon import Runtime

SHUTDOWN_FLUSH_TIMEOUT = 60.0
BACKLOG_SHOWN_FROM = 1000  # queued events worth mentioning in STATUS


class ChatRecorder(PipelineDaemon):
    name = "chat"

    def __init__(self, runtime: Runtime):
        super().__init__(runtime)
        self.stats = channel_stats()
        self.disabled = self.cfg.disabled_reason(self.name)
        self.channels = self.cfg.channels_with("chat_record")  # [channel] sections may turn one off
        if not self.disabled and not self.channels:
            self.disabled = Problem("CHAT_RECORD is 0 for every channel", "CHAT_RECORD")
        self.writer: ChatWriter | None = None
        self.session: IrcSession | None = None
        self.backfill: CatalogBackfill | None = None
        if self.disabled:
            self.log.warning("chat recorder disabled", reason=str(self.disabled))
            return
        for channel in open_gaps_left_by_a_crash(self.channels):
            self.log.warning("chat gap opened: the last run did not stop cleanly", channel=channel)
        self.writer = ChatWriter(self.cfg.chat_batch_interval, self.cfg.chat_batch_size, self.cfg.chat_queue_max)
        self.writer.start()
        self._start_session()
        self.backfill = (
            CatalogBackfill(
                TwitchGql(self.cfg.twitch_gql_url, self.cfg.twitch_gql_client_id), self.cfg.chat_backfill_pace
            )
            if self.cfg.chat_backfill
            else None
        )

    def _start_session(self) -> None:
        assert self.writer is not None
        host, port = self.cfg.twitch_irc_addr
        login = IrcLogin.from_settings(self.cfg.twitch_bot_username, self.cfg.twitch_oauth_token)
        self.session = IrcSession(
            IrcEndpoint(host, port, self.cfg.twitch_irc_tls),
            login,
            self.channels,
            self.writer.put,
            self.stats,
            self.clock,
            RoomNames.from_catalog(),
        )
        self.session.start()
        self.log.info(
            "chat recorder started",
            channels=",".join(self.session.channels),
            login="anonymous" if login.anonymous else login.nickname,
        )

    def run_once(self) -> float:
        if self.disabled:
            return 3600.0
        assert self.session is not None
        if not self.session.alive() and not self.runtime.stop_event.is_set():
            self.log.error("chat session thread ended; starting it again")
            self._start_session()
        if self.backfill is not None:  # the low-priority step: the session runs in its own thread
            return min(1.0, self.backfill.run_once())
        return 1.0

    def status(self) -> str:
        if self.disabled:
            return f"chat recorder disabled: {self.disabled}"
        assert self.session is not None and self.writer is not None
        text = self.session.describe()
        backlog = self.writer.pending()
        text += f", {backlog} queued" if backlog > BACKLOG_SHOWN_FROM else ""
        return text + (f"; {self.backfill.status()}" if self.backfill is not None else "")

    def readiness(self) -> list[str]:
        if self.disabled and self.disabled.env not in ("CHAT_AUTO_START", "CHAT_RECORD"):  # off on purpose
            return [f"chat recorder disabled: {self.disabled}"]
        if self.writer is None:
            return []
        if not self.writer.alive():
            return ["chat writer stopped"]
        stalled = self.writer.stalled_for()
        if stalled > STALL_AFTER:
            return [f"chat rows waiting, nothing committed for {stalled:.0f}s ({self.writer.pending()} queued)"]
        return []

    def shutdown(self) -> None:
        if self.session is not None:
            self.session.stop()
        if self.writer is not None:
            flushed = self.writer.close(SHUTDOWN_FLUSH_TIMEOUT)
            self.log.info(
                "chat recorder stopped",
                received=self.session.received if self.session else 0,
                written=self.writer.rows_committed,
                flushed=int(flushed),
            )
