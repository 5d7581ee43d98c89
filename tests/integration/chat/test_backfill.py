"""`vodtender chat backfill` and CHAT_BACKFILL=1 against the Twitch stand-in's comment replay, as processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from tests.helpers.processes import base_env, run_cli, wait_until
from tests.integration.chat.conftest import recorder
from tests.standins.irc import TwitchIrcStandin
from tests.standins.twitch import TwitchStandin
from tests.standins.twitch_comments import Comment
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatMessage, Vod

VOD = "2001"
START = 1_700_000_000.0
COMMENTS = [Comment(f"c-{i:04d}", i // 2, START + i // 2, f"viewer{i % 7}", f"hello {i}") for i in range(300)]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[TwitchStandin]:
    with TwitchStandin(tmp_path / "twitch") as twitch:
        twitch.comments.add(VOD, COMMENTS)
        yield twitch


def gql_settings(site: TwitchStandin, pace: str = "0s") -> dict[str, str]:
    return {"TWITCH_GQL_URL": f"{site.base_url}/gql", "CHAT_BACKFILL_PACE": pace}


def env(workdir: Path, dsn: str, site: TwitchStandin, pace: str = "0s") -> dict[str, str]:
    return base_env(workdir, DB_DSN=dsn, **gql_settings(site, pace))


def stored() -> list[tuple[str, float, str]]:
    rows = ChatMessage.select().where(ChatMessage.vod_id == VOD).order_by(ChatMessage.msg_id)
    return [(r.msg_id, r.rel_timestamp, r.origin) for r in rows]


EXPECTED = [(c.comment_id, float(c.offset), "replay") for c in COMMENTS]


def test_backfill_stores_every_comment_once_and_resumes_after_a_kill(
    migrated_db: peewee.Database, workdir: Path, db_dsn: str, site: TwitchStandin
) -> None:
    Vod.create(twitch_vod_id=VOD, channel="chan")
    child = subprocess.Popen(
        [sys.executable, "-m", "vodtender", "chat", "backfill", VOD],
        cwd=workdir,
        env=env(workdir, db_dsn, site, pace="300ms"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: ChatMessage.select().count() >= 40, 60, interval=0.05, what="the first pages")
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_at = len(site.comments.queries)
    assert ChatMessage.select().count() < len(COMMENTS)

    done = run_cli(workdir, "chat", "backfill", VOD, env=env(workdir, db_dsn, site))
    assert done.returncode == 0, done.stderr
    assert stored() == EXPECTED
    assert "cursor" in site.comments.queries[killed_at]  # resumed where it stopped, not from the start
    row = ChatMessage.get(ChatMessage.msg_id == "c-0003")
    assert (row.username, row.display_name, row.message, row.abs_timestamp) == (
        "viewer3",
        "Viewer3",
        "hello 3",
        START + 1,
    )


@pytest.fixture
def sqlite_vod(db_path: Path) -> Iterator[str]:
    """A migrated SQLite file holding the catalog VOD, without chat; its DSN.  (The paging paths do
    not depend on the database kind: the PostgreSQL run of the first test covers the writes.)"""
    db = open_database(str(db_path))
    migrate(db)
    Vod.create(twitch_vod_id=VOD, channel="chan")
    yield str(db_path)
    db.close()


def backfill(workdir: Path, dsn: str, site: TwitchStandin, *extra: str) -> subprocess.CompletedProcess:
    return run_cli(workdir, "chat", "backfill", VOD, *extra, env=env(workdir, dsn, site))


def test_cursor_refused_falls_back_to_offset_paging(workdir: Path, sqlite_vod: str, site: TwitchStandin) -> None:
    site.comments.refuse_cursor = True
    result = backfill(workdir, sqlite_vod, site)
    assert result.returncode == 0, result.stderr
    assert "cursor paging refused" in result.stderr
    assert stored() == EXPECTED


def test_twitch_unavailable_is_asked_again_later_and_nothing_is_lost(
    workdir: Path, sqlite_vod: str, site: TwitchStandin
) -> None:
    site.add_rule("gql", status=503, times=1)
    result = backfill(workdir, sqlite_vod, site)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Twitch unavailable, asking again") == 1
    assert stored() == EXPECTED


def test_every_query_refused_is_one_clear_line_and_keeps_what_is_stored(
    workdir: Path, sqlite_vod: str, site: TwitchStandin
) -> None:
    ChatMessage.create(msg_id="kept", channel="chan", vod_id="1999", abs_timestamp=START, origin="replay")
    site.comments.refuse_all = True
    result = backfill(workdir, sqlite_vod, site)
    assert result.returncode == 1
    refusals = [line for line in result.stderr.splitlines() if "integrity" in line]
    assert refusals == [
        f"vodtender: chat backfill of VOD {VOD} stopped: Twitch refused the comment replay: failed integrity check"
    ]
    assert [r.msg_id for r in ChatMessage.select()] == ["kept"]


def test_vod_with_live_chat_is_left_alone_unless_forced(workdir: Path, sqlite_vod: str, site: TwitchStandin) -> None:
    ChatMessage.create(msg_id="irc-1", channel="chan", vod_id=VOD, abs_timestamp=START, origin="live")
    refused = backfill(workdir, sqlite_vod, site)
    assert refused.returncode == 1
    assert f"VOD {VOD} has live-recorded chat" in refused.stderr
    assert ChatMessage.select().count() == 1
    forced = backfill(workdir, sqlite_vod, site, "--force")
    assert forced.returncode == 0, forced.stderr
    assert ChatMessage.select().where(ChatMessage.origin == "replay").count() == len(COMMENTS)
    assert ChatMessage.get(ChatMessage.msg_id == "irc-1").origin == "live"


def test_vod_without_comments_stores_nothing(workdir: Path, sqlite_vod: str, site: TwitchStandin) -> None:
    site.comments.add(VOD, [])
    result = backfill(workdir, sqlite_vod, site)
    assert result.returncode == 0, result.stderr
    assert f"VOD {VOD}: 0 replay comments fetched" in result.stdout
    assert ChatMessage.select().count() == 0


def test_chat_daemon_backfills_catalog_vods_without_chat(
    irc: TwitchIrcStandin, workdir: Path, sqlite_vod: str, site: TwitchStandin
) -> None:
    Vod.create(twitch_vod_id="2002", channel="chan")
    site.comments.add("2002", COMMENTS[:5])
    ChatMessage.create(msg_id="irc-1", channel="chan", vod_id="2002", abs_timestamp=START, origin="live")
    site.add_rule("gql", status=502, times=1)  # a passing fault: the VOD is asked for again, not left
    with recorder(workdir, sqlite_vod, irc.address, CHAT_BACKFILL="1", **gql_settings(site, "50ms")) as chat:
        chat.wait_for_log("chat backfill: Twitch unavailable, asking again", timeout=30)
        chat.wait_for_log("chat backfill finished", timeout=60)
    assert stored() == EXPECTED
    assert [r.origin for r in ChatMessage.select().where(ChatMessage.vod_id == "2002")] == ["live"]
    assert all(q["videoID"] == VOD for q in site.comments.queries)
