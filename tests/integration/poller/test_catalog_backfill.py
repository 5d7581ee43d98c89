"""Catalog backfill against the Helix stand-in, the poller running as its own process."""

from __future__ import annotations

from collections.abc import Callable

import peewee

from tests.helpers.processes import DaemonProcess, wait_until
from tests.standins.helix import HelixStandin
from vodtender.pipeline.kv import catalog_cursor_key
from vodtender.runtime.models import KV, DaemonHeartbeat, Vod, VodEvent


def vod_ids() -> list[str]:
    return [v.twitch_vod_id for v in Vod.select(Vod.twitch_vod_id).where(Vod.is_placeholder == 0)]


def test_1000_vods_ingested_exactly_once_across_sigkill_and_rerun(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    expected = set(helix.add_videos("alice", 1000))
    helix.set_delay("videos", 0.4)  # slow pages, so the kill lands in the middle of the run
    first = start_poller()
    first.wait_for_log("catalog sync started channel=alice", timeout=30)
    wait_until(
        lambda: DaemonHeartbeat.select().where(DaemonHeartbeat.status.contains("backfilling alice (")).exists(),
        timeout=30,
        what="STATUS= showing the backfill",
    )
    wait_until(
        lambda: KV.get_or_none(KV.key == catalog_cursor_key("alice")) and len(vod_ids()) >= 300,
        timeout=60,
        what="a few pages stored",
    )
    first.signal(9)
    first.proc.wait()
    stored_cursor = KV.get(KV.key == catalog_cursor_key("alice")).value
    stored = len(vod_ids())
    assert 300 <= stored < 1000

    helix.set_delay("videos", 0.0)
    before_restart = len(helix.requests_to("videos"))
    second = start_poller()
    second.wait_for_log(r"catalog sync done channel=alice .*new=\d+", timeout=60)
    resumed = helix.requests_to("videos")[before_restart]
    assert resumed["params"]["after"] == [stored_cursor], "the restarted run must continue from the stored cursor"
    ids = vod_ids()
    assert len(ids) == 1000 and set(ids) == expected
    assert KV.get_or_none(KV.key == catalog_cursor_key("alice")) is None, "a finished run leaves no cursor"
    assert helix.violations == 0
    wait_until(
        lambda: DaemonHeartbeat.select().where(DaemonHeartbeat.status.contains("catalog synced 20")).exists(),
        timeout=30,
        what="STATUS= showing the last sync",
    )
    second.stop()

    # A second run adds nothing and picks up changed metadata.
    changed = sorted(expected)[0]
    for entries in helix.videos.values():
        for _, video_id, item in entries:
            if video_id == changed:
                item["title"] = "renamed by the streamer"
    third = start_poller()
    third.wait_for_log(r"catalog sync done channel=alice listed=1000 new=0 missing=0", timeout=60)
    assert len(vod_ids()) == 1000
    assert Vod.get(Vod.twitch_vod_id == changed).title == "renamed by the streamer"
    assert third.stop() == 0


def test_5xx_and_network_hiccups_are_retried_with_backoff(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    helix.add_videos("alice", 250)
    helix.fail_next("videos", 503, times=2)
    helix.fail_next("users", 500, times=1)
    poller = start_poller()
    poller.wait_for_log(r"catalog sync done channel=alice listed=250 new=250", timeout=60)
    log = poller.log()
    assert "helix catalog failed, will retry" in log and "HTTP 503" in log and "HTTP 500" in log
    assert "helix catalog works again" in log
    assert len(vod_ids()) == 250
    statuses = [r["status"] for r in helix.requests_to("videos")]
    assert statuses.count(503) == 2 and statuses[-1] == 200


def test_several_channels_limits_and_vanished_vods(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    import time

    helix.add_user("alice")
    helix.add_user("bob")
    alice = helix.add_videos("alice", 120, spacing=3600)  # five days
    helix.add_videos("bob", 30, newest=time.time() - 86400, spacing=86400)  # one a day for a month
    helix.add_videos("bob", 5, video_type="highlight")
    poller = start_poller("alice,bob", VOD_CATALOG_MAX="100", VOD_CATALOG_MAX_AGE_DAYS="10")
    poller.wait_for_log(r"catalog sync done channel=bob", timeout=60)
    poller.wait_for_log(r"catalog sync done channel=alice", timeout=60)
    assert Vod.select().where(Vod.channel == "alice").count() == 100
    bob = list(Vod.select().where(Vod.channel == "bob"))
    assert {v.type for v in bob} == {"archive"}
    assert len(bob) == 9  # 1..9 days old; day 10 and older are out of range (the newest is a day old)
    _status, body = poller.http("/metrics")
    assert 'vodtender_catalog_last_sync_timestamp_seconds{channel="alice"}' in body
    assert 'vodtender_helix_requests_total{endpoint="videos",status="200"}' in body
    poller.stop()

    # Twitch deletes a VOD before it was downloaded: marked, not retried forever.
    gone = alice[3]
    helix.remove_video(gone)
    downloaded = alice[4]
    Vod.update(download_state="downloaded").where(Vod.twitch_vod_id == downloaded).execute()
    helix.remove_video(downloaded)
    again = start_poller("alice,bob", VOD_CATALOG_MAX="100", VOD_CATALOG_MAX_AGE_DAYS="10")
    again.wait_for_log(r"catalog sync done channel=alice .*missing=1", timeout=60)
    assert Vod.get(Vod.twitch_vod_id == gone).helix_missing == 1
    assert Vod.get(Vod.twitch_vod_id == downloaded).helix_missing == 0, "a downloaded VOD is not missing"
    assert VodEvent.select().where(VodEvent.kind == "helix_missing").count() == 1
    assert (
        f"VOD gone from Helix before it was downloaded; marked helix_missing channel=alice vod_id={gone}" in again.log()
    )


def test_a_stale_cursor_restarts_the_run_instead_of_sticking(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    helix.add_videos("alice", 150)
    KV.create(key=catalog_cursor_key("alice"), value="expired-cursor")
    poller = start_poller()
    poller.wait_for_log("stored catalog cursor refused by Helix; the run restarts from the newest VOD", timeout=30)
    poller.wait_for_log("catalog sync done channel=alice listed=150 new=150", timeout=120)
    assert len(vod_ids()) == 150
