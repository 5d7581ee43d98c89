"""The poller as a real process against the Helix stand-in (a thread of the test process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import DaemonProcess, base_env
from tests.standins.helix import HelixStandin


@pytest.fixture
def helix() -> Iterator[HelixStandin]:
    # A small bucket (20 points, refilled in 2 s) so pacing is exercised within seconds.
    with HelixStandin(limit=20, window=2.0) as standin:
        yield standin


@pytest.fixture
def start_poller(workdir: Path, db_dsn: str, helix: HelixStandin) -> Iterator[Callable[..., DaemonProcess]]:
    """Start `vodtender poller` with the stand-in's settings plus `settings` (env names)."""
    started: list[DaemonProcess] = []

    def start(channels: str = "alice", **settings: str) -> DaemonProcess:
        env = base_env(
            workdir, DB_DSN=db_dsn, TWITCH_CHANNEL=channels, CHAT_AUTO_START="0", HEARTBEAT_INTERVAL="1s", **helix.env()
        )
        env.update(settings)
        process = DaemonProcess("poller", workdir, env=env).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
