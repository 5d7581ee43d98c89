"""What the operator's commands print, run as the operator runs them: in a checkout, on a terminal,
in colour, with a typo (issue 17's polish)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import base_env, run_cli
from tests.unit.ops.fixtures import heartbeat, populate_every_state
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import DaemonHeartbeat, utcnow

ANSI = re.compile(r"\033\[[0-9;]*m")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A checkout's archive: a SQLite database with every VOD state, no installation."""
    (tmp_path / "etc").mkdir()
    db = open_database(str(tmp_path / "vodtender.db"))
    migrate(db)
    populate_every_state(utcnow())
    db.close()
    return base_env(tmp_path, DB_DSN=str(tmp_path / "vodtender.db"))


@pytest.mark.parametrize("group, words", [("circuit", "{reset,status}"), ("db", "{migrate,copy}")])
def test_a_command_group_alone_names_its_subcommands(tmp_path: Path, group: str, words: str) -> None:
    (tmp_path / "etc").mkdir()
    result = run_cli(tmp_path, group)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"vodtender {group}: error: the following arguments are required: {words}"


def test_status_in_a_checkout_keeps_its_columns_in_colour_and_points_at_vodtender_run(
    tmp_path: Path, env: dict[str, str]
) -> None:
    open_database(env["DB_DSN"])
    DaemonHeartbeat.delete().where(DaemonHeartbeat.daemon.in_(["uploader", "recorder"])).execute()
    heartbeat("chat", utcnow(), ready=0)
    DaemonHeartbeat.update(status="idle: TWITCH_CHANNEL is not set").where(DaemonHeartbeat.daemon == "chat").execute()
    plain = run_cli(tmp_path, "status", "--color", "never", env=env)
    coloured = run_cli(tmp_path, "status", "--color", "always", env=env)
    assert ANSI.search(coloured.stdout)
    digits = re.compile(r"(\d+[dhms])+ ago|\d+")  # the clock and the ages (59s, 1m) move between the two runs
    assert digits.sub("0", ANSI.sub("", coloured.stdout)) == digits.sub("0", plain.stdout)  # `up` padded as `down`
    assert "chat is idle: TWITCH_CHANNEL is not set" in plain.stdout and "idle: idle" not in plain.stdout
    assert "uploader is down (no heartbeat ever recorded): start it with `vodtender run`" in plain.stdout
    assert "systemctl" not in plain.stdout and "journalctl" not in plain.stdout  # nothing systemd knows of


def test_logs_on_a_terminal_carry_no_journal_priority(tmp_path: Path, env: dict[str, str]) -> None:
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "vodtender", "maintenance"], cwd=tmp_path, env=env, stdout=terminal, stderr=terminal
    ) as proc:
        os.close(terminal)
        seen = b""
        while chunk := _read(controller):
            seen += chunk
        assert proc.wait(timeout=60) == 0
    os.close(controller)
    shown = seen.decode()
    assert "maintenance: integrity check ok" in shown and "<6>" not in shown
    piped = run_cli(tmp_path, "maintenance", env=env)  # into journald's stream or a file: the priority stays
    assert "<6>maintenance: integrity check ok" in piped.stderr


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the last writer closed the terminal
        return b""


def test_reprocess_says_what_it_cleared(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli(tmp_path, "reprocess", "--reupload", "1006", env=env)
    assert result.returncode == 0, result.stderr
    assert "youtube_url cleared" in result.stdout and "None" not in result.stdout


def test_config_check_refuses_a_channel_that_is_no_login_and_notes_a_lone_chat_token(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "vodtender.conf").write_text("twitch-client-id = id\ntwitch-client-secret = secret\n")
    spaced = run_cli(tmp_path, "config", "check", "--twitch-channel", "a b")
    assert spaced.returncode == 1
    assert "problem: --twitch-channel: not a Twitch login: 'a b'" in spaced.stderr
    token = run_cli(tmp_path, "config", "check", "--twitch-channel", "a,B", "--twitch-oauth-token", "oauth:abcdef")
    assert token.returncode == 0, token.stderr
    assert "# note: TWITCH_OAUTH_TOKEN without TWITCH_BOT_USERNAME: chat is read anonymously" in token.stdout


def test_doctor_on_an_installation_puts_a_secret_in_the_env_file_and_restarts(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "vodtender.conf").write_text("twitch-channel = a\ntwitch-client-id = id\n")
    env = base_env(tmp_path, STATE_DIRECTORY=str(tmp_path), DB_DSN=str(tmp_path / "vodtender.db"))
    run_cli(tmp_path, "db", "migrate", env=env)
    result = run_cli(tmp_path, "doctor", env=env)
    (fix,) = [line for line in result.stdout.splitlines() if "fix:" in line and "TWITCH_CLIENT_SECRET" in line][:1]
    assert f"set TWITCH_CLIENT_SECRET in {tmp_path}/etc/vodtender.env" in fix
    assert "then systemctl restart vodtender.target" in fix and "vodtender.conf" not in fix


def test_config_check_names_the_files_it_read_and_where_each_value_came_from(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    alone = run_cli(tmp_path, "config", "check").stdout.splitlines()
    assert alone[0] == f"# config files read (later ones win): none (looked for {tmp_path}/etc/vodtender.conf " + (
        f"{tmp_path}/etc/conf.d/*.conf)"
    )
    (tmp_path / "local.conf").write_text("twitch-client-id = id\n")
    given = run_cli(tmp_path, "config", "check", "--config", "local.conf", "--twitch-channel", "a").stdout
    assert given.splitlines()[0] == f"# config files read (later ones win): {tmp_path}/local.conf"
    sources = dict(re.findall(r"^([A-Z_0-9]+) += .*\((.+)\)$", given, re.M))
    assert (
        sources.pop("TWITCH_CHANNEL") == "command line" and sources.pop("TWITCH_CLIENT_ID") == "config file local.conf"
    )
    assert set(sources.values()) == {"default"}
