"""A write lock held on the SQLite file for longer than the watchdog allows: the daemons go on pinging.

systemd kills a daemon whose pings stop for WatchdogSec; a maintenance VACUUM or an operator's open
`sqlite3` transaction must not be enough.  The poller and the chat recorder run as real processes
against the Helix and IRC stand-ins, each with its own notify socket and WatchdogSec=2s, while the test
holds the write lock for three times that: `BEGIN IMMEDIATE` on SQLite, every table locked against
writes on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import peewee
import psycopg2
import pytest

from tests.helpers.notify import NotifySocket
from tests.helpers.processes import DaemonProcess, base_env, wait_until
from tests.integration.chat.conftest import CHANNEL, recorder
from tests.standins.helix import HelixStandin
from tests.standins.irc import TwitchIrcStandin
from vodtender.runtime.db import sqlite_path
from vodtender.runtime.models import ALL_MODELS, ChatMessage, DaemonHeartbeat, Vod

WATCHDOG_SECONDS = 2.0
LOCK_SECONDS = 3 * WATCHDOG_SECONDS
WATCHED = {"WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1e6)), "HEARTBEAT_INTERVAL": "200ms"}


@pytest.fixture
def helix() -> Iterator[HelixStandin]:
    with HelixStandin(limit=800, window=60.0) as standin:
        yield standin


@pytest.fixture
def irc() -> Iterator[TwitchIrcStandin]:
    with TwitchIrcStandin() as server:
        yield server


@contextlib.contextmanager
def write_lock_held(dsn: str) -> Iterator[None]:
    """What an operator's open transaction or a VACUUM holds: every write waits; reads go on."""
    path = sqlite_path(dsn)
    if path is not None:
        lite = sqlite3.connect(path, isolation_level=None)
        lite.execute("BEGIN IMMEDIATE")
        yield
        lite.execute("ROLLBACK")
        lite.close()
        return
    pg = psycopg2.connect(dsn)
    tables = ", ".join(m._meta.table_name for m in ALL_MODELS)
    pg.cursor().execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
    yield
    pg.rollback()
    pg.close()


def pings_after(notify: NotifySocket, since: float) -> list[float]:
    return [t for t in notify.times("WATCHDOG=1") if t > since]


def test_a_write_lock_longer_than_the_watchdog_kills_no_daemon_and_work_resumes_after_it(
    workdir: Path, db_dsn: str, migrated_db: peewee.Database, helix: HelixStandin, irc: TwitchIrcStandin
) -> None:
    helix.add_user(CHANNEL)
    sockets = {name: NotifySocket(workdir / f"{name}.notify") for name in ("poller", "chat")}
    poller = DaemonProcess(
        "poller",
        workdir,
        env=base_env(
            workdir,
            DB_DSN=db_dsn,
            TWITCH_CHANNEL=CHANNEL,
            CHAT_AUTO_START="1",
            CHAT_AUTO_POLL_INTERVAL="300ms",
            NOTIFY_SOCKET=str(sockets["poller"].path),
            **WATCHED,
            **helix.env(),
        ),
    )
    chat = recorder(workdir, db_dsn, irc.address, NOTIFY_SOCKET=str(sockets["chat"].path), **WATCHED)
    daemons = [poller.start(), chat.start()]
    try:
        for d in daemons:
            d.wait_for_log(f"{d.daemon} ready", timeout=30)
        irc.wait_joined(CHANNEL)
        poller.wait_for_log("catalog sync done", timeout=30)

        with write_lock_held(db_dsn):
            locked_at = time.monotonic()
            helix.go_live(CHANNEL)  # work for the poller: a placeholder VOD to create
            for n in range(5):  # work for the chat recorder: rows to store
                line = f"@id=busy-{n};tmi-sent-ts=1700000000000 :v!v@v.tmi.twitch.tv PRIVMSG #x :held {n}"
                irc.send(line, CHANNEL)
            time.sleep(LOCK_SECONDS)
            assert ChatMessage.select().count() == 0 and not Vod.select().where(Vod.is_placeholder == 1).exists()
        released_at = time.monotonic()

        wait_until(lambda: ChatMessage.select().count() == 5, 20, what="the held chat rows stored")
        wait_until(lambda: Vod.select().where(Vod.is_placeholder == 1).exists(), 20, what="the live placeholder")
        wait_until(
            lambda: all(
                DaemonHeartbeat.get(DaemonHeartbeat.daemon == d.daemon).updated_at.timestamp() > time.time() - 1
                for d in daemons
            ),
            20,
            what="fresh heartbeats",
        )
        for d in daemons:
            assert d.proc is not None and d.proc.poll() is None, f"{d.daemon} died:\n{d.log()[-3000:]}"
            pings = pings_after(sockets[d.daemon], locked_at - WATCHDOG_SECONDS / 2)
            held = [t for t in pings if locked_at <= t <= released_at]
            assert len(held) >= LOCK_SECONDS / WATCHDOG_SECONDS, f"{d.daemon}: {len(held)} pings while locked"
            gaps = [b - a for a, b in itertools.pairwise(pings)]
            assert max(gaps) < WATCHDOG_SECONDS, f"{d.daemon}: a {max(gaps):.2f}s gap gets it killed by systemd"
        assert "database busy" in poller.log()
        assert "database free again, work resumed" in poller.log()
    finally:
        for d in daemons:
            d.kill()
        for s in sockets.values():
            s.close()
