"""Each daemon as a real process: sd_notify protocol, clean stop, idle on bad config, reload on SIGHUP."""

from __future__ import annotations

import itertools
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.helpers.notify import NotifySocket
from tests.helpers.processes import DaemonProcess, base_env, wait_until
from vodtender.daemons.registry import DAEMONS

# Enough for every daemon to come up idle or working without a network peer.
COMPLETE = {
    "TWITCH_CHANNEL": "somechannel",
    "TWITCH_CLIENT_ID": "cid",
    "TWITCH_CLIENT_SECRET": "x" * 30,
    "TWITCH_HELIX_URL": "http://127.0.0.1:9/helix",
    "TWITCH_AUTH_URL": "http://127.0.0.1:9/oauth2",
    "TWITCH_IRC_ADDR": "127.0.0.1:9",
    "TWITCH_IRC_TLS": "0",
}


@pytest.mark.parametrize("daemon", list(DAEMONS))
def test_notify_protocol_ready_after_migrations_watchdog_status_stopping(workdir: Path, daemon: str) -> None:
    sock_path = workdir / "notify.sock"
    notify = NotifySocket(sock_path)
    db_file = workdir / "vodtender.db"
    seen_schema_at_ready: list[int] = []

    def on_ready() -> bool:
        if not notify.lines("READY=1"):
            return False
        if not seen_schema_at_ready:
            with sqlite3.connect(db_file) as conn:
                seen_schema_at_ready.append(conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0])
        return True

    env = base_env(workdir, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="2000000", **COMPLETE)
    proc = DaemonProcess(daemon, workdir, env=env).start()
    try:
        wait_until(on_ready, timeout=30, what="READY=1")
        assert seen_schema_at_ready[0] >= 1, "READY=1 came before the migrations were applied"
        ready_at = notify.times("READY=1")[0]
        time.sleep(4.5)
        pings = [t for t in notify.times("WATCHDOG=1") if t > ready_at]
        assert len(pings) >= 3, f"{len(pings)} watchdog pings in 4.5 s with WatchdogSec=2"
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert max(gaps) < 2.0, f"a watchdog gap of {max(gaps):.2f}s would get the daemon killed"
        assert notify.lines("STATUS="), "no STATUS= line"

        proc.signal(signal.SIGTERM)
        sent = time.monotonic()
        assert proc.proc.wait(timeout=5) == 0
        assert time.monotonic() - sent < 5
        assert notify.lines("STOPPING=1")
    finally:
        proc.kill()
        notify.close()


def test_missing_configuration_is_idle_not_a_crash_loop(workdir: Path) -> None:
    sock_path = workdir / "notify.sock"
    notify = NotifySocket(sock_path)
    proc = DaemonProcess("poller", workdir, env=base_env(workdir, NOTIFY_SOCKET=str(sock_path))).start()
    try:
        wait_until(lambda: notify.lines("READY=1"), timeout=30, what="READY=1")
        status = notify.lines("STATUS=")[-1]
        assert "TWITCH_CHANNEL is not set" in status and "TWITCH_CLIENT_ID is not set" in status
        assert "vodtender.conf" in status  # where to set it
        code, body = proc.wait_http("/readyz")
        assert code == 503 and "TWITCH_CHANNEL" in body
        time.sleep(1.0)
        assert proc.proc.poll() is None, "an idle daemon must keep running"
    finally:
        proc.kill()
        notify.close()


def test_sighup_picks_up_corrected_configuration(workdir: Path) -> None:
    conf = workdir / "etc" / "vodtender.conf"
    conf.write_text("download-backoff-base = whenever\n")
    sock_path = workdir / "notify.sock"
    notify = NotifySocket(sock_path)
    proc = DaemonProcess("downloader", workdir, env=base_env(workdir, NOTIFY_SOCKET=str(sock_path))).start()
    try:
        wait_until(lambda: notify.lines("READY=1"), timeout=30, what="READY=1")
        assert "DOWNLOAD_BACKOFF_BASE: bad duration 'whenever'" in notify.lines("STATUS=")[-1]
        assert proc.wait_http("/readyz")[0] == 503

        conf.write_text("download-backoff-base = 1m\n")
        proc.signal(signal.SIGHUP)
        wait_until(lambda: proc.http("/readyz")[0] == 200, timeout=20, what="/readyz 200 after reload")
        assert "DOWNLOAD_BACKOFF_BASE" not in notify.lines("STATUS=")[-1]
        assert notify.lines("RELOADING=1")
        proc.wait_for_log("configuration reloaded")

        conf.write_text("download-backoff-base = 1 fortnight\n")  # a typo on the next reload is caught too
        proc.signal(signal.SIGHUP)
        wait_until(
            lambda: "bad duration '1 fortnight'" in notify.lines("STATUS=")[-1],
            timeout=20,
            what="STATUS naming the bad value after the second reload",
        )
        assert proc.http("/readyz")[0] == 503
    finally:
        proc.kill()
        notify.close()


def test_readyz_fails_when_the_database_file_becomes_unreadable(workdir: Path) -> None:
    proc = DaemonProcess("downloader", workdir).start()
    try:
        assert proc.wait_http("/readyz", timeout=30) == (200, "ready\n")
        db_file = workdir / "vodtender.db"
        db_file.rename(workdir / "moved-away.db")
        code, body = proc.http("/readyz")
        assert code == 503 and "database unavailable" in body
        assert proc.http("/healthz")[0] == 200  # alive, just not ready
    finally:
        proc.kill()
