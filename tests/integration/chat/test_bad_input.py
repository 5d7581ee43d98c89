"""Malformed and fuzzed IRC input never stops the recorder: each bad line is skipped, logged rate-limited."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.processes import DaemonProcess, wait_until
from tests.integration.chat.conftest import CHANNEL, recorder
from tests.standins.irc import TwitchIrcStandin, load_irc_lines
from vodtender.runtime.db import open_database
from vodtender.runtime.models import ChatMessage

CORPUS = [line.encode() for line in load_irc_lines("corpus.txt")]
_sentinels = itertools.count()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TwitchIrcStandin, DaemonProcess]]:
    workdir = tmp_path_factory.mktemp("chat-fuzz")
    (workdir / "etc").mkdir()
    db = open_database(str(workdir / "vodtender.db"))
    with TwitchIrcStandin() as irc, recorder(workdir, str(workdir / "vodtender.db"), irc.address) as chat:
        irc.wait_joined(CHANNEL)
        yield irc, chat
    db.close()


def still_recording(irc: TwitchIrcStandin, chat: DaemonProcess) -> None:
    """A good line sent after the bad ones is stored: the recorder is alive and reading."""
    sentinel = f"sentinel-{next(_sentinels)}"
    irc.wait_joined(CHANNEL, timeout=60)
    irc.send(f"@id={sentinel};tmi-sent-ts=1700000000000 :ok!ok@ok.tmi.twitch.tv PRIVMSG #x :still here", CHANNEL)
    wait_until(
        lambda: ChatMessage.get_or_none(ChatMessage.msg_id == sentinel), 30, interval=0.05, what=f"{sentinel} stored"
    )
    assert chat.proc.poll() is None


KNOWN_BAD = [
    b":tmi.twitch.tv PING",  # no parameter: kills the irc library's own loop
    b"@badge-info=;badges=;color=;display-name=Trunc;emotes=25:0-4;id=",  # truncated tags
    b"@id=bad-utf8 :u!u@u PRIVMSG #x :caf\xe9 \xff\xfe and more",  # invalid UTF-8 (stored, bad bytes replaced)
    b"@" + b"k=v;" * 2600 + b" :u!u@u PRIVMSG #x :ten kilobytes of tags",  # 10 kB line
    b"x" * 200_000,  # a line far longer than any IRC line
    b"\x00\x01\x02 PRIVMSG",
    b"@",
    b":",
    b" ",
    b"@a=b",
    b":prefix",
    b"PRIVMSG",
    b"PRIVMSG #x",
    b"@emotes=25:999-1000;id=bad-emote :u!u@u PRIVMSG #x :short",
    b"CLEARMSG #x",
    b"USERNOTICE #x",
    b"@tmi-sent-ts=notanumber;bits=lots;ban-duration=x :tmi.twitch.tv CLEARCHAT #x :someone",
]


def test_known_bad_lines_are_skipped(live: tuple[TwitchIrcStandin, DaemonProcess]) -> None:
    irc, chat = live
    irc.send_bytes(b"\r\n".join(KNOWN_BAD) + b"\r\n", CHANNEL)
    still_recording(irc, chat)
    assert "caf\ufffd" in ChatMessage.get(ChatMessage.msg_id == "bad-utf8").message


def _mangle(line: bytes, data: st.DataObject) -> bytes:
    cut = data.draw(st.integers(0, len(line)))
    how = data.draw(st.sampled_from(["truncate", "insert", "flip"]))
    if how == "truncate":
        return line[:cut]
    if how == "insert":
        return line[:cut] + data.draw(st.binary(min_size=1, max_size=40)) + line[cut:]
    return line[:cut] + bytes([line[cut] ^ 0xFF]) + line[cut + 1 :] if cut < len(line) else line


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_lines_never_stop_the_recorder(
    live: tuple[TwitchIrcStandin, DaemonProcess], data: st.DataObject
) -> None:
    irc, chat = live
    lines = data.draw(
        st.lists(
            st.one_of(
                st.binary(max_size=300),
                st.sampled_from(CORPUS).flatmap(lambda line: st.builds(lambda d: _mangle(line, d), st.data())),
            ),
            min_size=1,
            max_size=25,
        )
    )
    irc.send_bytes(b"\r\n".join(lines) + b"\r\n", CHANNEL)
    still_recording(irc, chat)


def test_bad_lines_are_logged_rate_limited(live: tuple[TwitchIrcStandin, DaemonProcess]) -> None:
    irc, chat = live
    irc.send_bytes(b"\r\n".join([b"@broken"] * 500) + b"\r\n", CHANNEL)
    still_recording(irc, chat)
    logged = len(re.findall(r"malformed IRC line skipped", chat.log()))
    assert 1 <= logged <= 10  # hundreds of bad lines, a handful of log lines
    _, metrics = chat.http("/metrics")
    count = float(re.search(r"^vodtender_chat_malformed_lines_total (\S+)", metrics, re.M).group(1))
    assert count >= 500


def test_bad_input_caused_no_failed_steps(live: tuple[TwitchIrcStandin, DaemonProcess]) -> None:
    _, chat = live
    assert "Traceback" not in chat.log() and "session step failed" not in chat.log()


def test_channels_not_configured_get_no_metric_series(live: tuple[TwitchIrcStandin, DaemonProcess]) -> None:
    irc, chat = live
    for number in range(20):  # a server naming a new channel in every line
        irc.send(f"@id=elsewhere-{number} :u!u@u.tmi.twitch.tv PRIVMSG #elsewhere{number} :hi")
    still_recording(irc, chat)
    _, metrics = chat.http("/metrics")
    assert "elsewhere" not in metrics
    other = re.search(r'^vodtender_chat_messages_total\{channel="\(other\)"\} (\S+)$', metrics, re.M)
    assert other and float(other.group(1)) >= 20, "counted, under one label (earlier tests sent to #x too)"
