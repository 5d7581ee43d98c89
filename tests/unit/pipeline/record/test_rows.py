"""The `recordings` row's owner: which streams are claimed and by whom (also two recorders at once, on
SQLite and PostgreSQL), the lease rule, each move, and what readers get back."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from pathlib import Path

import peewee
import pytest

from vodtender.pipeline.record import rows
from vodtender.runtime.models import Recording, Vod, utcnow

START = dt.datetime(2026, 11, 1, 18, 0, 0)


def live(channel: str, stream_id: str, *, ended: bool = False) -> Vod:
    """The poller's placeholder of a live stream (ended: the stream went offline)."""
    return Vod.create(
        twitch_vod_id=f"live-{stream_id}",
        channel=channel,
        stream_id=stream_id,
        date=START,
        is_placeholder=1,
        live_ended_at=utcnow() if ended else None,
    )


def fresh(rec: Recording) -> Recording:
    return Recording.get_by_id(rec.id)


def test_a_live_stream_of_a_wanted_channel_is_claimed_once_with_a_lease(migrated_db: peewee.Database) -> None:
    live("wanted", "s1")
    live("other", "s2")
    rec = rows.claim_recording("hostA:1", 60, ["wanted"])
    assert rec is not None
    assert (rec.channel, rec.stream_id, rec.placeholder_vod_id, rec.state) == ("wanted", "s1", "live-s1", "recording")
    assert rec.lease_owner == "hostA:1" and rec.lease_until > utcnow() + dt.timedelta(seconds=50)
    assert rows.claim_recording("hostB:2", 60, ["wanted"]) is None  # held, and `other` is not wanted
    assert Recording.select().count() == 1  # no row for a channel nobody wants


def test_all_channels_when_none_are_named(migrated_db: peewee.Database) -> None:
    live("a", "s1")
    live("b", "s2")
    taken = {rows.claim_recording("host:1", 60, None).stream_id, rows.claim_recording("host:1", 60, None).stream_id}
    assert taken == {"s1", "s2"}
    assert rows.claim_recording("host:1", 60, None) is None


def test_a_lease_that_ran_out_is_taken_over_and_the_old_owner_learns_it(migrated_db: peewee.Database) -> None:
    live("c", "s1")
    first = rows.claim_recording("hostA:1", 60, None)
    Recording.update(lease_until=utcnow()).execute()  # free at exactly its end
    second = rows.claim_recording("hostB:2", 60, None)
    assert second is not None and second.id == first.id and second.lease_owner == "hostB:2"
    progress = {"seconds": 1.0, "bytes": 1, "gaps": None, "ads_seconds": 0.0, "started_at": None}
    assert not rows.renew_recording(first.id, "hostA:1", 60, part_path=None, source="live", **progress)
    assert not rows.release_recording(first.id, "hostA:1")
    assert fresh(first).lease_owner == "hostB:2"


def test_a_dead_process_of_this_host_frees_its_lease_at_once(migrated_db: peewee.Database) -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())  # no process ever has a pid above it
    live("c", "s1")
    rows.claim_recording(f"{socket.gethostname()}:{pid_max + 1}", 3600, None)
    rec = rows.claim_recording("me:1", 60, None)
    assert rec is not None and rec.lease_owner == "me:1"


def test_a_stream_that_ended_before_anyone_recorded_it_fails_and_is_not_claimed(
    migrated_db: peewee.Database,
) -> None:
    placeholder = live("c", "s1")
    Recording.create(stream_id="s1", channel="c", placeholder_vod_id=placeholder.twitch_vod_id)
    Vod.update(live_ended_at=utcnow()).execute()
    assert rows.claim_recording("host:1", 60, None) is None
    rec = Recording.get(Recording.stream_id == "s1")
    assert (rec.state, rec.error) == ("failed", rows.ENDED_UNRECORDED)


def test_an_unfinished_recording_of_an_ended_stream_is_claimed_to_finish_it_whatever_the_channel(
    migrated_db: peewee.Database,
) -> None:
    live("dropped", "s1", ended=True)
    Recording.create(stream_id="s1", channel="dropped", state="recording", part_path="/d/.recording/s1.part")
    rec = rows.claim_recording("host:1", 60, ["someone-else"])
    assert rec is not None and rec.stream_id == "s1"


def test_finished_and_failed_recordings_are_never_claimed_again(migrated_db: peewee.Database) -> None:
    live("c", "s1")
    live("c", "s2")
    one = rows.claim_recording("host:1", 60, None)
    two = rows.claim_recording("host:1", 60, None)
    end = START + dt.timedelta(hours=1)
    assert rows.finish_recording(
        one.id, "host:1", "/d/c/x.ts", seconds=3600, bytes=10, gaps=None, ads_seconds=0, ended_at=end, host="host"
    )
    assert rows.fail_recording(two.id, "host:1", "disk gone " * 500)
    assert rows.claim_recording("host:2", 60, None) is None
    done, failed = fresh(one), fresh(two)
    assert (done.state, done.path, done.part_path, done.ended_at, done.lease_owner) == (
        "finished",
        "/d/c/x.ts",
        None,
        end,
        None,
    )
    assert failed.state == "failed" and failed.lease_owner is None and len(failed.error) == rows.ERROR_MAX


def test_renew_writes_the_progress_and_keeps_what_this_attempt_does_not_know_yet(migrated_db: peewee.Database) -> None:
    live("c", "s1")
    rec = rows.claim_recording("host:1", 60, None)
    gaps = json.dumps([{"start": "2026-11-01T18:10:00", "end": "2026-11-01T18:10:30", "seconds": 30.0, "why": "ad"}])
    first = START + dt.timedelta(seconds=1.5)
    assert rows.renew_recording(
        rec.id, "host:1", 60, seconds=20.0, bytes=5, gaps=gaps, ads_seconds=30.0, started_at=first,
        part_path="/d/.recording/s1.part", source="live",
    )  # fmt: skip
    assert rows.renew_recording(
        rec.id, "host:1", 60, seconds=22.0, bytes=6, gaps=gaps, ads_seconds=30.0, started_at=None,
        part_path=None, source="vod",
    )  # fmt: skip
    row = fresh(rec)
    assert (row.seconds, row.bytes, row.ads_seconds, row.source) == (22.0, 6, 30.0, "vod")
    assert (row.started_at, row.part_path) == (first, "/d/.recording/s1.part")
    assert rows.gaps_of(row) == [rows.StoredGap("2026-11-01T18:10:00", "2026-11-01T18:10:30", 30.0, "ad")]
    assert rows.release_recording(rec.id, "host:1")
    released = fresh(rec)
    assert (released.state, released.lease_owner, released.lease_until) == ("recording", None, None)


def test_unreadable_gaps_read_as_none(migrated_db: peewee.Database) -> None:
    rec = Recording.create(stream_id="s1", channel="c", gaps='{"start": 1}')
    assert rows.gaps_of(rec) == []
    assert rows.gaps_of(Recording.create(stream_id="s2", channel="c", gaps="[{")) == []


def test_what_readers_ask_the_table(migrated_db: peewee.Database) -> None:
    live("a", "s1")
    live("b", "s2", ended=True)
    Vod.create(twitch_vod_id="9001", channel="a", stream_id="s1", date=START)  # its VOD, still recording
    assert rows.stream_is_live("s1") and not rows.stream_is_live("s2") and not rows.stream_is_live("nope")
    assert rows.in_progress_vod("s1") == "9001" and rows.in_progress_vod("s2") is None
    assert rows.wanted_live_channels(None) == {"a"} and rows.wanted_live_channels(["b"]) == set()
    rec = rows.claim_recording("host:1", 60, None)
    assert rows.for_stream("s1") == rec and rows.for_stream(None) is None
    assert rows.recent(utcnow()) == [rec]


@pytest.mark.parametrize("claimers", [2, 4])
def test_recorders_claiming_at_the_same_moment_take_each_stream_exactly_once(
    migrated_db: peewee.Database, claimers: int
) -> None:
    for n in range(3):
        live(f"c{n}", f"s{n}")
    start = threading.Barrier(claimers)
    taken: list[str] = []
    errors: list[BaseException] = []

    def recorder(owner: str) -> None:
        try:
            start.wait()
            while (rec := rows.claim_recording(owner, 60, None)) is not None:
                taken.append(rec.stream_id)
        except BaseException as exc:  # surfaced by the assertion below, not lost in the thread
            errors.append(exc)
        finally:
            migrated_db.close()  # this thread's connection

    threads = [threading.Thread(target=recorder, args=(f"host{n}:1",)) for n in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(taken) == ["s0", "s1", "s2"]
    assert Recording.select().count() == 3


def test_a_failed_recording_stores_its_error_redacted(migrated_db: peewee.Database) -> None:
    live("c", "s1")
    rec = rows.claim_recording("host:1", 60, None)
    assert rows.fail_recording(rec.id, "host:1", "playlist: 403 for https://cdn/x.m3u8 Authorization: OAuth leaked-1")
    assert fresh(rec).error == "playlist: 403 for https://cdn/x.m3u8 Authorization: OAuth ****"
