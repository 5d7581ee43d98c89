"""What each daemon needs from the configuration: one table, one problem line per unmet need."""

from __future__ import annotations

from pathlib import Path

from tests.unit.runtime.conftest import ConfigEnv
from vodtender.runtime.config import Config, load_config

COMPLETE = {"TWITCH_CHANNEL": "a", "TWITCH_CLIENT_ID": "cid", "TWITCH_CLIENT_SECRET": "x" * 30}


def lines(problems: list) -> list[str]:
    return [str(p) for p in problems]


def complete(config_env: ConfigEnv, **extra: str) -> Config:
    config_env(**{**COMPLETE, **extra})
    return load_config()


def test_a_complete_configuration_leaves_no_daemon_idle_or_disabled(config_env: ConfigEnv) -> None:
    cfg = complete(config_env)
    assert cfg.all_problems() == []
    for name in ("poller", "downloader", "uploader", "chat", "recorder", "web"):
        assert cfg.problems_for_daemon(name) == []
    assert cfg.disabled_reason("chat") is None


def test_a_range_violation_is_one_problem_line_naming_the_option(config_env: ConfigEnv) -> None:
    cfg = complete(config_env, MAX_CONCURRENT_DOWNLOADS="0")
    assert cfg.problems == []  # a value out of range parses: only the daemon that uses it is idle
    problems = cfg.problems_for_daemon("downloader")
    assert lines(problems) == ["MAX_CONCURRENT_DOWNLOADS must be at least 1"]
    assert problems[0].env == "MAX_CONCURRENT_DOWNLOADS"
    assert cfg.problems_for_daemon("poller") == [] and cfg.all_problems() == problems


def test_the_downloader_needs_an_id_in_the_vod_url_and_positive_counts(config_env: ConfigEnv) -> None:
    cfg = complete(
        config_env,
        TWITCH_VOD_URL_TEMPLATE="https://example.invalid/v",
        DOWNLOAD_MAX_ATTEMPTS="-1",
        DOWNLOAD_FRAGMENT_CONCURRENCY="0",
    )
    assert lines(cfg.problems_for_daemon("downloader")) == [
        "TWITCH_VOD_URL_TEMPLATE must contain {id}",
        "DOWNLOAD_FRAGMENT_CONCURRENCY must be at least 1",
        "DOWNLOAD_MAX_ATTEMPTS must be at least 1",
    ]


def test_the_poller_needs_channels_and_a_helix_application(config_env: ConfigEnv) -> None:
    config_env(TWITCH_CLIENT_ID="cid")
    cfg = load_config()
    assert lines(cfg.problems_for_daemon("poller")) == [
        "TWITCH_CHANNEL is not set: no channel to archive",
        "TWITCH_CLIENT_SECRET is not set: Helix needs a Twitch application's client id and secret",
    ]
    assert cfg.problems_for_daemon("downloader") == [] and cfg.problems_for_daemon("uploader") == []


def test_parse_problems_idle_the_daemons_of_their_section_only(config_env: ConfigEnv) -> None:
    cfg = complete(config_env, UPLOAD_TIMEOUT="soon", HEARTBEAT_INTERVAL="often")
    heartbeat, upload = (
        f"{env}: bad duration {value!r} (use e.g. 30s, 5m, 6h, 1h30m) (from environment)"
        for env, value in (("HEARTBEAT_INTERVAL", "often"), ("UPLOAD_TIMEOUT", "soon"))
    )
    assert lines(cfg.problems_for_daemon("uploader")) == [heartbeat, upload]
    assert lines(cfg.problems_for_daemon("poller")) == [heartbeat]


def test_youtube_needs_both_credentials_or_neither(config_env: ConfigEnv) -> None:
    cfg = complete(config_env, YT_CLIENT_SECRET="s" * 20)
    assert lines(cfg.problems_for_daemon("uploader")) == [
        "YT_CLIENT_ID is not set: YouTube uploads need both YT_CLIENT_ID and YT_CLIENT_SECRET "
        "(or neither, for download-only)"
    ]
    assert complete(config_env, YT_CLIENT_ID="id", YT_CLIENT_SECRET="s" * 20).problems_for_daemon("uploader") == []


def test_chat_runs_disabled_instead_of_idle_and_config_check_still_reports_why(config_env: ConfigEnv) -> None:
    cfg = complete(config_env, TWITCH_BOT_USERNAME="bot")
    login = (
        "TWITCH_OAUTH_TOKEN is not set but TWITCH_BOT_USERNAME is: set both, or neither for anonymous read-only chat"
    )
    assert cfg.problems_for_daemon("chat") == []
    assert str(cfg.disabled_reason("chat")) == login
    assert lines(cfg.all_problems()) == [login]


def test_chat_switched_off_is_a_reason_but_no_problem(config_env: ConfigEnv) -> None:
    cfg = complete(config_env, CHAT_AUTO_START="0", TWITCH_BOT_USERNAME="bot")
    reason = cfg.disabled_reason("chat")
    assert reason is not None and (str(reason), reason.env) == ("CHAT_AUTO_START is 0", "CHAT_AUTO_START")
    assert lines(cfg.all_problems()) == [
        "TWITCH_OAUTH_TOKEN is not set but TWITCH_BOT_USERNAME is: set both, or neither for anonymous read-only chat"
    ]


def test_config_check_reports_each_unmet_need_once_after_the_parse_problems(config_env: ConfigEnv) -> None:
    config_env(VOD_RECONCILE_DELAY="soon", MAX_CONCURRENT_DOWNLOADS="0", YT_CLIENT_ID="id")
    cfg = load_config()
    assert [p.env for p in cfg.all_problems()] == [
        "VOD_RECONCILE_DELAY",
        "TWITCH_CHANNEL",
        "TWITCH_CLIENT_ID",
        "TWITCH_CLIENT_SECRET",
        "MAX_CONCURRENT_DOWNLOADS",
        "YT_CLIENT_SECRET",
    ]
    assert cfg.disabled_reason("chat") == cfg.all_problems()[1]


def test_each_daemon_has_its_http_address(config_env: ConfigEnv) -> None:
    config_env(CHAT_HTTP_ADDR="[::1]:9000")
    cfg = load_config()
    assert cfg.http_addr_for("poller") == ("127.0.0.1", 9741)
    assert cfg.http_addr_for("downloader") == ("127.0.0.1", 9742)
    assert cfg.http_addr_for("uploader") == ("127.0.0.1", 9743)
    assert cfg.http_addr_for("chat") == ("::1", 9000)
    assert cfg.http_addr_for("recorder") == ("127.0.0.1", 9745)
    assert cfg.http_addr_for("maintenance") is None


def test_the_recorder_idles_ready_without_live_record_and_is_no_problem(config_env: ConfigEnv) -> None:
    cfg = complete(config_env)
    reason = cfg.disabled_reason("recorder")
    assert reason is not None and (str(reason), reason.env) == ("LIVE_RECORD is empty", "LIVE_RECORD")
    assert cfg.problems_for_daemon("recorder") == [] and cfg.all_problems() == []
    assert complete(config_env, LIVE_RECORD="a").disabled_reason("recorder") is None


def test_the_recorder_needs_a_channel_in_the_live_url_and_at_least_one_recording(config_env: ConfigEnv) -> None:
    cfg = complete(
        config_env, LIVE_RECORD="all", TWITCH_LIVE_URL_TEMPLATE="https://example.invalid/live", LIVE_RECORD_MAX="0"
    )
    assert lines(cfg.problems_for_daemon("recorder")) == [
        "TWITCH_LIVE_URL_TEMPLATE must contain {channel}",
        "LIVE_RECORD_MAX must be at least 1",
    ]
    assert cfg.problems_for_daemon("downloader") == []  # a setting of the recorder idles the recorder only
    fragments = complete(config_env, LIVE_RECORD="all", DOWNLOAD_FRAGMENT_CONCURRENCY="0")
    assert lines(fragments.problems_for_daemon("recorder")) == ["DOWNLOAD_FRAGMENT_CONCURRENCY must be at least 1"]


def test_the_web_viewer_serves_beyond_loopback_only_with_sign_in(config_env: ConfigEnv, tmp_path: Path) -> None:
    assert complete(config_env).http_addr_for("web") == ("127.0.0.1", 9746)
    assert complete(config_env, WEB_ADDR="[::1]:9746").problems_for_daemon("web") == []
    open_to_all = complete(config_env, WEB_ADDR="0.0.0.0:9746")
    assert lines(open_to_all.problems_for_daemon("web")) == [
        "WEB_ADDR 0.0.0.0:9746 is not a loopback address: set WEB_AUTH (an htpasswd file, or token) to serve it, "
        "or use 127.0.0.1"
    ]
    assert open_to_all.problems_for_daemon("poller") == []  # only the viewer idles
    signed_in = complete(config_env, WEB_ADDR="0.0.0.0:9746", WEB_AUTH=str(tmp_path / "htpasswd"))
    assert signed_in.problems_for_daemon("web") == []
    tokenless = complete(config_env, WEB_AUTH="token")
    assert lines(tokenless.problems_for_daemon("web")) == [
        "WEB_AUTH=token but WEB_TOKEN (credential web-token) is not set"
    ]
    assert complete(config_env, WEB_AUTH="token", WEB_TOKEN="s3cret-token-value").problems_for_daemon("web") == []
