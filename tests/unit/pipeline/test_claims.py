"""Claims: order of work, leases, expiry, and a dead local owner's lease freed at once."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys

import peewee

from vodtender.pipeline.vods import claim, download_due, release, renew
from vodtender.runtime.models import Vod, utcnow


def _vod(vod_id: str, day: int, **fields: object) -> Vod:
    return Vod.create(twitch_vod_id=vod_id, channel="c", date=dt.datetime(2026, 11, day), **fields)


def test_claims_follow_priority_then_oldest_first(migrated_db: peewee.Database) -> None:
    _vod("new", 20)
    _vod("old", 1)
    _vod("urgent", 25, priority=5)
    order = [claim(download_due(), "w:1", 60).twitch_vod_id for _ in range(3)]
    assert order == ["urgent", "old", "new"]
    assert claim(download_due(), "w:1", 60) is None


def test_a_held_lease_is_not_claimed_twice_until_it_expires(migrated_db: peewee.Database) -> None:
    _vod("1", 1)
    first = claim(download_due(), "hostA:1", 0.2)
    assert first is not None and first.lease_owner == "hostA:1"
    assert claim(download_due(), "hostB:2", 60) is None
    Vod.update(lease_until=utcnow() - dt.timedelta(seconds=1)).execute()
    second = claim(download_due(), "hostB:2", 60)
    assert second is not None and second.lease_owner == "hostB:2"
    assert not renew(first.id, "hostA:1", 60)  # the old owner learns it lost the VOD
    assert renew(second.id, "hostB:2", 60, download_bytes=10)
    assert release(second.id, "hostB:2", download_state="downloaded")
    assert Vod.get_by_id(second.id).lease_owner is None


def test_a_dead_local_owner_frees_its_lease_at_once(migrated_db: peewee.Database) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _vod("1", 1, lease_owner=f"{socket.gethostname()}:{dead.pid}",
         lease_until=utcnow() + dt.timedelta(hours=1))
    assert claim(download_due(), "me:1", 60) is not None


def test_due_time_is_respected(migrated_db: peewee.Database) -> None:
    _vod("later", 1, next_attempt_at=utcnow() + dt.timedelta(hours=1))
    assert claim(download_due(), "w:1", 60) is None
