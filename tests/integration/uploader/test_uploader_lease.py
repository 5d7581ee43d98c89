"""The uploader acts on a VOD only while it holds the VOD's claim: a real uploader process, the YouTube stand-in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import peewee

from tests.helpers.processes import DaemonProcess, wait_until
from tests.integration.uploader.conftest import MIB, downloaded_vod, fresh, store_tokens, uploader_env
from tests.standins.youtube import Fault, YouTubeStandIn
from vodtender.runtime.models import Vod, VodEvent

LOST_LEASE_LINE = "upload finished but the lease was taken meanwhile"


def test_a_lease_taken_mid_upload_keeps_the_file_and_the_row_for_its_new_owner(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    vod = downloaded_vod(workdir, 3 * MIB)
    store_tokens(youtube)
    youtube.add_fault(Fault(on="put", kind="pause", at_offset=2 * MIB + 500_000))  # inside the last chunk
    env = uploader_env(workdir, db_path, youtube, UPLOAD_DELETE_LOCAL="1")
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        wait_until(youtube.holding.is_set, 60, what="the last chunk in flight")
        # The lease ran out and a second uploader claimed the VOD, as it may after expiry.
        until = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=5)
        Vod.update(lease_owner="otherhost:4242", lease_until=until).where(Vod.id == vod.id).execute()
        youtube.release()  # the chunk completes: YouTube has the whole file
        uploader.wait_for_log(LOST_LEASE_LINE, timeout=30)
        assert len(youtube.videos) == 1
        row = fresh(vod)
        assert Path(vod.downloaded_path).exists(), "the file stays for the VOD's new owner"
        assert row.processed == 0 and row.youtube_url is None and row.upload_state == "uploading"
        assert row.lease_owner == "otherhost:4242"
        assert not VodEvent.select().where((VodEvent.vod == vod.id) & (VodEvent.kind.in_(["done", "file_deleted"])))
        log = uploader.log()
        assert log.count(LOST_LEASE_LINE) == 1
        assert f'youtube_url="https://www.youtube.com/watch?v={youtube.videos[0].id}"' in log, "the duplicate is named"
        assert "local file deleted" not in log and "upload done" not in log
        assert uploader.proc.poll() is None
