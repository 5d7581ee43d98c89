"""Tokens, credentials and rate limits, the poller running as its own process against the stand-in."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import peewee

from tests.helpers.notify import NotifySocket
from tests.helpers.processes import DaemonProcess, wait_until
from tests.standins.helix import HelixStandin, TokenBucket
from vodtender.runtime.models import Vod


def test_bucket_never_exceeded_and_a_forced_429_is_waited_out_until_reset(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.bucket = TokenBucket(limit=5, window=1.0)  # 5 points a second: pacing is needed at once
    for login in ("alice", "bob", "carol"):
        helix.add_user(login)
        helix.add_videos(login, 800)
    poller = start_poller("alice,bob,carol", CHAT_AUTO_START="1", CHAT_AUTO_POLL_INTERVAL="1s")
    wait_until(lambda: helix.requests_to("videos"), timeout=30, what="the first videos page")
    helix.force_429()
    for login in ("alice", "bob", "carol"):
        poller.wait_for_log(f"catalog sync done channel={login} listed=800 new=800", timeout=90)
    assert Vod.select().count() == 2400
    assert helix.violations == 0, "the client must never find the bucket empty"
    log = helix.state()["log"]
    limited = [n for n, r in enumerate(log) if r["status"] == 429]
    assert len(limited) == 1
    reset = log[limited[0]]["reset"]
    following = [r for r in log[limited[0] + 1 :] if r["endpoint"] != "token"]
    assert following and following[0]["at"] >= reset, "the next request must wait until Ratelimit-Reset"
    _status, metrics = poller.http("/metrics")
    assert "vodtender_helix_ratelimit_remaining " in metrics
    assert (
        'vodtender_helix_requests_total{endpoint="videos",status="429"} 1.0' in metrics
        or 'vodtender_helix_requests_total{endpoint="streams",status="429"} 1.0' in metrics
    )


def test_an_expired_token_is_replaced_once(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    helix.add_videos("alice", 400)
    helix.set_delay("videos", 0.2)
    poller = start_poller()
    wait_until(lambda: helix.requests_to("videos"), timeout=30, what="the first videos page")
    helix.expire_tokens()
    poller.wait_for_log("catalog sync done channel=alice listed=400 new=400", timeout=60)
    assert helix.token_requests == 2
    assert [r["status"] for r in helix.state()["log"]].count(401) == 1
    log = poller.log()
    assert log.count("helix token refused, fetching a new one") == 1
    assert log.count("helix app token obtained token=****") == 2
    for token in helix.tokens:
        assert token not in log, "the token must be logged masked only"
    assert helix.client_secret not in log


def test_a_token_refused_right_after_refresh_is_not_fetched_in_a_loop(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    helix.add_videos("alice", 10)
    helix.reject_tokens()
    poller = start_poller()
    poller.wait_for_log("helix credentials rejected", timeout=30)
    status, body = poller.http("/readyz")
    assert status == 503 and "Helix credentials rejected: a freshly issued token was refused" in body
    assert helix.token_requests == 2, "one token, one replacement, then back off"
    helix.reject_tokens(False)
    poller.wait_for_log("catalog sync done channel=alice listed=10 new=10", timeout=60)
    assert "helix credentials accepted again" in poller.log()
    assert poller.wait_http("/readyz")[0] == 200


def test_bad_credentials_give_a_clear_status_and_backoff_not_a_crash(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    helix.add_user("alice")
    helix.add_videos("alice", 10)
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        poller = start_poller(TWITCH_CLIENT_SECRET="wrong-secret-abcdefgh", NOTIFY_SOCKET=str(notify.path))
        poller.wait_for_log("helix credentials rejected", timeout=30)
        status, body = poller.http("/readyz")
        assert status == 503
        assert "Helix credentials rejected: client id/secret rejected by the token endpoint: HTTP 403" in body
        wait_until(
            lambda: any("Helix credentials rejected" in s for s in notify.lines("STATUS=")),
            timeout=15,
            what="STATUS= naming the problem",
        )
        assert poller.proc.poll() is None
        assert "wrong-secret-abcdefgh" not in poller.log()
        assert helix.token_requests <= 3, "retries back off"
        helix.set_client_secret("wrong-secret-abcdefgh")  # the operator fixes it on Twitch's side
        poller.wait_for_log("catalog sync done channel=alice listed=10 new=10", timeout=60)
        assert poller.wait_http("/readyz")[0] == 200
    finally:
        notify.close()


def test_without_credentials_the_poller_is_idle_and_says_why(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    poller = start_poller(TWITCH_CLIENT_ID="", TWITCH_CLIENT_SECRET="")
    poller.wait_for_log("poller idle: configuration incomplete", timeout=30)
    status, body = poller.wait_http("/readyz")
    assert status == 503 and "TWITCH_CLIENT_ID is not set" in body
    assert poller.proc.poll() is None and helix.state()["requests"] == 0


def test_two_pollers_on_one_database_share_the_bucket(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    """Two hosts' pollers on one client id: the shared bucket row keeps them inside Twitch's limit together."""
    helix.bucket = TokenBucket(limit=5, window=1.0)
    for login in ("alice", "bob"):
        helix.add_user(login)
        helix.add_videos(login, 300)
    first, second = start_poller("alice,bob"), start_poller("alice,bob")
    for login in ("alice", "bob"):
        wait_until(
            lambda login=login: f"catalog sync done channel={login} listed=300" in first.log() + second.log(),
            timeout=120,
            what=f"{login}'s catalog synced",
        )
    assert Vod.select().count() == 600
    assert helix.violations == 0, "two pollers together must never find the bucket empty"


def test_after_a_429_no_request_of_any_job_or_poller_leaves_before_the_reset(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    """Catalog pages, live polls and reconciliation all due at once: from a 429 until its
    Ratelimit-Reset (6 s ahead) Twitch sees nothing from the poller it answered, nor any Helix
    request from a second poller started meanwhile on the same database (the shared bucket)."""
    helix.bucket = TokenBucket(limit=60, window=6.0)  # the forced 429's reset lies 6 s ahead
    for login in ("alice", "bob"):
        helix.add_user(login)
        helix.add_videos(login, 2000)
    live = {
        "CHAT_AUTO_START": "1",
        "CHAT_AUTO_POLL_INTERVAL": "1s",
        "VOD_RECONCILE_DELAY": "1s",
        "VOD_RECONCILE_WINDOW": "60s",
        "VOD_CATALOG_BACKFILL_INTERVAL": "1s",
    }
    first = start_poller("alice,bob", **live)
    helix.go_live("alice", "s1", int(time.time()) - 600)
    wait_until(lambda: Vod.get_or_none(Vod.is_placeholder == 1), timeout=30, what="alice's live placeholder")
    helix.go_offline("alice")  # reconciliation starts looking for the stream's VOD
    wait_until(
        lambda: any(r["params"].get("first") == ["20"] for r in helix.requests_to("videos")),
        timeout=30,
        what="a reconciliation attempt",
    )
    helix.force_429()
    limited = wait_until(
        lambda: next((r for r in helix.state()["log"] if r["status"] == 429), None), timeout=15, what="the 429"
    )
    second = start_poller("alice,bob", **live)  # another host's poller, knowing of no 429 itself
    reset = limited["reset"]
    assert reset - limited["at"] >= 5, "the stand-in's reset lies seconds ahead"
    wait_until(lambda: time.time() > reset + 3, timeout=20, what="the reset to pass")
    after = [r for r in helix.state()["log"] if r["at"] > limited["at"]]
    early = [r for r in after if r["at"] < reset]
    assert any(r["endpoint"] == "token" for r in early), "the second poller was up inside the window"
    inside = [f"{r['endpoint']} at reset-{reset - r['at']:.2f}s" for r in early if r["endpoint"] != "token"]
    assert not inside, f"Helix requests inside the 429 window: {inside}"
    assert not [r for r in early if r.get("token") == limited["token"]], "nothing at all from the poller told"
    wait_until(
        lambda: len({r["token"] for r in helix.requests_to("videos") if r["at"] >= reset}) == 2,
        timeout=30,
        what="both pollers' catalog going on after the reset",
    )
    assert helix.violations == 0
    assert first.proc.poll() is None and second.proc.poll() is None
