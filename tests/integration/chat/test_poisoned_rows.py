"""Lines whose numbers no column can hold, among normal ones, against the real recorder and database:
every line is stored (the number left out of its column, kept in the stored tags), nothing waits behind
them, one log line says so; rows that cannot be committed turn /readyz 503."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import peewee

from tests.helpers.processes import wait_until
from tests.integration.chat.conftest import CHANNEL, recorder, wait_rows
from tests.standins.irc import TwitchIrcStandin
from vodtender.runtime.db import open_database
from vodtender.runtime.models import ChatMessage

HUGE = "99999999999999999999"
POISON = [
    f"@id=huge-bits;bits={HUGE};tmi-sent-ts=1700000000500 :cheer!cheer@c.tmi.twitch.tv PRIVMSG #x :cheer{HUGE}",
    f"@ban-duration={HUGE};room-id=1;target-user-id=2;tmi-sent-ts=1700000000600 :tmi.twitch.tv CLEARCHAT #x :troll",
    f"@id=huge-time;tmi-sent-ts={HUGE} :late!late@l.tmi.twitch.tv PRIVMSG #x :from the far future",
]


def normal(number: int) -> str:
    return f"@id=n{number};tmi-sent-ts={1700000000000 + number} :u!u@u.tmi.twitch.tv PRIVMSG #x :line {number}"


def test_numbers_no_column_holds_do_not_stop_the_lines_after_them(
    irc: TwitchIrcStandin, workdir: Path, db_dsn: str, migrated_db: peewee.Database
) -> None:
    with recorder(workdir, db_dsn, irc.address) as chat:
        irc.wait_joined(CHANNEL)
        for number in range(30):
            irc.send(normal(number), CHANNEL)
            if number % 10 == 5:
                irc.send(POISON[number // 10], CHANNEL)
        wait_rows(33)
        assert {f"n{number}" for number in range(30)} <= {m.msg_id for m in ChatMessage.select()}
        cheer = ChatMessage.get(ChatMessage.msg_id == "huge-bits")
        assert (cheer.bits, cheer.message) == (0, f"cheer{HUGE}") and f"bits={HUGE}" in cheer.tags
        ban = ChatMessage.get(ChatMessage.kind == "clearchat")
        assert (ban.ban_duration, ban.notice_type, ban.target_user) == (None, "ban", "troll")
        assert ChatMessage.get(ChatMessage.msg_id == "huge-time").abs_timestamp < 2**32
        assert chat.http("/readyz")[0] == 200
        log = chat.log()
        assert len(re.findall(r"chat tag not a number or out of range", log)) == 1, "three lines, one log line"
        assert "Traceback" not in log and "chat batch not written" not in log
        _, metrics = chat.http("/metrics")
        assert re.search(r"^vodtender_chat_refused_tags_total 3\.0$", metrics, re.M)


def test_rows_that_cannot_be_committed_turn_readyz_503_until_they_are(
    irc: TwitchIrcStandin, workdir: Path, db_path: Path
) -> None:
    open_database(str(db_path))
    with recorder(workdir, str(db_path), irc.address) as chat:
        irc.wait_joined(CHANNEL)
        wait_until(lambda: chat.http("/readyz")[0] == 200, 30, what="ready")
        blocker = sqlite3.connect(db_path, isolation_level=None)  # an operator's open write transaction
        blocker.execute("BEGIN IMMEDIATE")
        irc.send(normal(1), CHANNEL)
        wait_until(lambda: chat.http("/readyz")[0] == 503, 150, interval=1.0, what="/readyz 503")
        assert "nothing committed for" in chat.http("/readyz")[1]
        blocker.execute("ROLLBACK")
        blocker.close()
        wait_rows(1, timeout=120)
        wait_until(lambda: chat.http("/readyz")[0] == 200, 60, interval=0.5, what="/readyz 200 again")
