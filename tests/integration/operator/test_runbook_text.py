"""Every command, setting, log line and SQL statement of docs/OPERATIONS.md is real."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.processes import base_env, run_cli
from tests.integration.operator.runbook import (
    REPO,
    RUNBOOK,
    quoted_log_lines,
    settings_named,
    sql_statements,
    vodtender_commands,
)
from tests.unit.ops.fixtures import populate_every_state
from vodtender.cli.chat_cmd import export_parser, search_parser
from vodtender.cli.main import build_parser
from vodtender.runtime.config import OPTIONS_BY_ENV, load_config
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import KV, Vod, utcnow

CHAT_COMMANDS = {"export": export_parser, "search": search_parser}


def test_every_command_parses_with_its_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VODTENDER_CONFIG_DIR", str(tmp_path))
    (tmp_path / "local.conf").write_text("twitch-channel = a\n")
    monkeypatch.chdir(tmp_path)
    commands = vodtender_commands()
    named = {argv[0] for argv in commands}
    assert {
        "status",
        "vods",
        "show",
        "maintenance",
        "retention",
        "doctor",
        "reprocess",
        "circuit",
        "config",
        "auth",
        "completion",
        "chat",
        "cancel",
        "priority",
    } <= named
    parser = build_parser(every=True)
    for argv in commands:
        _args, config_argv = parser.parse_known_args(argv)  # an unknown subcommand or bad choice exits
        chat_command = CHAT_COMMANDS.get(argv[1]) if argv[:1] == ["chat"] and len(argv) > 1 else None
        if chat_command is not None:  # `chat export <vod>`, `chat search ...`: dispatched by the chat command itself
            config_argv = chat_command().parse_known_args(argv[2:])[1]
        problems = [str(p) for p in load_config(config_argv).problems if p.env is None]
        assert not problems, f"`vodtender {' '.join(argv)}`: {problems}"


def test_every_setting_it_names_exists() -> None:
    named = settings_named()
    assert {"CIRCUIT_FAILURE_THRESHOLD", "CHAT_AUTO_START", "RETENTION_MIN_FREE", "TWITCH_CLIENT_SECRET"} <= named
    unknown = named - set(OPTIONS_BY_ENV)
    assert not unknown, f"settings in the runbook that vodtender does not have: {sorted(unknown)}"


def test_every_log_line_it_quotes_is_logged_by_the_code() -> None:
    lines = quoted_log_lines()
    assert {"circuit opened", "chat recorder disabled", "placeholder never reconciled"} <= set(lines)
    source = "\n".join(p.read_text() for p in (REPO / "vodtender").rglob("*.py"))
    for line in [*lines, "helix app token obtained", "file deleted by retention", "database integrity check FAILED"]:
        assert f'"{line}' in source, f"runbook quotes a log line nothing logs: {line!r}"
        assert line in RUNBOOK


def test_no_leftovers_of_the_original_service() -> None:
    for word in ("backend/.env", "docker", "Docker", "goroutine", "slog", "`go`", "aria2c"):
        assert word not in RUNBOOK, word


@pytest.fixture
def fixture_db(tmp_path: Path) -> Path:
    path = tmp_path / "vodtender.db"
    db = open_database(str(path))
    migrate(db)
    populate_every_state(utcnow())
    db.close()
    return path


def sqlite3_cli(db: Path, statement: str) -> str:
    result = subprocess.run(["sqlite3", str(db), statement], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr, f"{statement}: {result.stderr}"
    return result.stdout


def test_every_sql_statement_runs_verbatim_with_the_sqlite3_shell(fixture_db: Path) -> None:
    statements = sql_statements()
    assert len(statements) >= 5  # reset, breaker, pending query, integrity_check, VACUUM
    for statement in statements:
        sqlite3_cli(fixture_db, statement.replace("'...'", "'1009'"))
    open_database(str(fixture_db))
    failed = Vod.get(Vod.twitch_vod_id == "1009")
    assert (failed.processed, failed.processing_error, failed.youtube_url) == (0, None, None)
    assert not KV.select().where(KV.key.startswith("circuit_")).exists()


def test_pending_query_lists_what_vods_state_pending_lists(fixture_db: Path, tmp_path: Path) -> None:
    (query,) = [s for s in sql_statements() if s.startswith("SELECT twitch_vod_id, processed")]
    rows = [line.split("|") for line in sqlite3_cli(fixture_db, query).splitlines()]
    assert len(rows) == 11 and rows[0][0] == "1001"  # every VOD of the fixture, oldest first
    pending_by_sql = {vod_id for vod_id, processed, _ in rows if processed == "0"}
    (tmp_path / "etc").mkdir()
    listed = run_cli(
        tmp_path, "vods", "--state", "pending", "--limit", "0", "--json", env=base_env(tmp_path, DB_DSN=str(fixture_db))
    )
    assert {r["twitch_vod_id"] for r in json.loads(listed.stdout)} == pending_by_sql
    errors_by_sql = {vod_id: error for vod_id, _, error in rows if error}
    failed = run_cli(tmp_path, "vods", "--state", "failed", "--json", env=base_env(tmp_path, DB_DSN=str(fixture_db)))
    assert {r["twitch_vod_id"]: r["error"] for r in json.loads(failed.stdout)} == errors_by_sql


def test_shell_blocks_are_valid_shell() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", RUNBOOK, re.S)
    assert blocks
    for block in blocks:
        check = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
        assert check.returncode == 0, f"{block}\n{check.stderr}"
