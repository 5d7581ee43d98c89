"""Odd Helix JSON reaching the running poller: stored safely or skipped with one line, the poller carries on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import peewee

from tests.helpers.processes import DaemonProcess
from tests.standins.helix import HelixStandin, rfc3339
from vodtender.runtime.models import Vod

HOSTILE_TITLE = "../../../etc/passwd \\ C:\\con\u0000\u001b[31m red\nnew line " + "\U0001f525" * 500


def test_odd_items_are_stored_safely_or_skipped_and_the_run_completes(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    user_id = helix.user_id("alice")
    now = time.time() - 3600
    helix.add_video(
        "alice",
        now - 10,
        video_id="501",
        duration="59s",
        title=HOSTILE_TITLE,
        muted_segments=[{"offset": 0, "duration": 360}],
    )
    helix.add_video("alice", now - 20, video_id="502", duration="10h0m0s")
    helix.add_video("alice", now - 30, video_id="503", duration="weird", title=None, url=None, stream_id=None)
    helix.add_video("alice", now - 40, video_id="504", type="premiere")  # unknown type
    helix.add_raw_video("alice", {"id": "505", "user_id": user_id, "type": "archive"}, now - 50)  # no created_at
    helix.add_raw_video("alice", "not an object", now - 60)
    helix.add_raw_video(
        "alice", {"id": "../../x", "user_id": user_id, "type": "archive", "created_at": rfc3339(now)}, now - 70
    )
    helix.add_videos("alice", 150, newest=now - 100)  # more pages after the odd ones
    helix.fail_next("videos", 200, body="<html>proxy error</html>")  # not JSON at all
    helix.fail_next("videos", 200, body=json.dumps({"data": "nope"}))  # JSON, but not Helix's shape

    poller = start_poller()
    poller.wait_for_log(r"catalog sync done channel=alice listed=153 new=153", timeout=60)
    title = Vod.get(Vod.twitch_vod_id == "501").title
    assert title.startswith("../../../etc/passwd \\ C:\\con") and title.count("\U0001f525") == 500
    assert not any(ord(c) < 32 for c in title)
    assert Vod.get(Vod.twitch_vod_id == "501").duration_seconds == 59
    assert json.loads(Vod.get(Vod.twitch_vod_id == "501").muted_segments) == [{"offset": 0, "duration": 360}]
    assert Vod.get(Vod.twitch_vod_id == "502").duration_seconds == 36000
    odd = Vod.get(Vod.twitch_vod_id == "503")
    assert (odd.duration_seconds, odd.title, odd.vod_url, odd.stream_id) == (0, "", None, None)
    assert not Vod.select().where(Vod.twitch_vod_id.in_(["504", "505", "../../x"])).exists()

    log = poller.log()
    assert log.count("helix videos item skipped: unknown type 'premiere'") == 1
    assert log.count("helix videos item skipped: missing or malformed created_at") == 1
    assert log.count("helix videos item skipped: not an object") == 1
    assert log.count("helix videos item skipped: missing or malformed id") == 1
    assert log.count("helix video has an unreadable duration; stored as 0 vod_id=503") == 1
    assert "response is not JSON" in log and "response without a data list" in log
    assert "Traceback" not in log
    assert poller.proc.poll() is None
    _, metrics = poller.http("/metrics")
    assert 'vodtender_helix_items_skipped_total{endpoint="videos"} 4.0' in metrics


def test_a_renamed_channel_is_followed_by_user_id(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    helix.add_videos("alice", 5)
    first = start_poller()
    first.wait_for_log("catalog sync done channel=alice listed=5 new=5", timeout=30)
    first.stop()
    helix.rename("alice", "alice_v2")
    helix.add_user("alice")  # someone else takes the old name
    helix.add_videos("alice", 3)
    helix.add_video("alice_v2", time.time() - 60, video_id="777")
    second = start_poller()
    second.wait_for_log("catalog sync done channel=alice listed=6 new=1", timeout=30)
    assert "channel renamed on Twitch; following it by user id" in second.log()
    assert "new_login=alice_v2" in second.log()
    assert Vod.get(Vod.twitch_vod_id == "777").channel == "alice"
    assert Vod.select().count() == 6
