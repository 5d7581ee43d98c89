"""Claims across processes: a lease of this host's dead process is free at once."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys

import peewee

from vodtender.pipeline.vods import claim, download_due
from vodtender.runtime.models import Vod, utcnow


def test_a_dead_local_owner_frees_its_lease_at_once(migrated_db: peewee.Database) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    Vod.create(
        twitch_vod_id="1",
        channel="c",
        date=dt.datetime(2026, 11, 1),
        lease_owner=f"{socket.gethostname()}:{dead.pid}",
        lease_until=utcnow() + dt.timedelta(hours=1),
    )
    assert claim(download_due(), "me:1", 60) is not None
