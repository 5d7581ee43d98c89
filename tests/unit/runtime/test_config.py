"""Configuration: precedence, parsing, secrets, `config check`, the documented example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import REPO, base_env, run_cli
from vodtender.runtime.config import (
    OPTIONS,
    ConfigError,
    format_duration,
    load_config,
    mask,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize("text,seconds", [
    ("30s", 30), ("5m", 300), ("6h", 21600), ("1h30m", 5400), ("2d", 172800), ("250ms", 0.25), ("45", 45),
    (" 10M ", 600),
])
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


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **values: str) -> Path:
    for o in OPTIONS:
        monkeypatch.delenv(o.env, raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    etc = tmp_path / "etc"
    (etc / "conf.d").mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("VODTENDER_CONFIG_DIR", str(etc))
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return etc


def test_precedence_defaults_file_confd_credential_env_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    etc = _env(monkeypatch, tmp_path)
    (etc / "vodtender.conf").write_text(
        "twitch-channel = fromfile\nvod-reconcile-delay = 7m\nchat-auto-poll-interval = 1m\n"
        "twitch-client-secret = file-secret-value\nlog-level = debug\n")
    (etc / "conf.d" / "10-local.conf").write_text("vod-reconcile-delay = 9m\nchat-auto-poll-interval = 2m\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "twitch-client-secret").write_text("credential-secret-value\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("CHAT_AUTO_POLL_INTERVAL", "3m")
    monkeypatch.setenv("LOG_LEVEL", "warning")

    cfg = load_config(["--log-level", "error"])

    assert cfg.problems == []
    assert cfg.vod_catalog_backfill_interval == 6 * 3600          # default
    assert cfg.twitch_channel == ["fromfile"]                     # main config file
    assert cfg.vod_reconcile_delay == 9 * 60                      # conf.d wins over the main file
    assert cfg.twitch_client_secret == "credential-secret-value"  # credential wins over files
    assert cfg.chat_auto_poll_interval == 3 * 60                  # environment wins over files
    assert cfg.log_level == "error"                               # command line wins over all
    assert cfg.sources["log_level"] == "command line"
    assert cfg.sources["chat_auto_poll_interval"] == "environment"
    assert cfg.sources["twitch_client_secret"] == "credential"


def test_channels_are_a_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _env(monkeypatch, tmp_path, TWITCH_CHANNEL="Alpha, #beta,,gamma")
    assert load_config().twitch_channel == ["alpha", "beta", "gamma"]


def test_bad_values_become_problems_not_exceptions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _env(monkeypatch, tmp_path, VOD_RECONCILE_DELAY="soon", MAX_CONCURRENT_DOWNLOADS="many")
    cfg = load_config(["--no-such-option", "1"])
    messages = [str(p) for p in cfg.problems]
    assert any("VOD_RECONCILE_DELAY" in m and "bad duration 'soon'" in m for m in messages)
    assert any("MAX_CONCURRENT_DOWNLOADS" in m for m in messages)
    assert any("unknown option '--no-such-option'" in m for m in messages)
    assert len(messages) == 3  # the unknown option's value is not a problem of its own
    assert cfg.vod_reconcile_delay == 120  # the default stands in, so nothing downstream breaks


def test_mask_shows_at_most_four_characters() -> None:
    assert mask("abcdefghijklmnop") == "****mnop"
    assert mask("short") == "****"
    assert mask("") == ""


def _check(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "etc").mkdir(exist_ok=True)
    return run_cli(tmp_path, "config", "check", *args, env=base_env(tmp_path, **env))


def test_config_check_passes_on_a_complete_configuration(tmp_path: Path) -> None:
    result = _check(tmp_path, TWITCH_CHANNEL="a,b", TWITCH_CLIENT_ID="cid", TWITCH_CLIENT_SECRET="s" * 30)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
    assert "TWITCH_CHANNEL" in result.stdout and "a,b" in result.stdout


@pytest.mark.parametrize("env,args,expected", [
    ({"TWITCH_CLIENT_ID": "cid", "TWITCH_CLIENT_SECRET": "x" * 30}, [], "TWITCH_CHANNEL is not set"),
    ({"TWITCH_CHANNEL": "a", "TWITCH_CLIENT_ID": "cid", "TWITCH_CLIENT_SECRET": "x" * 30,
      "CIRCUIT_OPEN_COOLDOWN": "10 minutes"}, [], "CIRCUIT_OPEN_COOLDOWN: bad duration '10 minutes'"),
    ({"TWITCH_CHANNEL": "a", "TWITCH_CLIENT_ID": "cid", "TWITCH_CLIENT_SECRET": "x" * 30},
     ["--twitch-chanel", "a"], "unknown option '--twitch-chanel'"),
])
def test_config_check_reports_each_problem_on_one_line(tmp_path: Path, env: dict, args: list,
                                                       expected: str) -> None:
    result = _check(tmp_path, *args, **env)
    assert result.returncode != 0
    problems = [line for line in result.stderr.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1, result.stderr
    assert expected in problems[0]


def test_config_check_never_shows_a_secret(tmp_path: Path) -> None:
    secret = "s3cr3t-client-secret-0123456789"
    token = "oauth:abcdefghijklmnopqrstuvwxyz"
    result = _check(tmp_path, "--twitch-oauth-token", token, TWITCH_CHANNEL="a", TWITCH_CLIENT_ID="cid",
                    TWITCH_CLIENT_SECRET=secret, YT_CLIENT_SECRET="yt-secret-abcdefghijkl")
    output = result.stdout + result.stderr
    for value in (secret, token, token[6:], "yt-secret-abcdefghijkl"):
        assert value not in output
    assert "****6789" in output


def test_example_config_documents_every_option_and_is_current() -> None:
    generated = subprocess.run([sys.executable, "-m", "vodtender", "config", "example"], capture_output=True,
                               text=True, cwd=REPO, check=True).stdout
    shipped = (REPO / "etc" / "vodtender.conf").read_text()
    assert shipped == generated, "etc/vodtender.conf is stale: run `vodtender config example > etc/vodtender.conf`"
    for o in OPTIONS:
        assert f"#{o.key} =" in shipped and f"env: {o.env}" in shipped


def test_the_example_config_file_parses_cleanly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    etc = _env(monkeypatch, tmp_path)
    uncommented = "\n".join(line[1:] if line.startswith("#") and " = " in line and not line.startswith("# ")
                            else line for line in (REPO / "etc" / "vodtender.conf").read_text().splitlines())
    (etc / "vodtender.conf").write_text(uncommented)
    assert load_config().problems == []
