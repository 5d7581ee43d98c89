"""A real IRC server (Debian's inspircd) on loopback: another client talks, the recorder stores it.

inspircd sends no Twitch tags: times fall back to the moment of receipt and ids are synthesised.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import free_port, wait_until
from tests.integration.chat.conftest import CHANNEL, recorder, wait_rows
from vodtender.runtime.db import open_database
from vodtender.runtime.models import ChatMessage

CONFIG = """
<server name="irc.test.local" description="vodtender test" network="TestNet">
<admin name="test" nick="test" email="test@test.local">
<bind address="127.0.0.1" port="{port}" type="clients">
<connect name="main" allow="*" timeout="60" pingfreq="120" sendq="10485760" recvq="1048576" softsendq="1048576"
 localmax="100" globalmax="100" maxchans="50" limit="1000" commandrate="1000000" fakelag="off" threshold="1000"
 resolvehostnames="no">
<pid file="{dir}/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{dir}/ircd.log">
<dns timeout="1">
"""


@pytest.fixture
def inspircd(tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    conf = tmp_path / "inspircd.conf"
    conf.write_text(CONFIG.format(port=port, dir=tmp_path))
    args = ["inspircd", "--nofork", f"--config={conf}"] + (["--runasroot"] if os.geteuid() == 0 else [])
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def accepting() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    try:
        wait_until(accepting, 30, what="inspircd listening")
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait(10)


class Talker:
    """A second, plain IRC client that joins the channel and speaks."""

    def __init__(self, address: tuple[str, int]):
        self.sock = socket.create_connection(address, timeout=30)
        self.buffer = b""
        self.sock.sendall(b"NICK talker\r\nUSER talker 0 * :talker\r\n")
        self.expect(b" 001 ")
        self.sock.sendall(f"JOIN #{CHANNEL}\r\n".encode())
        self.expect(f"JOIN :#{CHANNEL}".encode(), f"JOIN #{CHANNEL}".encode())

    def expect(self, *needles: bytes) -> None:
        deadline = time.monotonic() + 30
        while not any(n in self.buffer for n in needles):
            assert time.monotonic() < deadline, self.buffer[-500:]
            self.buffer += self.sock.recv(65536)
            for line in self.buffer.split(b"\r\n"):
                if line.startswith(b"PING"):
                    self.sock.sendall(b"PONG" + line[4:] + b"\r\n")

    def say(self, text: str) -> None:
        self.sock.sendall(f"PRIVMSG #{CHANNEL} :{text}\r\n".encode())


def test_inspircd_chat_is_recorded(inspircd: tuple[str, int], workdir: Path, db_path: Path) -> None:
    db = open_database(str(db_path))
    with recorder(workdir, str(db_path), inspircd) as chat:
        chat.wait_for_log("chat joined", timeout=60)
        talker = Talker(inspircd)
        before = time.time()
        for text in ("hello world", "\x01ACTION waves\x01", "héllo 😂 ünïcödé", "spam", "spam"):
            talker.say(text)
        wait_rows(5, timeout=60)
        rows = list(ChatMessage.select().order_by(ChatMessage.id))
        assert [(r.kind, r.username, r.message) for r in rows] == [
            ("message", "talker", "hello world"),
            ("action", "talker", "waves"),
            ("message", "talker", "héllo 😂 ünïcödé"),
            ("message", "talker", "spam"),
            ("message", "talker", "spam"),
        ]
        assert all(before - 1 <= r.abs_timestamp <= time.time() + 1 for r in rows)  # receive time: no tags
        assert len({r.msg_id for r in rows}) == 5  # the repeated "spam" is two messages
    db.close()
