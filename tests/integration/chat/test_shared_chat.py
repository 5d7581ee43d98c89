"""Shared chat and the chat missed before the first join, through the recorder as a process.

Shared chat: real lines (tests/data/twitch_irc/shared_chat.txt) sent to four archived channels, two
of which received the same announcement with the same id.  The first join: a recorder started while
the channel's stream is already live records the span from the stream's start to its join as a gap,
which `status`, `show` and the export show.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import peewee

from tests.helpers.processes import base_env, run_cli, wait_until
from tests.integration.chat.conftest import CHANNEL, recorder, wait_rows
from tests.standins.irc import TwitchIrcStandin, load_irc_lines
from vodtender.pipeline.chat.rows import LATE_JOIN_GAP_REASON
from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatGap, ChatMessage, Vod, utcnow

# The rooms of the channels in shared_chat.txt (the ROOMSTATE each JOIN gets), see its README.
ROOMS = {
    "pajlada": "11148817",
    "shared_chat_test_01": "1025594235",
    "shared_chat_test_02": "1025597036",
    "cdawgva": "45098797",
}
ANNOUNCEMENT = "01cd601f-bc3f-49d5-ab4b-136fa9d6ec22"  # one message, received by two channels of a session


def test_shared_chat_is_stored_in_each_channel_with_its_source(
    workdir: Path, db_dsn: str, migrated_db: peewee.Database
) -> None:
    lines = load_irc_lines("shared_chat.txt")
    with TwitchIrcStandin(room_ids=ROOMS) as irc, recorder(workdir, db_dsn, irc.address, ",".join(ROOMS)) as chat:
        for channel in ROOMS:
            irc.wait_joined(channel)
        for line in lines:
            irc.send(line, line.split(" #", 1)[1].split(" ", 1)[0])
        wait_rows(len(lines))
        time.sleep(0.3)  # nothing more may arrive
        assert chat.proc.poll() is None
    rows = {(m.channel, m.msg_id): m for m in ChatMessage.select()}
    assert len(rows) == len(lines)
    copies = [rows[(channel, ANNOUNCEMENT)] for channel in ("pajlada", "shared_chat_test_02")]
    for copy in copies:
        assert (copy.kind, copy.notice_type, copy.mirrored) == ("usernotice", "announcement", 1)
        assert (copy.source_room_id, copy.source_channel) == ("1025594235", "shared_chat_test_01")
        assert copy.source_msg_id == "4083dadc-9f20-40f9-ba92-949ebf6bc294"
        assert copy.message == "hi this is an announcement from 1"
    reply = rows[("shared_chat_test_01", "e16cc51a-7fce-4a92-8387-4ac8b7794ee7")]
    assert (reply.mirrored, reply.source_channel, reply.reply_parent_msg_body) == (
        1,
        "shared_chat_test_02",
        "@Alca oh ur right",
    )
    resub = rows[("cdawgva", "120537f4-0261-4c25-b52f-fa41683ed47c")]
    assert (resub.notice_type, resub.mirrored, resub.source_room_id, resub.source_channel) == (
        "resub",
        1,
        "92038375",
        None,  # a room no archived channel has: unknown, not guessed
    )
    assert all(m.mirrored == 1 and m.source_msg_id for m in rows.values())


def test_a_recorder_started_after_the_stream_records_the_missed_start_as_a_gap(workdir: Path, db_path: Path) -> None:
    migrate(open_database(str(db_path)))
    started = utcnow().replace(microsecond=0) - dt.timedelta(seconds=20)
    Vod.create(twitch_vod_id="live-1", channel=CHANNEL, is_placeholder=1, date=started)
    with TwitchIrcStandin() as irc, recorder(workdir, str(db_path), irc.address) as chat:
        irc.wait_joined(CHANNEL)
        joined = time.time()
        wait_until(lambda: ChatGap.select().count() == 1, 20, interval=0.2, what="the missed start's gap")
        assert chat.proc.poll() is None
    gap = ChatGap.get()
    assert gap.reason == LATE_JOIN_GAP_REASON
    assert gap.started_at == unix_seconds(started)
    assert joined - 5 <= gap.ended_at <= joined + 1

    cli_env = base_env(workdir, DB_DSN=str(db_path), TWITCH_CHANNEL=CHANNEL)
    status = run_cli(workdir, "status", "--color", "never", env=cli_env)
    chat_line = next(line for line in status.stdout.splitlines() if line.startswith("chat") and CHANNEL in line)
    assert "no gaps" not in chat_line and "last gap" in chat_line, status.stdout
    show = run_cli(workdir, "show", "live-1", "--color", "never", env=cli_env)
    assert show.returncode == 0, show.stderr
    chat_gaps = show.stdout.split("chat gaps", 1)[1].splitlines()[1]
    assert re.fullmatch(rf"  at 0ms for 2[0-5]s: {LATE_JOIN_GAP_REASON}", chat_gaps), show.stdout
    vtt = run_cli(workdir, "chat", "export", "live-1", "--format", "vtt", env=cli_env)
    assert "00:00:00.000 --> 00:00:" in vtt.stdout
    assert f"[chat not recorded: {LATE_JOIN_GAP_REASON}]" in vtt.stdout
    jsonl = [json.loads(line) for line in run_cli(workdir, "chat", "export", "live-1", env=cli_env).stdout.splitlines()]
    assert [(i["type"], i["offset"], i["reason"]) for i in jsonl] == [("gap", 0.0, LATE_JOIN_GAP_REASON)]
