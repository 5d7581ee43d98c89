"""Placeholders follow the streams poll; reconciliation moves chat exactly, in one transaction."""

from __future__ import annotations

import datetime as dt

import peewee

from vodtender.pipeline.catalog.helix_records import StreamRecord, VideoRecord
from vodtender.pipeline.live.reconcile import find_match, move_chat, move_late_chat
from vodtender.pipeline.live.watcher import LiveWatcher, open_placeholders
from vodtender.runtime.models import ChatMessage, Vod, VodEvent

START = dt.datetime(2025, 11, 28, 18, 0, 0)
UNIX = int(START.replace(tzinfo=dt.UTC).timestamp())


def stream(
    stream_id: str = "s1", started: dt.datetime = START, title: str = "live", user: str = "1001"
) -> StreamRecord:
    return StreamRecord(id=stream_id, user_id=user, user_login="alice", title=title, started_at=started)


def video(video_id: str, created: dt.datetime, stream_id: str | None, kind: str = "archive") -> VideoRecord:
    return VideoRecord(
        id=video_id,
        user_id="1001",
        user_login="alice",
        title="the stream",
        description="",
        created_at=created,
        duration_seconds=7200,
        stream_id=stream_id,
        type=kind,
        url=f"https://www.twitch.tv/videos/{video_id}",
        thumbnail_url=None,
        muted_segments=None,
    )


def watcher() -> LiveWatcher:
    return LiveWatcher(client=None, directory=None)  # type: ignore[arg-type]  # apply() needs neither


def test_going_live_creates_the_placeholder_of_the_contract(migrated_db: peewee.Database) -> None:
    watcher().apply("alice", "1001", stream())
    vod = Vod.get(Vod.is_placeholder == 1)
    assert vod.twitch_vod_id == f"live-{UNIX}"
    assert (vod.channel, vod.user_id, vod.stream_id, vod.date, vod.title) == ("alice", "1001", "s1", START, "live")
    assert vod.live_ended_at is None


def test_polls_of_one_stream_keep_one_placeholder_and_follow_the_title(migrated_db: peewee.Database) -> None:
    w = watcher()
    w.apply("alice", "1001", stream())
    w.apply("alice", "1001", stream(title="new title"))
    assert [v.title for v in Vod.select()] == ["new title"]


def test_offline_then_back_with_the_same_stream_reopens_it(migrated_db: peewee.Database) -> None:
    w = watcher()
    w.apply("alice", "1001", stream())
    w.apply("alice", "1001", None)
    assert Vod.get().live_ended_at is not None and open_placeholders("alice") == []
    w.apply("alice", "1001", stream())
    assert Vod.select().count() == 1 and Vod.get().live_ended_at is None


def test_a_restart_between_polls_closes_the_old_and_opens_a_new_placeholder(migrated_db: peewee.Database) -> None:
    w = watcher()
    w.apply("alice", "1001", stream())
    later = START + dt.timedelta(minutes=20)
    w.apply("alice", "1001", stream("s2", later))
    old, new = Vod.select().order_by(Vod.date)
    assert old.stream_id == "s1" and old.live_ended_at is not None
    assert new.stream_id == "s2" and new.live_ended_at is None
    assert [v.stream_id for v in open_placeholders("alice")] == ["s2"]


def test_two_channels_live_in_the_same_second_get_two_placeholders(migrated_db: peewee.Database) -> None:
    w = watcher()
    w.apply("alice", "1001", stream())
    w.apply("bob", "1002", stream("s9", user="1002"))
    assert sorted(v.twitch_vod_id for v in Vod.select()) == [f"live-{UNIX}", f"live-{UNIX}-s9"]


def test_reconciliation_moves_chat_with_the_exact_shift(migrated_db: peewee.Database) -> None:
    watcher().apply("alice", "1001", stream())
    placeholder = Vod.get()
    Vod.update(priority=5).where(Vod.id == placeholder.id).execute()
    for n in range(50):
        abs_ts = UNIX + 10 + n * 1.25
        ChatMessage.create(
            msg_id=f"m{n}",
            channel="alice",
            vod_id=placeholder.twitch_vod_id,
            abs_timestamp=abs_ts,
            rel_timestamp=abs_ts - UNIX if n else None,
        )
    ChatMessage.create(msg_id="other", channel="alice", vod_id=None, abs_timestamp=UNIX - 5.0)
    real_start = START + dt.timedelta(seconds=7)
    moved = move_chat(placeholder.id, video("777", real_start, "s1"), "777")
    assert moved == 50
    assert Vod.get_or_none(Vod.id == placeholder.id) is None
    real = Vod.get(Vod.twitch_vod_id == "777")
    assert real.priority == 5 and real.date == real_start and real.is_placeholder == 0
    for msg in ChatMessage.select().where(ChatMessage.vod_id == "777"):
        assert abs(msg.rel_timestamp - (msg.abs_timestamp - UNIX - 7)) < 1e-6
    assert ChatMessage.get(ChatMessage.msg_id == "other").vod_id is None
    assert ChatMessage.select().count() == 51, "chat rows are never deleted"
    assert VodEvent.get(VodEvent.vod == real.id).kind == "reconciled"
    assert move_chat(placeholder.id, None, "777") is None, "a second attempt finds nothing to do"


def test_matching_prefers_the_stream_id_and_never_takes_another_streams_vod(migrated_db: peewee.Database) -> None:
    watcher().apply("alice", "1001", stream())
    placeholder = Vod.get()
    near_other = video("1", START + dt.timedelta(seconds=2), "other-stream")
    own = video("2", START + dt.timedelta(minutes=3), "s1")
    assert find_match(placeholder, [near_other, own], 600) == own
    assert find_match(placeholder, [near_other], 600) is None
    without_id = video("3", START + dt.timedelta(seconds=40), None)
    far = video("4", START + dt.timedelta(hours=2), None)
    assert find_match(placeholder, [near_other, far, without_id], 600) == without_id
    assert find_match(placeholder, [video("5", START, None, kind="highlight")], 600) is None


def test_chat_rows_written_late_for_a_reconciled_placeholder_follow_it(migrated_db: peewee.Database) -> None:
    watcher().apply("alice", "1001", stream())
    placeholder = Vod.get()
    move_chat(placeholder.id, video("777", START + dt.timedelta(seconds=7), "s1"), "777")
    ChatMessage.create(
        msg_id="late",
        channel="alice",
        vod_id=placeholder.twitch_vod_id,
        abs_timestamp=UNIX + 100.0,
        rel_timestamp=100.0,
    )
    assert move_late_chat() == 1
    late = ChatMessage.get(ChatMessage.msg_id == "late")
    assert late.vod_id == "777" and abs(late.rel_timestamp - 93.0) < 1e-6
    assert move_late_chat() == 0
