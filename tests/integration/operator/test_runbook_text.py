"""Every command, setting, log line and SQL statement of docs/OPERATIONS.md is real; so are the
commands, options and settings the README, the man page and every `--help` name."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.processes import base_env, run_cli
from tests.integration.operator.runbook import (
    README,
    REPO,
    RUNBOOK,
    flags_named,
    man_commands,
    man_text,
    quoted_log_lines,
    settings_named,
    sql_statements,
    vodtender_commands,
)
from tests.unit.ops.fixtures import populate_every_state
from vodtender.cli.chat_cmd import backfill_parser, export_parser, search_parser
from vodtender.cli.commands import COMMANDS
from vodtender.cli.completion_cmd import command_tree
from vodtender.cli.main import build_parser
from vodtender.daemons.registry import DAEMONS
from vodtender.runtime.config import OPTIONS_BY_ENV, load_config
from vodtender.runtime.db import open_database, sqlite_path
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import KV, Vod, utcnow

CHAT_COMMANDS = {"export": export_parser, "search": search_parser, "backfill": backfill_parser}


@pytest.fixture
def a_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The commands' `--config local.conf` exists, and nothing else is read."""
    monkeypatch.setenv("VODTENDER_CONFIG_DIR", str(tmp_path))
    (tmp_path / "local.conf").write_text("twitch-channel = a\n")
    monkeypatch.chdir(tmp_path)


def assert_parse(commands: list[list[str]], where: str) -> None:
    """Each command, subcommand, option and value as the CLI takes it (argparse's and the configuration's)."""
    parser = build_parser(every=True)
    for argv in commands:
        if argv in ([name] for name in COMMANDS):  # a command named in prose: "`vodtender show` lists them"
            continue
        try:
            _args, config_argv = parser.parse_known_args(argv)
        except SystemExit:  # an unknown subcommand or a bad choice
            pytest.fail(f"{where}: `vodtender {' '.join(argv)}` does not parse")
        chat_command = CHAT_COMMANDS.get(argv[1]) if argv[:1] == ["chat"] and len(argv) > 1 else None
        if chat_command is not None:  # `chat export <vod>`, `chat search ...`: dispatched by the chat command itself
            config_argv = chat_command().parse_known_args(argv[2:])[1]
        problems = [str(p) for p in load_config(config_argv).problems if p.env is None]
        assert not problems, f"{where}: `vodtender {' '.join(argv)}`: {problems}"


def test_every_command_parses_with_its_options(a_config_dir: None) -> None:
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
    assert_parse(commands, "docs/OPERATIONS.md")


def test_every_setting_it_names_exists() -> None:
    named = settings_named()
    assert {"CIRCUIT_FAILURE_THRESHOLD", "CHAT_AUTO_START", "RETENTION_MIN_FREE", "TWITCH_CLIENT_SECRET"} <= named
    unknown = named - set(OPTIONS_BY_ENV)
    assert not unknown, f"settings in the runbook that vodtender does not have: {sorted(unknown)}"


def test_every_command_the_readme_names_parses_with_its_options(a_config_dir: None) -> None:
    commands = vodtender_commands(README)
    assert {"add", "chat", "db", "status", "run", "reprocess"} <= {argv[0] for argv in commands}
    assert_parse(commands, "README.md")


def test_every_setting_the_readme_names_exists() -> None:
    """An upper-case name is a setting of ours, or a variable something in the repository reads."""
    named = settings_named(README) - set(OPTIONS_BY_ENV)
    readers = [REPO / "Makefile", *(REPO / "vodtender").rglob("*.py"), *(REPO / "tests").rglob("*.py")]
    source = "\n".join(
        p.read_text() for p in [*readers, *(REPO / "debian").glob("*"), *(REPO / ".ci").rglob("*")] if p.is_file()
    )
    unknown = {name for name in named if not re.search(rf"\b{name}\b", source)}
    assert not unknown, f"the README names settings nothing has: {sorted(unknown)}"


def test_every_absolute_sqlite_address_in_the_docs_is_absolute() -> None:
    """`sqlite:///var/lib/...` is var/lib/... of the working directory: an absolute path takes four slashes."""
    texts = [README, RUNBOOK, man_text(), *(p.read_text() for p in (REPO / "docs").glob("*.md"))]
    texts.append((REPO / "etc" / "vodtender.conf").read_text())
    addresses = [a for text in texts for a in re.findall(r"sqlite:///[^\s`'\\,)]+", text)]
    assert any(a.startswith("sqlite:////var/lib") for a in addresses)
    relative = [a for a in addresses if str(sqlite_path(a)).startswith(("var/", "etc/", "srv/", "home/"))]
    assert not relative, f"meant absolute, read as relative: {relative}"


def all_flags() -> set[str]:
    """Every option any command takes, the configuration's included."""
    tree = command_tree(build_parser(every=True))
    flags = {s for _path, parser in tree for action in parser._actions for s in action.option_strings}
    return flags | {o.flag for o in OPTIONS_BY_ENV.values()} | {"-c", "--config"}


# Words after `vodtender ` in the man page's prose that are not commands: "the vodtender user".
MAN_PROSE = {"user", "unit", "credentials"}


def test_the_man_page_names_every_command_and_only_real_ones() -> None:
    text, named = man_text(), man_commands()
    tree = [path for path, _ in command_tree(build_parser(every=True))]
    subcommands = {path: {p[-1] for p in tree if p and p[:-1] == path} for path in tree}
    for words in named:
        assert words[0] in COMMANDS or words[0] in MAN_PROSE, f"man page: `vodtender {' '.join(words)}`"
        below = subcommands.get((words[0],), set())
        if below and len(words) > 1 and words[1] not in ("vod", "text"):  # `chat export`, not `show vod`
            assert words[1] in below, f"man page: `vodtender {' '.join(words)}`"
    operator = set(COMMANDS) - set(DAEMONS)
    assert not operator - {w[0] for w in named}, (
        f"commands the man page leaves out: {sorted(operator - {w[0] for w in named})}"
    )
    assert all(re.search(rf"^{d}$", text, re.M) for d in DAEMONS), "a daemon without its entry in the man page"
    assert re.search(r"^EXIT STATUS$(.|\n)*^2$", text, re.M) and "/var/lib/vodtender/vodtender.db" in text
    unknown = flags_named(text) - all_flags()
    assert not unknown, f"options in the man page no command has: {sorted(unknown)}"


def test_every_help_names_real_commands_options_and_settings(a_config_dir: None) -> None:
    known = all_flags()
    code = "\n".join(p.read_text() for p in (REPO / "vodtender").rglob("*.py"))
    for path, parser in command_tree(build_parser(every=True)):
        text = parser.format_help()
        unknown = flags_named(text) - known
        assert not unknown, f"`vodtender {' '.join(path)} --help` names {sorted(unknown)}"
        settings = set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", text)) - set(OPTIONS_BY_ENV)
        unread = {name for name in settings if f'"{name}"' not in code}  # NO_COLOR: read, not ours
        assert not unread, f"`vodtender {' '.join(path)} --help` names settings nothing reads: {sorted(unread)}"
        assert_parse(vodtender_commands(text), f"`vodtender {' '.join(path)} --help`")
        if path and (parser.get_default("func") is not None or path[0] == "chat"):
            assert "--config" in text, f"`vodtender {' '.join(path)} --help` does not say -c/--config"


def test_the_docs_run_the_checkouts_python_and_keep_local_conf_out_of_git() -> None:
    docs = {"README.md": README, **{f"docs/{p.name}": p.read_text() for p in (REPO / "docs").glob("*.md")}}
    bare = [
        f"{name}: {m.group(0)}"
        for name, text in docs.items()
        for m in re.finditer(r"(?<![/\w])python3? -m (tests|pytest)\b", text)
    ]
    assert not bare, f"the system's python has none of the venv's packages: {bare}"
    ignored = subprocess.run(["git", "check-ignore", "-q", "local.conf"], cwd=REPO)  # the runbook's file of secrets
    assert ignored.returncode == 0, "local.conf is not in .gitignore"


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
    for statement in statements:  # the reset and the breaker on the failed VOD 1009; the INSERT queues a new one
        sqlite3_cli(fixture_db, statement.replace("'...'", "'2001'" if statement.startswith("INSERT") else "'1009'"))
    open_database(str(fixture_db))
    assert Vod.get(Vod.twitch_vod_id == "2001").processed == 0  # queued by the INSERT alone
    failed = Vod.get(Vod.twitch_vod_id == "1009")
    assert (failed.processed, failed.processing_error, failed.youtube_url) == (0, None, None)
    assert not KV.select().where(KV.key.startswith("circuit_")).exists()


def test_pending_query_lists_what_vods_state_pending_lists(fixture_db: Path, tmp_path: Path) -> None:
    (query,) = [s for s in sql_statements() if s.startswith("SELECT twitch_vod_id, processed")]
    rows = [line.split("|") for line in sqlite3_cli(fixture_db, query).splitlines()]
    assert rows[0][0] == "1001" and {processed for _, processed, _ in rows} == {"0"}  # oldest first, not done
    pending_by_sql = {vod_id for vod_id, _, _ in rows}
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
