"""`db copy`: every table moved with ids kept, verified, safe to re-run; into SQLite and PostgreSQL targets."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import peewee
import pytest

from vodtender.ops.db_copy import Progress, copy_database
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import KV, ChatGap, ChatMessage, DaemonHeartbeat, OAuthToken, Vod, VodEvent


def make_archive(path: Path, vods: int = 5, chat_per_vod: int = 20) -> None:
    """A small but complete SQLite archive: every table has rows, with odd text and NULLs."""
    db = open_database(str(path))
    migrate(db)
    with db.atomic():
        for n in range(vods):
            vod = Vod.create(
                twitch_vod_id=str(1000 + n),
                channel="chan",
                title=f"VOD {n} 'quoted' ünïcode 🎮",
                date=dt.datetime(2026, 3, 1, 12, 0, 0, 123456) + dt.timedelta(days=n),
                processed=n % 2,
                download_bytes=2**40 + n,
                download_speed=1.5 * n,
            )
            VodEvent.create(vod=vod, stage="download", kind="retry", message="HTTP 503\nagain")
            ChatMessage.insert_many(
                [
                    {
                        "msg_id": f"{n}-{i}",
                        "channel": "chan",
                        "vod_id": vod.twitch_vod_id,
                        "username": f"u{i}",
                        "message": "Kappa \x01ACTION waves\x01" if i % 3 == 0 else f"hello {i}",
                        "abs_timestamp": 1_700_000_000.25 + i,
                        "rel_timestamp": i + 0.001,
                        "badges": None if i % 2 else "sub/12",
                    }
                    for i in range(chat_per_vod)
                ]
            ).execute()
        ChatGap.create(channel="chan", started_at=1.5, ended_at=None, reason="irc down")
        OAuthToken.create(provider="youtube", refresh_token="1//secret", expires_at=dt.datetime(2026, 1, 1))
        KV.create(key="circuit_state", value="closed")
        DaemonHeartbeat.create(daemon="poller", instance="h:1", host="h")
    db.close()


def test_every_table_is_copied_verified_and_new_rows_get_fresh_ids(tmp_path: Path, db_dsn: str) -> None:
    source = tmp_path / "old.db"
    make_archive(source)
    result = copy_database(str(source), db_dsn, batch=7, progress=Progress(io.StringIO()))
    assert result.verified
    counts = {t.table: (t.source_rows, t.copied, t.target_rows) for t in result.tables}
    assert counts["vods"] == (5, 5, 5) and counts["chat_messages"] == (100, 100, 100)
    assert counts["vod_events"] == (5, 5, 5) and counts["oauth_tokens"] == (1, 1, 1)
    db = open_database(db_dsn)
    event = VodEvent.select().order_by(VodEvent.id).first()
    assert event.vod.twitch_vod_id == "1000" and event.message == "HTTP 503\nagain"
    assert Vod.get(Vod.twitch_vod_id == "1003").title == "VOD 3 'quoted' ünïcode 🎮"
    new = Vod.create(twitch_vod_id="new", channel="chan")  # the id sequence moved past the copied ids
    assert new.id > max(v.id for v in Vod.select().where(Vod.twitch_vod_id != "new"))
    db.close()


def test_a_sqlite_target_is_left_without_an_archive_sized_wal(tmp_path: Path) -> None:
    source, target = tmp_path / "old.db", tmp_path / "new.db"
    make_archive(source, vods=40, chat_per_vod=500)
    assert copy_database(str(source), str(target), batch=100, progress=Progress(io.StringIO())).verified
    assert Path(f"{target}-wal").stat().st_size == 0  # the target is still open: only a checkpoint empties it


def test_a_second_run_copies_nothing_and_still_verifies(tmp_path: Path, db_dsn: str) -> None:
    source = tmp_path / "old.db"
    make_archive(source)
    copy_database(str(source), db_dsn, progress=Progress(io.StringIO()))
    again = copy_database(str(source), db_dsn, progress=Progress(io.StringIO()))
    assert again.copied == 0 and again.verified
    assert sum(t.skipped for t in again.tables) == sum(t.source_rows for t in again.tables)


def test_an_older_source_without_newer_columns_is_copied(tmp_path: Path, db_dsn: str) -> None:
    source = tmp_path / "old.db"
    make_archive(source)
    raw = peewee.SqliteDatabase(str(source))
    raw.execute_sql("ALTER TABLE vods DROP COLUMN download_speed")
    raw.close()
    result = copy_database(str(source), db_dsn, progress=Progress(io.StringIO()))
    assert result.verified
    db = open_database(db_dsn)
    assert {v.download_speed for v in Vod.select()} == {0.0}  # the column's default
    db.close()


def test_a_target_holding_different_rows_fails_verification(tmp_path: Path, db_dsn: str) -> None:
    source = tmp_path / "old.db"
    make_archive(source)
    copy_database(str(source), db_dsn, progress=Progress(io.StringIO()))
    db = open_database(db_dsn)
    ChatMessage.update(message="edited").where(ChatMessage.msg_id == "2-5").execute()
    db.close()
    result = copy_database(str(source), db_dsn, progress=Progress(io.StringIO()))
    assert not result.verified
    assert [t.table for t in result.tables if not t.verified] == ["chat_messages"]


@pytest.mark.parametrize("tty", [False, True])
def test_progress_is_a_bar_on_a_terminal_and_lines_otherwise(tty: bool) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    stream = Stream()
    progress = Progress(stream)
    progress.start("chat_messages", 1000)
    for _ in range(10):
        progress.advance(100)
    progress.finish("1000 copied")
    out = stream.getvalue()
    assert "chat_messages: 1000 copied\n" in out
    if tty:
        assert "\r" in out and "[" + "#" * 30 + "] 100%" in out
    else:
        assert "\r" not in out and "chat_messages: 500/1000 rows (50%)" in out
