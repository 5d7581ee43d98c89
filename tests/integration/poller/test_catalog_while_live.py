"""The catalog while a channel is live: its still-recording archive is neither stored nor marked missing."""

from __future__ import annotations

import datetime as dt
import time

import peewee

from tests.standins.helix import HelixStandin
from vodtender.clients.helix import HelixClient
from vodtender.pipeline.catalog.channels import ChannelDirectory
from vodtender.pipeline.catalog.sync import CatalogLimits, CatalogSync
from vodtender.pipeline.live.watcher import live_stream_ids
from vodtender.runtime.models import Vod


def run_round(helix: HelixStandin) -> None:
    client = HelixClient(helix.client_id, helix.client_secret, helix.helix_url, helix.auth_url)
    directory = ChannelDirectory(["alice"])
    directory.resolve(client)
    catalog = CatalogSync(client, directory, lambda channel: CatalogLimits(), live_stream_ids)
    catalog.start_round()
    while not catalog.step():
        pass


def test_the_archive_of_a_live_stream_waits_for_the_stream_to_end(
    migrated_db: peewee.Database, helix: HelixStandin
) -> None:
    helix.add_user("alice")
    helix.add_videos("alice", 30)
    started = int(time.time()) - 600
    start_time = dt.datetime.fromtimestamp(started, dt.UTC).replace(tzinfo=None)
    helix.publish_vod("alice", "live-stream", created_at=started, video_id="5000")  # Twitch lists it while live
    Vod.create(
        twitch_vod_id="live-placeholder", channel="alice", stream_id="live-stream", is_placeholder=1, date=start_time
    )
    run_round(helix)
    assert Vod.get_or_none(Vod.twitch_vod_id == "5000") is None, "still recording: not for the downloader yet"

    # Stored before the poller saw the stream live (e.g. the start-up run): not "missing" while skipped.
    Vod.create(twitch_vod_id="5000", channel="alice", stream_id="live-stream", date=start_time)
    run_round(helix)
    assert Vod.get(Vod.twitch_vod_id == "5000").helix_missing == 0
    assert Vod.select().where(Vod.is_placeholder == 0).count() == 31
