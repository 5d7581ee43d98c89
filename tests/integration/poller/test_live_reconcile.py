"""Live detection and reconciliation: the poller as its own process, chat rows written as the recorder does."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from collections.abc import Callable

import peewee

from tests.helpers.processes import DaemonProcess, wait_until
from tests.standins.helix import HelixStandin
from vodtender.runtime.models import ChatMessage, Vod, VodEvent

PROMTOOL = shutil.which("promtool")
LIVE = {
    "CHAT_AUTO_START": "1",
    "CHAT_AUTO_POLL_INTERVAL": "1s",
    "VOD_RECONCILE_DELAY": "1s",
    "VOD_RECONCILE_WINDOW": "30s",
}


def placeholder_of(stream_id: str) -> Vod:
    return wait_until(
        lambda: Vod.get_or_none((Vod.stream_id == stream_id) & (Vod.is_placeholder == 1)),
        timeout=30,
        what=f"the placeholder of stream {stream_id}",
    )  # type: ignore[return-value]


def record_chat(placeholder: Vod, count: int, prefix: str) -> dict[str, float]:
    """Chat rows bound to the placeholder, as the chat recorder writes them; returns msg id -> abs time."""
    start = unix(placeholder)
    rows = {f"{prefix}{n}": start + 30 + n * 0.731 for n in range(count)}
    ChatMessage.insert_many(
        [
            {
                "msg_id": msg_id,
                "channel": placeholder.channel,
                "vod_id": placeholder.twitch_vod_id,
                "abs_timestamp": at,
                "rel_timestamp": at - start,
            }
            for msg_id, at in rows.items()
        ]
    ).execute()
    return rows


def unix(vod: Vod) -> float:
    return vod.date.replace(tzinfo=dt.UTC).timestamp()


def assert_moved(rows: dict[str, float], vod_id: str, vod_start: float) -> None:
    for msg in ChatMessage.select().where(ChatMessage.msg_id.in_(list(rows))):
        assert msg.vod_id == vod_id
        assert abs(msg.rel_timestamp - (rows[msg.msg_id] - vod_start)) < 1e-6


def reconcile_attempted(helix: HelixStandin, after: int) -> bool:
    return any(r["params"].get("first") == ["20"] for r in helix.state(after)["log"] if r["endpoint"] == "videos")


def test_live_offline_then_vod_published_later_moves_chat_exactly(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    poller = start_poller(**LIVE)
    poller.wait_for_log("catalog sync done channel=alice", timeout=30)
    started = int(time.time()) - 600
    helix.go_live("alice", "s100", started, title="evening stream")
    placeholder = placeholder_of("s100")
    assert placeholder.twitch_vod_id == f"live-{started}" and placeholder.live_ended_at is None
    assert placeholder.title == "evening stream" and placeholder.user_id == helix.user_id("alice")
    rows = record_chat(placeholder, 200, "m")

    mark = len(helix.log)
    helix.go_offline("alice")
    poller.wait_for_log("channel went offline", timeout=30)
    wait_until(lambda: reconcile_attempted(helix, mark), timeout=30, what="a reconciliation attempt")
    assert Vod.get_or_none(Vod.id == placeholder.id) is not None, "no VOD yet: the placeholder stays"
    helix.publish_vod("alice", "s100", created_at=started + 4, video_id="90001")  # Twitch's start is 4 s later

    poller.wait_for_log("placeholder reconciled", timeout=30)
    assert Vod.get_or_none(Vod.id == placeholder.id) is None
    real = Vod.get(Vod.twitch_vod_id == "90001")
    assert real.is_placeholder == 0 and real.stream_id == "s100"
    assert_moved(rows, "90001", started + 4)
    assert ChatMessage.select().count() == 200
    _, metrics = poller.http("/metrics")
    assert "vodtender_placeholders_reconciled_total 1.0" in metrics
    assert 'vodtender_channel_live{channel="alice"} 0.0' in metrics
    assert PROMTOOL, "promtool missing: scripts/install-deps installs Debian's prometheus package"
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=metrics, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_vod_that_never_appears_is_reported_and_its_chat_kept(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    poller = start_poller(**{**LIVE, "VOD_RECONCILE_WINDOW": "3s"})
    poller.wait_for_log("catalog sync done channel=alice", timeout=30)
    started = int(time.time()) - 300
    helix.go_live("alice", "s200", started)
    placeholder = placeholder_of("s200")
    record_chat(placeholder, 20, "n")
    helix.go_offline("alice")
    poller.wait_for_log(r"<4>poller: placeholder never reconciled: .* placeholder=live-\d+ stream_id=s200", timeout=40)
    _, metrics = poller.http("/metrics")
    assert "vodtender_placeholders_unreconciled 1.0" in metrics
    assert "vodtender_placeholders_given_up_total 1.0" in metrics
    assert Vod.get(Vod.id == placeholder.id).is_placeholder == 1
    assert ChatMessage.select().where(ChatMessage.vod_id == placeholder.twitch_vod_id).count() == 20
    assert VodEvent.get(VodEvent.vod == placeholder.id).kind == "unreconciled"
    time.sleep(2)
    assert poller.log().count("placeholder never reconciled") == 1, "reported once, not on every attempt"


def test_two_streams_in_one_evening_each_keep_their_own_chat(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    poller = start_poller(**LIVE)
    poller.wait_for_log("catalog sync done channel=alice", timeout=30)
    first_start = int(time.time()) - 3 * 3600
    helix.go_live("alice", "s1", first_start)
    first = placeholder_of("s1")
    first_rows = record_chat(first, 100, "a")
    # The stream restarts between two polls: a new stream id, no offline poll in between.
    second_start = int(time.time()) - 3600
    helix.go_live("alice", "s2", second_start)
    second = placeholder_of("s2")
    assert Vod.get(Vod.id == first.id).live_ended_at is not None
    second_rows = record_chat(second, 100, "b")
    helix.go_offline("alice")
    poller.wait_for_log("channel went offline", timeout=30)
    # The second VOD is published first; the first one carries no stream id (matched by start time).
    helix.publish_vod("alice", "s2", created_at=second_start + 2, video_id="80002")
    helix.publish_vod("alice", None, created_at=first_start + 3, video_id="80001")
    wait_until(
        lambda: Vod.select().where(Vod.is_placeholder == 1).count() == 0,
        timeout=40,
        what="both placeholders reconciled",
    )
    assert_moved(first_rows, "80001", first_start + 3)
    assert_moved(second_rows, "80002", second_start + 2)
    assert ChatMessage.select().count() == 200
    assert poller.log().count("placeholder reconciled") == 2
