"""Configuration: precedence, parsing, secrets, the documented example (`config check` itself:
tests/integration/runtime/test_config_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.processes import REPO
from tests.unit.runtime.conftest import ConfigEnv
from vodtender.runtime.config import (
    ConfigError,
    format_duration,
    load_config,
    mask,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("30s", 30),
        ("5m", 300),
        ("6h", 21600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("250ms", 0.25),
        ("45", 45),
        (" 10M ", 600),
    ],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "m", "1h 30m", "-5s", "five minutes"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="bad duration"):
        parse_duration(text)


def test_duration_round_trips_for_display() -> None:
    for text in ("30s", "5m", "6h", "1h30m", "2d"):
        assert format_duration(parse_duration(text)) == text


def test_sizes_parse() -> None:
    assert parse_size("500M") == 500 * 1024**2
    assert parse_size("10G") == 10 * 1024**3
    with pytest.raises(ConfigError):
        parse_size("ten gigs")


def test_precedence_defaults_file_confd_credential_env_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config_env: ConfigEnv
) -> None:
    etc = config_env()
    (etc / "vodtender.conf").write_text(
        "twitch-channel = fromfile\nvod-reconcile-delay = 7m\nchat-auto-poll-interval = 1m\n"
        "twitch-client-secret = file-secret-value\nlog-level = debug\n"
    )
    (etc / "conf.d" / "10-local.conf").write_text("vod-reconcile-delay = 9m\nchat-auto-poll-interval = 2m\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "twitch-client-secret").write_text("credential-secret-value\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("CHAT_AUTO_POLL_INTERVAL", "3m")
    monkeypatch.setenv("LOG_LEVEL", "warning")

    cfg = load_config(["--log-level", "error"])

    assert cfg.problems == []
    assert cfg.vod_catalog_backfill_interval == 6 * 3600  # default
    assert cfg.twitch_channel == ["fromfile"]  # main config file
    assert cfg.vod_reconcile_delay == 9 * 60  # conf.d wins over the main file
    assert cfg.twitch_client_secret == "credential-secret-value"  # credential wins over files
    assert cfg.chat_auto_poll_interval == 3 * 60  # environment wins over files
    assert cfg.log_level == "error"  # command line wins over all
    assert cfg.sources["log_level"] == "command line"
    assert cfg.sources["chat_auto_poll_interval"] == "environment"
    assert cfg.sources["twitch_client_secret"] == "credential"
    assert cfg.sources["vod_reconcile_delay"] == f"config file {etc / 'conf.d' / '10-local.conf'}"


def test_channels_are_a_list(config_env: ConfigEnv) -> None:
    config_env(TWITCH_CHANNEL="Alpha, #beta,,gamma")
    assert load_config().twitch_channel == ["alpha", "beta", "gamma"]


def test_bad_values_become_problems_not_exceptions(config_env: ConfigEnv) -> None:
    config_env(VOD_RECONCILE_DELAY="soon", MAX_CONCURRENT_DOWNLOADS="many")
    cfg = load_config(["--no-such-option", "1"])
    messages = [str(p) for p in cfg.problems]
    assert any("VOD_RECONCILE_DELAY" in m and "bad duration 'soon'" in m for m in messages)
    assert any("MAX_CONCURRENT_DOWNLOADS" in m for m in messages)
    assert any("unknown option '--no-such-option'" in m for m in messages)
    assert len(messages) == 3  # the unknown option's value is not a problem of its own
    assert cfg.vod_reconcile_delay == 120  # the default stands in, so nothing downstream breaks


def test_the_command_line_s_own_problems_are_told_apart_from_the_other_layers(config_env: ConfigEnv) -> None:
    (config_env(VOD_RECONCILE_DELAY="soon") / "vodtender.conf").write_text("no-such-key = 1\n")
    flags = ["--twitch-chanel=foo", "--twitch-chan", "x", "--download-timeout", "never"]
    cfg = load_config([*flags, "--twitch-vod-url-template", "http://vods/"])
    assert [str(p) for p in cfg.command_line_problems(["downloader"])] == [
        "unknown option '--twitch-chanel': the known ones are listed in etc/vodtender.conf and by "
        "`vodtender config check`",  # `=value` or not, a flag is the command line's, not a config file's
        "unknown option '--twitch-chan': the known ones are listed in etc/vodtender.conf and by "
        "`vodtender config check`",  # an abbreviation is no flag
        "--download-timeout: bad duration 'never' (use e.g. 30s, 5m, 6h, 1h30m) (from command line)",
        "TWITCH_VOD_URL_TEMPLATE must contain {id}",  # a value given as a flag that idles the downloader
    ]
    others = [str(p) for p in cfg.problems if not cfg.from_command_line(p)]
    assert (
        len(others) == 2 and "(key 'no-such-key' in a config file)" in others[0] and "(from environment)" in others[1]
    )
    assert load_config(["--twitch-channel"]).command_line_problems([]) != []  # a flag without its value
    assert (
        load_config(["--twitch-channel", "a"]).command_line_problems(["poller"]) == []
    )  # no Twitch app: not the flag's


def test_mask_shows_at_most_four_characters() -> None:
    assert mask("abcdefghijklmnop") == "****mnop"
    assert mask("short") == "****"
    assert mask("") == ""


def test_the_example_config_file_parses_cleanly(config_env: ConfigEnv) -> None:
    etc = config_env()
    uncommented = "\n".join(
        line[1:] if line.startswith("#") and " = " in line and not line.startswith("# ") else line
        for line in (REPO / "etc" / "vodtender.conf").read_text().splitlines()
    )
    (etc / "vodtender.conf").write_text(uncommented)
    assert load_config().problems == []
