"""`vodtender config check` and `vodtender config example`, run as the operator runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import REPO, base_env, run_cli
from vodtender.runtime.config import OPTIONS


def _check(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "etc").mkdir(exist_ok=True)
    return run_cli(tmp_path, "config", "check", *args, env=base_env(tmp_path, **env))


def test_config_check_passes_on_a_complete_configuration(tmp_path: Path) -> None:
    result = _check(tmp_path, TWITCH_CHANNEL="a,b", TWITCH_CLIENT_ID="cid", TWITCH_CLIENT_SECRET="s" * 30)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout
    assert "TWITCH_CHANNEL" in result.stdout and "a,b" in result.stdout


@pytest.mark.parametrize(
    "env,args,expected",
    [
        ({"TWITCH_CLIENT_ID": "cid", "TWITCH_CLIENT_SECRET": "x" * 30}, [], "TWITCH_CHANNEL is not set"),
        (
            {
                "TWITCH_CHANNEL": "a",
                "TWITCH_CLIENT_ID": "cid",
                "TWITCH_CLIENT_SECRET": "x" * 30,
                "CIRCUIT_OPEN_COOLDOWN": "10 minutes",
            },
            [],
            "CIRCUIT_OPEN_COOLDOWN: bad duration '10 minutes'",
        ),
        (
            {"TWITCH_CHANNEL": "a", "TWITCH_CLIENT_ID": "cid", "TWITCH_CLIENT_SECRET": "x" * 30},
            ["--twitch-chanel", "a"],
            "unknown option '--twitch-chanel'",
        ),
        (
            {
                "TWITCH_CHANNEL": "a",
                "TWITCH_CLIENT_ID": "cid",
                "TWITCH_CLIENT_SECRET": "x" * 30,
                "MAX_CONCURRENT_DOWNLOADS": "0",
            },
            [],
            "MAX_CONCURRENT_DOWNLOADS must be at least 1",
        ),
        (
            {
                "TWITCH_CHANNEL": "a",
                "TWITCH_CLIENT_ID": "cid",
                "TWITCH_CLIENT_SECRET": "x" * 30,
                "TWITCH_BOT_USERNAME": "bot",
            },
            [],
            "TWITCH_OAUTH_TOKEN is not set but TWITCH_BOT_USERNAME is",
        ),
    ],
)
def test_config_check_reports_each_problem_on_one_line(tmp_path: Path, env: dict, args: list, expected: str) -> None:
    result = _check(tmp_path, *args, **env)
    assert result.returncode != 0
    problems = [line for line in result.stderr.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1, result.stderr
    assert expected in problems[0]


def test_config_check_never_shows_a_secret(tmp_path: Path) -> None:
    secret = "s3cr3t-client-secret-0123456789"
    token = "oauth:abcdefghijklmnopqrstuvwxyz"
    result = _check(
        tmp_path,
        "--twitch-oauth-token",
        token,
        TWITCH_CHANNEL="a",
        TWITCH_CLIENT_ID="cid",
        TWITCH_CLIENT_SECRET=secret,
        YT_CLIENT_SECRET="yt-secret-abcdefghijkl",
    )
    output = result.stdout + result.stderr
    for value in (secret, token, token[6:], "yt-secret-abcdefghijkl"):
        assert value not in output
    assert "****6789" in output


@pytest.mark.parametrize(
    "dsn", ["postgresql://vt:dsn-pw-5eCr3t-42@127.0.0.1:9/vt", "host=127.0.0.1 port=9 password=dsn-pw-5eCr3t-42"]
)
def test_no_command_shows_the_database_password(tmp_path: Path, dsn: str) -> None:
    (tmp_path / "etc").mkdir(exist_ok=True)
    env = base_env(tmp_path, DB_DSN=dsn, TWITCH_CHANNEL="a")
    for command in (["config", "check"], ["doctor", "--color", "never"], ["status"], ["status", "--json"]):
        result = run_cli(tmp_path, *command, env=env)
        output = result.stdout + result.stderr
        assert "dsn-pw-5eCr3t-42" not in output, f"vodtender {' '.join(command)}: {output}"
    shown = [line for line in run_cli(tmp_path, "config", "check", env=env).stdout.splitlines() if "DB_DSN" in line]
    assert "127.0.0.1" in shown[0] and "****" in shown[0], "the DSN shown, its password masked"


def test_example_config_documents_every_option_and_is_current() -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "vodtender", "config", "example"], capture_output=True, text=True, cwd=REPO, check=True
    ).stdout
    shipped = (REPO / "etc" / "vodtender.conf").read_text()
    assert shipped == generated, "etc/vodtender.conf is stale: run `vodtender config example > etc/vodtender.conf`"
    for o in OPTIONS:
        assert f"#{o.key} =" in shipped and f"env: {o.env}" in shipped
