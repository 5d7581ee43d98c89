"""The chat recorder as a real process against the Twitch-like IRC stand-in (or inspircd)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import DaemonProcess, base_env, wait_until
from tests.standins.irc import TwitchIrcStandin
from vodtender.runtime.models import ChatMessage

CHANNEL = "vodchan"


@pytest.fixture
def irc() -> Iterator[TwitchIrcStandin]:
    with TwitchIrcStandin() as server:
        yield server


def recorder(
    workdir: Path, dsn: str, address: tuple[str, int], channels: str | None = CHANNEL, **env: str
) -> DaemonProcess:
    """`vodtender chat` (not started) pointed at an IRC server without TLS, batches of 100 ms.
    `channels=None` leaves TWITCH_CHANNEL to the config file."""
    settings = {
        "TWITCH_IRC_ADDR": f"{address[0]}:{address[1]}",
        "TWITCH_IRC_TLS": "0",
        "DB_DSN": dsn,
        "CHAT_BATCH_INTERVAL": "100ms",
        **({"TWITCH_CHANNEL": channels} if channels is not None else {}),
        **env,
    }
    return DaemonProcess("chat", workdir, env=base_env(workdir, **settings))


def wait_rows(count: int, timeout: float = 60.0) -> None:
    wait_until(lambda: ChatMessage.select().count() >= count, timeout, interval=0.2, what=f"{count} chat rows")


def stored_ids() -> set[str]:
    return {row[0] for row in ChatMessage.select(ChatMessage.msg_id).tuples()}
