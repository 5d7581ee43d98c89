"""The recorder process against the Twitch-like stand-in: the corpus, RECONNECT, drops, SIGTERM, export."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
from pathlib import Path

import peewee
import pytest

from tests.helpers.processes import run_cli, wait_until
from tests.integration.chat.conftest import CHANNEL, recorder, stored_ids, wait_rows
from tests.standins.irc import TwitchIrcStandin, load_irc_lines, rewrite
from vodtender.pipeline.chat.rows import LATE_JOIN_GAP_REASON
from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.models import ChatGap, ChatMessage, DaemonHeartbeat, Vod

CHAT_COMMANDS = ("PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG")
_COMMAND = re.compile(r"^(?:@(\S*) +)?(?::\S+ +)?([A-Z0-9]+) +#")


def expected_chat_keys(lines: list[str]) -> set[str]:
    """What must be stored for these lines, found without the recorder's parser: one per id, one per
    tagged line without id, and every tag-less line (nothing tells two of those apart)."""
    keys = set()
    for number, line in enumerate(lines):
        m = _COMMAND.match(line)
        if m and m.group(2) in CHAT_COMMANDS:
            tag_id = re.search(r"(?:^|;)id=([^;]+)", m.group(1) or "")
            keys.add(tag_id.group(1) if tag_id else line if m.group(1) else f"{number}:{line}")
    return keys


# (id, column -> value) for lines of corpus.txt
CORPUS_TABLE = [
    (
        "44f85d39-b5fb-475d-8555-f4244f2f7e82",
        {
            "kind": "message",
            "username": "pajlada",
            "message": "Kappa 😂 Kappa",
            "emotes": "25:0-4,8-12",
            "abs_timestamp": 1662204423.418,
        },
    ),
    (
        "5b4f63a9-776f-4fce-bf3c-d9707f52e32d",
        {
            "message": "@Retoon yes",
            "reply_parent_msg_id": "6b13e51b-7ecb-43b5-ba5b-2bb5288df696",
            "reply_parent_user_login": "retoon",
            "reply_parent_msg_body": "hello",
        },
    ),
    ("405c4ccb-7d69-4a57-ac16-292e72ba288b", {"bits": 5000, "display_name": "FletcherCodes"}),
    ("d831d848-b7c7-4559-ae3a-2cb88f4dbfed", {"kind": "action", "message": "-tags", "username": "randers"}),
    ("9c2dd916-5a6d-4c1f-9fe7-a081b62a9c6b", {"first_msg": 1, "badges": "subscriber/12,no_audio/1"}),
    (
        "8c2918c2-adf4-4208-a554-8a72d016de70",
        {"kind": "usernotice", "notice_type": "resub", "abs_timestamp": 1595497450.553},
    ),
]


def test_every_corpus_event_is_stored_with_its_fields(
    irc: TwitchIrcStandin, workdir: Path, db_dsn: str, migrated_db: peewee.Database
) -> None:
    corpus = load_irc_lines("corpus.txt")
    expected = expected_chat_keys([rewrite(line, CHANNEL) for line in corpus])
    with recorder(workdir, db_dsn, irc.address) as chat:
        irc.wait_joined(CHANNEL)
        irc.replay(corpus, CHANNEL).wait()  # includes RECONNECT, PINGs (one without parameter), NOTICEs ...
        wait_rows(len(expected))
        time.sleep(0.5)  # nothing more may arrive
        assert ChatMessage.select().count() == len(expected)
        assert {r.kind for r in ChatMessage.select()} == {"message", "action", "usernotice", "clearchat", "clearmsg"}
        rows = {r.msg_id: r for r in ChatMessage.select()}
        for msg_id, fields in CORPUS_TABLE:
            assert {k: getattr(rows[msg_id], k) for k in fields} == fields, msg_id
        assert all(r.channel == CHANNEL for r in rows.values())
        assert any(line.startswith("PONG") and "tmi.twitch.tv" in line for line in irc.client_lines)
        assert chat.proc.poll() is None
        assert ChatGap.select().count() == 0  # the corpus' RECONNECT was followed without a gap
        _, metrics = chat.http("/metrics")
        assert f'vodtender_chat_events_total{{channel="{CHANNEL}",kind="usernotice"}}' in metrics
        promtool = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
        assert promtool.returncode == 0, promtool.stdout + promtool.stderr


def test_a_deleted_message_is_kept_and_marked(irc: TwitchIrcStandin, workdir: Path, db_path: Path) -> None:
    from vodtender.runtime.db import open_database

    open_database(str(db_path))
    with recorder(workdir, str(db_path), irc.address):
        irc.wait_joined(CHANNEL)
        irc.send("@id=orig-1;tmi-sent-ts=1700000000000 :rude!rude@r.tmi.twitch.tv PRIVMSG #x :something rude", CHANNEL)
        clear = "@login=rude;target-msg-id=orig-1;tmi-sent-ts=1700000001000 :tmi.twitch.tv CLEARMSG #x :something rude"
        irc.send(clear, CHANNEL)
        wait_rows(2)
        wait_until(lambda: ChatMessage.get(ChatMessage.msg_id == "orig-1").deleted == 1, 20, what="deleted mark")
        assert ChatMessage.get(ChatMessage.msg_id == "orig-1").message == "something rude"


def test_twenty_thousand_messages_across_reconnect_and_drop_are_stored_once(
    irc: TwitchIrcStandin, workdir: Path, db_dsn: str, migrated_db: peewee.Database
) -> None:
    with recorder(workdir, db_dsn, irc.address) as chat:
        irc.wait_joined(CHANNEL)
        replay = irc.replay(
            load_irc_lines("bench_chat.txt"), CHANNEL, rate=4000, count=20_000, fresh_ids=True, fresh_ts=True
        )
        wait_until(lambda: replay.sent >= 6000, 60, what="6,000 sent")
        irc.reconnect()
        wait_until(lambda: irc.connections_total >= 2 and replay.sent >= 13_000, 60, what="13,000 sent")
        irc.drop()
        replay.wait(180)
        wait_rows(20_000, timeout=120)
        time.sleep(0.5)
        assert ChatMessage.select().count() == 20_000
        assert stored_ids() == set(replay.ids)
        gaps = list(ChatGap.select().where(ChatGap.channel == CHANNEL))
        assert len(gaps) == 1 and gaps[0].ended_at is not None and gaps[0].ended_at >= gaps[0].started_at
        assert gaps[0].reason.startswith("connection lost")
        assert irc.connections_total >= 3
        assert "chat server asked to reconnect" in chat.log()
        wait_until(
            lambda: re.fullmatch(
                r"recording 1 channel, \d+ msg/min", DaemonHeartbeat.get(DaemonHeartbeat.daemon == "chat").status
            ),
            30,
            what="STATUS line",
        )


def test_sigterm_during_a_flood_keeps_every_message_received(
    irc: TwitchIrcStandin, workdir: Path, db_path: Path
) -> None:
    from vodtender.runtime.db import open_database

    open_database(str(db_path))
    chat = recorder(workdir, str(db_path), irc.address).start()
    try:
        irc.wait_joined(CHANNEL)
        replay = irc.replay(load_irc_lines("bench_chat.txt"), CHANNEL, count=400_000, fresh_ids=True)
        wait_rows(5000)
        assert chat.stop(timeout=90) == 0
        replay.cancel()
        stopped = re.search(r"chat recorder stopped received=(\d+) written=(\d+)", chat.log())
        assert stopped, chat.log()[-2000:]
        received = int(stopped.group(1))
        assert received == int(stopped.group(2))
        assert replay.sent > received  # SIGTERM came mid-flood
        assert stored_ids() == set(replay.ids[:received])  # everything received, in order, nothing more
    finally:
        chat.kill()


def test_export_aligns_to_the_vod_and_marks_deletions_and_gaps(
    irc: TwitchIrcStandin, workdir: Path, db_path: Path
) -> None:
    from vodtender.runtime.db import open_database
    from vodtender.runtime.models import utcnow

    open_database(str(db_path))
    with recorder(workdir, str(db_path), irc.address) as chat:
        chat.wait_for_log("chat ready")
        start = utcnow().replace(microsecond=0) - dt.timedelta(seconds=60)
        Vod.create(twitch_vod_id="live-1", channel=CHANNEL, is_placeholder=1, date=start)
        irc.wait_joined(CHANNEL)
        time.sleep(2.5)  # the recorder's placeholder cache
        now_ms = int(time.time() * 1000)
        irc.send(
            f"@id=a1;display-name=Alice;tmi-sent-ts={now_ms} :alice!alice@a.tmi.twitch.tv PRIVMSG #x :hi <all>", CHANNEL
        )
        irc.send(
            f"@id=a2;display-name=Bob;tmi-sent-ts={now_ms + 500} :bob!bob@b.tmi.twitch.tv PRIVMSG #x :oops", CHANNEL
        )
        irc.send(f"@login=bob;target-msg-id=a2;tmi-sent-ts={now_ms + 900} :tmi.twitch.tv CLEARMSG #x :oops", CHANNEL)
        wait_rows(3)
        missed = irc.replay(
            ["@id=lost :carol!carol@c.tmi.twitch.tv PRIVMSG #x :unheard"], CHANNEL, wait_for_listener=False
        )
        irc.drop()
        wait_until(lambda: irc.joined(CHANNEL) == 0 or missed.done.is_set(), 10, what="drop")
        missed.wait()
        irc.wait_joined(CHANNEL, timeout=60)
        dropped = ChatGap.reason.startswith("connection lost")
        wait_until(
            lambda: ChatGap.select().where(dropped & ChatGap.ended_at.is_null(False)).count() == 1, 30, what="gap row"
        )
    gap = ChatGap.get(dropped)
    # joined before the placeholder (60 s old) was made: the minute before the join is a gap too
    assert ChatGap.get(ChatGap.reason == LATE_JOIN_GAP_REASON).started_at == unix_seconds(start)
    if missed.missed:  # lines the stand-in sent while nobody listened fall inside the recorded gap
        assert all(gap.started_at - 1 <= at <= gap.ended_at + 1 for at, _ in missed.missed)
    vtt = run_cli(workdir, "chat", "export", "live-1", "--format", "vtt", "--db-dsn", str(db_path))
    assert vtt.returncode == 0, vtt.stderr
    assert vtt.stdout.startswith("WEBVTT\n\n")
    assert "<v Alice>hi &lt;all&gt;" in vtt.stdout
    assert "<v Bob>oops [deleted by a moderator]" in vtt.stdout
    assert "[chat not recorded: connection lost" in vtt.stdout
    assert re.search(
        rf"00:00:00\.000 --> 00:0[01]:\d\d\.\d{{3}}\n\[chat not recorded: {LATE_JOIN_GAP_REASON}\]", vtt.stdout
    )
    alice_cue = re.search(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> .*\n<v Alice>", vtt.stdout)
    offset = int(alice_cue.group(2)) * 60 + int(alice_cue.group(3))
    assert 55 <= offset <= 120  # about a minute into the VOD
    jsonl = run_cli(workdir, "chat", "export", "live-1", "--db-dsn", str(db_path))
    items = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert {i["type"] for i in items} == {"chat", "gap"}
    assert next(i for i in items if i.get("id") == "a2")["deleted"] is True


@pytest.mark.parametrize(
    "env",
    [{"TWITCH_CHANNEL": ""}, {"CHAT_AUTO_START": "0"}, {"TWITCH_BOT_USERNAME": "mybot"}],
    ids=["no channel", "auto start off", "no token"],
)
def test_disabled_recorder_says_so_and_why(workdir: Path, db_path: Path, env: dict[str, str]) -> None:
    with recorder(workdir, str(db_path), ("127.0.0.1", 1), **env) as chat:
        line = chat.wait_for_log(r"chat recorder disabled reason=.*")
        assert any(word in line.group(0) for word in ("TWITCH_CHANNEL", "CHAT_AUTO_START", "TWITCH_OAUTH_TOKEN"))
        assert chat.proc.poll() is None


def test_bot_login_sends_the_token_with_oauth_prefix(irc: TwitchIrcStandin, workdir: Path, db_path: Path) -> None:
    with recorder(
        workdir, str(db_path), irc.address, TWITCH_BOT_USERNAME="MyBot", TWITCH_OAUTH_TOKEN="abcdef1234567890"
    ) as chat:
        irc.wait_joined(CHANNEL)
        client = irc.clients()[0]
        assert (client["nick"], client["password"]) == ("mybot", "oauth:abcdef1234567890")
        assert client["caps"] == "twitch.tv/tags twitch.tv/commands"
        assert "abcdef1234567890" not in chat.log()


def test_tls_connection_with_a_verified_certificate(workdir: Path, db_path: Path) -> None:
    import ssl

    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with (
        TwitchIrcStandin(ssl_context=context) as tls_irc,
        recorder(
            workdir, str(db_path), ("localhost", tls_irc.port), TWITCH_IRC_TLS="1", SSL_CERT_FILE=str(cert)
        ) as chat,
    ):
        tls_irc.wait_joined(CHANNEL)
        tls_irc.send("@id=over-tls;tmi-sent-ts=1700000000000 :u!u@u.tmi.twitch.tv PRIVMSG #x :secure", CHANNEL)
        from vodtender.runtime.db import open_database

        open_database(str(db_path))
        wait_rows(1)
        assert ChatMessage.get().msg_id == "over-tls"
        assert "tls=1" in chat.log()


def test_a_suspended_channel_does_not_stop_the_others(workdir: Path, db_path: Path) -> None:
    from vodtender.runtime.db import open_database

    open_database(str(db_path))
    with (
        TwitchIrcStandin(suspended_channels=["gone"]) as irc,
        recorder(workdir, str(db_path), irc.address, TWITCH_CHANNEL=f"{CHANNEL},gone") as chat,
    ):
        irc.wait_joined(CHANNEL)
        irc.send("@id=still-recorded :u!u@u.tmi.twitch.tv PRIVMSG #x :hello", CHANNEL)
        wait_rows(1)
        chat.wait_for_log(r"chat notice channel=gone notice_id=msg_channel_suspended")
        chat.wait_for_log(r"chat channels not joined, will retry channels=gone", timeout=90)
        assert irc.connections_total == 1  # the connection is kept for the channels that work


def test_sighup_with_a_new_channel_joins_it(irc: TwitchIrcStandin, workdir: Path, db_path: Path) -> None:
    import signal

    from vodtender.runtime.db import open_database

    open_database(str(db_path))
    conf = workdir / "etc" / "vodtender.conf"
    conf.write_text(f"twitch-channel = {CHANNEL}\n")
    with recorder(workdir, str(db_path), irc.address, channels=None) as chat:
        irc.wait_joined(CHANNEL)
        conf.write_text(f"twitch-channel = {CHANNEL},second\n")
        chat.signal(signal.SIGHUP)
        irc.wait_joined("second")
        irc.send("@id=after-reload :u!u@u.tmi.twitch.tv PRIVMSG #x :new channel", "second")
        wait_rows(1)
        assert ChatMessage.get().channel == "second"
        wait_until(
            lambda: ChatGap.select().where(ChatGap.ended_at.is_null(False)).count() == 1,
            30,
            what="the reload's short gap, closed",
        )


def test_sigkill_leaves_a_gap_from_the_last_stored_message_until_the_rejoin(
    irc: TwitchIrcStandin, workdir: Path, db_dsn: str, migrated_db: peewee.Database
) -> None:
    """A killed recorder cannot say when it stopped: the next start records the gap from what it last stored."""
    replay = None
    first = recorder(workdir, db_dsn, irc.address).start()
    try:
        irc.wait_joined(CHANNEL)
        replay = irc.replay(
            load_irc_lines("bench_chat.txt"), CHANNEL, rate=500, count=100_000, fresh_ids=True, fresh_ts=True
        )
        wait_rows(1000)
    finally:
        first.kill()
    killed_at = time.time()
    last_stored = ChatMessage.select(peewee.fn.MAX(ChatMessage.abs_timestamp)).scalar()
    with recorder(workdir, db_dsn, irc.address) as second:
        second.wait_for_log("chat gap opened: the last run did not stop cleanly channel=vodchan")
        wait_until(
            lambda: ChatGap.select().where(ChatGap.ended_at.is_null(False)).exists(),
            30,
            what="the gap closed by the rejoin",
        )
        replay.cancel()
    gap = ChatGap.get()
    assert gap.started_at == last_stored  # everything after the last stored message may be lost
    assert gap.ended_at > killed_at and gap.reason == "recorder did not stop cleanly"
