"""`vodtender status` against a database in a known state: counts, flags, schema, exit status."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import peewee
import pytest

from tests.unit.ops.fixtures import (
    AD_GAP,
    CHANNEL,
    EXPECTED_QUEUE,
    GIB,
    LIVE_STREAM,
    heartbeat,
    populate_every_state,
    vod,
)
from tests.unit.ops.schema_subset import load_schema, validate
from vodtender.ops.status import gather_status, iso
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.kv import kv_set
from vodtender.runtime.config import Config, load_config
from vodtender.runtime.models import ChatGap, DaemonHeartbeat, OAuthToken, Recording, Vod, utcnow

SCHEMA = load_schema("status.schema.json")


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("VODTENDER_CONFIG_DIR", str(tmp_path / "etc"))
    return load_config(
        [
            "--twitch-channel",
            CHANNEL,
            "--data-dir",
            str(tmp_path / "data"),
            "--download-min-free",
            "0",
            "--yt-client-id",
            "cid",
            "--yt-client-secret",
            "secret-secret",
        ]
    )


@pytest.fixture
def now(migrated_db: peewee.Database) -> dt.datetime:
    now = utcnow()
    populate_every_state(now)
    return now


def problems(report: dict) -> list[str]:
    return [f["message"] for f in report["attention"] if f["level"] == "problem"]


def test_counts_every_stage_and_all_is_well(cfg: Config, now: dt.datetime) -> None:
    report = gather_status(cfg, now)
    assert validate(report, SCHEMA) == []
    assert report["queue"] == EXPECTED_QUEUE
    assert report["ok"], problems(report)
    assert [d["state"] for d in report["daemons"]] == ["up"] * 6
    assert report["breaker"]["state"] == "closed"
    # failed VODs are shown, but do not page anyone
    assert [f["level"] for f in report["attention"]] == ["warning"]
    assert "2 VOD(s) failed" in report["attention"][0]["message"]


def test_in_flight_shows_progress_speed_and_eta(cfg: Config, now: dt.datetime) -> None:
    flights = {f["twitch_vod_id"]: f for f in gather_status(cfg, now)["in_flight"]}
    down, up = flights["1003"], flights["1005"]
    assert (down["stage"], down["percent"], down["bytes_total"]) == ("downloading", 25.0, 4 * GIB)
    assert down["speed_bytes_per_second"] == 10 * 2**20
    assert down["eta_seconds"] == 3 * GIB // (10 * 2**20)  # 3 GiB left at 10 MiB/s
    assert not down["stalled"] and not down["lease_expired"]
    assert (up["stage"], up["percent"]) == ("uploading", 50.0)


def test_in_flight_shows_what_the_download_got_codec_resolution_and_gaps(cfg: Config, now: dt.datetime) -> None:
    gaps = '[{"offset": 3723, "duration": 10, "segments": [372]}]'
    Vod.update(download_gaps=gaps, video_codec="h265", video_resolution="1920x1080").where(
        Vod.twitch_vod_id == "1005"
    ).execute()
    Vod.update(download_gaps="{garbage").where(Vod.twitch_vod_id == "1003").execute()
    report = gather_status(cfg, now)
    assert validate(report, SCHEMA) == []
    flights = {f["twitch_vod_id"]: f for f in report["in_flight"]}
    up, down = flights["1005"], flights["1003"]
    assert (up["video_codec"], up["video_resolution"]) == ("h265", "1920x1080")
    assert up["download_gaps"] == [{"offset": 3723.0, "duration": 10.0, "segments": [372]}]
    assert (down["video_codec"], down["video_resolution"], down["download_gaps"]) == (None, None, [])
    up["download_gaps"][0]["segments"] = [-1]
    assert len(validate(report, SCHEMA)) == 1


def test_chat_catalog_youtube_and_disk(cfg: Config, now: dt.datetime) -> None:
    report = gather_status(cfg, now)
    (chat,) = report["chat"]
    assert (chat["channel"], chat["connected"], chat["last_gap"]["reason"]) == (CHANNEL, True, "RECONNECT")
    assert chat["messages_last_minute"] == 5 and chat["last_gap"]["seconds"] == 2.0
    (catalog,) = report["catalog"]
    assert catalog["age_seconds"] == 300.0 and catalog["unreconciled_placeholders"] == []
    token = report["youtube"]["token"]
    assert token["has_refresh_token"] and 2390 <= token["expires_in_seconds"] <= 2400
    assert report["disk"]["free_bytes"] > 0


def test_stale_heartbeat_is_a_down_daemon(cfg: Config, now: dt.datetime) -> None:
    DaemonHeartbeat.update(updated_at=now - dt.timedelta(minutes=5)).where(
        DaemonHeartbeat.daemon == "downloader"
    ).execute()
    report = gather_status(cfg, now)
    assert {d["name"]: d["state"] for d in report["daemons"]}["downloader"] == "down"
    assert not report["ok"] and any("downloader is down" in p for p in problems(report))
    assert validate(report, SCHEMA) == []


def test_a_restarted_daemon_with_an_old_stale_row_is_up(cfg: Config, now: dt.datetime) -> None:
    heartbeat("downloader", now, age=3600, pid=7)  # the killed predecessor's row
    report = gather_status(cfg, now)
    assert {d["name"]: d["state"] for d in report["daemons"]}["downloader"] == "up"
    assert report["ok"]


def test_idle_daemon_needs_attention(cfg: Config, now: dt.datetime) -> None:
    DaemonHeartbeat.update(ready=0, status="idle: TWITCH_CHANNEL is not set").where(
        DaemonHeartbeat.daemon == "chat"
    ).execute()
    report = gather_status(cfg, now)
    assert any("chat is idle: idle: TWITCH_CHANNEL" in p for p in problems(report))


def test_open_breaker_needs_attention(cfg: Config, now: dt.datetime) -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=600)
    breaker.record_failure("disk full")
    breaker.record_failure("disk full")
    report = gather_status(cfg, now)
    assert report["breaker"]["state"] == "open" and report["breaker"]["failures"] == 2
    assert not report["ok"] and any("circuit breaker open" in p for p in problems(report))
    assert validate(report, SCHEMA) == []


def test_stalled_download_is_flagged(cfg: Config, now: dt.datetime) -> None:
    Vod.update(progress_updated_at=now - dt.timedelta(minutes=20)).where(Vod.twitch_vod_id == "1003").execute()
    report = gather_status(cfg, now)
    assert report["in_flight"][0]["stalled"]
    assert any("1003 has made no progress" in p for p in problems(report))


def test_placeholder_that_never_reconciles_is_flagged(cfg: Config, now: dt.datetime) -> None:
    vod("live-1", 20, is_placeholder=1, live_ended_at=now - dt.timedelta(minutes=30))
    report = gather_status(cfg, now)
    assert report["catalog"][0]["unreconciled_placeholders"] == ["live-1"]
    assert any("never matched a VOD" in p for p in problems(report))


def test_chat_disconnected_for_long_is_flagged(cfg: Config, now: dt.datetime) -> None:
    unix = now.replace(tzinfo=dt.UTC).timestamp()
    ChatGap.create(channel=CHANNEL, started_at=unix - 600, ended_at=None, reason="connection refused")
    report = gather_status(cfg, now)
    assert report["chat"][0]["connected"] is False
    assert any("chat not recorded since" in p for p in problems(report))


def test_refused_youtube_token_is_flagged(cfg: Config, now: dt.datetime) -> None:
    OAuthToken.update(invalid_reason="invalid_grant").execute()
    report = gather_status(cfg, now)
    assert any("vodtender auth youtube" in p for p in problems(report))
    assert validate(report, SCHEMA) == []


def test_schema_rejects_a_wrong_report(cfg: Config, now: dt.datetime) -> None:
    report = gather_status(cfg, now)
    report["queue"]["done"] = -1
    del report["breaker"]["state"]
    assert len(validate(report, SCHEMA)) == 2


def test_chat_switched_off_is_a_warning_not_recording(cfg: Config, now: dt.datetime) -> None:
    DaemonHeartbeat.update(status="chat recorder disabled: CHAT_AUTO_START is 0").where(
        DaemonHeartbeat.daemon == "chat"
    ).execute()
    report = gather_status(cfg, now)
    assert report["chat"][0]["connected"] is False and report["ok"]
    assert any("chat recorder disabled" in f["message"] and f["level"] == "warning" for f in report["attention"])


def test_maintenance_results_are_reported(cfg: Config, now: dt.datetime) -> None:
    kv_set("maintenance_last_run", iso(now - dt.timedelta(days=4)))
    kv_set("maintenance_integrity", "failed: row 7 missing from index vods_channel")
    report = gather_status(cfg, now)
    assert report["maintenance"]["integrity"].startswith("failed")
    assert any("integrity check failed" in p for p in problems(report))
    assert any("maintenance last ran" in f["message"] for f in report["attention"] if f["level"] == "warning")
    assert validate(report, SCHEMA) == []


# -- live recordings ---------------------------------------------------------------------------------
def recording_cfg(tmp_path: Path, live_record: str) -> Config:
    return load_config(["--twitch-channel", CHANNEL, "--data-dir", str(tmp_path / "data"), "--download-min-free",
                        "0", "--live-record", live_record])  # fmt: skip


def test_a_live_recording_is_listed_with_its_duration_size_gaps_and_ads(cfg: Config, now: dt.datetime) -> None:
    report = gather_status(cfg, now)
    assert validate(report, SCHEMA) == []
    (rec,) = report["recordings"]
    assert (rec["channel"], rec["stream_id"], rec["source"], rec["state"], rec["live"]) == (
        CHANNEL,
        LIVE_STREAM,
        "live",
        "recording",
        True,
    )
    assert (rec["duration_seconds"], rec["size_bytes"], rec["ads_dropped_seconds"]) == (570.0, GIB // 2, 30.0)
    assert rec["gaps"] == [AD_GAP] and rec["gap_seconds"] == 30.0
    assert rec["started_at"] == iso(now - dt.timedelta(minutes=10)) and rec["path"].endswith(".recording/s1.part")


def test_a_live_recording_without_progress_needs_attention(cfg: Config, now: dt.datetime) -> None:
    Recording.update(updated_at=now - dt.timedelta(minutes=10)).execute()
    assert any(
        f"live recording of {CHANNEL} (stream s1) has made no progress" in p for p in problems(gather_status(cfg, now))
    )
    Vod.update(live_ended_at=now).where(Vod.stream_id == LIVE_STREAM).execute()  # ended: its part waits, no alarm
    report = gather_status(cfg, now)
    assert report["recordings"][0]["live"] is False and report["ok"]


def test_a_wanted_live_stream_nobody_records_needs_attention(tmp_path: Path, now: dt.datetime) -> None:
    vod("live-2", 27, channel="beta", is_placeholder=1, stream_id="s2", created_at=now - dt.timedelta(minutes=6))
    vod("live-3", 27, channel="gamma", is_placeholder=1, stream_id="s3", created_at=now - dt.timedelta(minutes=1))
    assert problems(gather_status(recording_cfg(tmp_path, "all"), now)) == [
        "beta is live (stream s2) but not being recorded: systemctl status vodtender-recorder"
    ]  # gamma went live a minute ago: the recorder has not had its chance yet
    assert problems(gather_status(recording_cfg(tmp_path, "gamma"), now)) == []
    assert gather_status(recording_cfg(tmp_path, ""), now)["ok"]  # nothing is to be recorded


def test_a_failed_recording_is_a_warning(cfg: Config, now: dt.datetime) -> None:
    Recording.update(state="failed", error="the live playlist was refused (403)").execute()
    report = gather_status(cfg, now)
    assert report["ok"] and validate(report, SCHEMA) == []
    warnings = [f["message"] for f in report["attention"] if f["area"] == "recordings"]
    assert warnings == [f"live recording of {CHANNEL} (stream s1) failed: the live playlist was refused (403)"]


def test_the_recorder_down_is_a_problem_only_when_live_record_names_channels(tmp_path: Path, now: dt.datetime) -> None:
    DaemonHeartbeat.delete().where(DaemonHeartbeat.daemon == "recorder").execute()
    unused = gather_status(recording_cfg(tmp_path, ""), now)
    assert unused["ok"] and any("recorder is down" in f["message"] for f in unused["attention"])
    assert any("recorder is down" in p for p in problems(gather_status(recording_cfg(tmp_path, CHANNEL), now)))


def test_the_web_viewer_down_is_a_warning_only(tmp_path: Path, now: dt.datetime) -> None:
    DaemonHeartbeat.delete().where(DaemonHeartbeat.daemon == "web").execute()
    report = gather_status(recording_cfg(tmp_path, ""), now)
    assert report["ok"] and validate(report, SCHEMA) == []
    assert [f["level"] for f in report["attention"] if "web is down" in f["message"]] == ["warning"]
