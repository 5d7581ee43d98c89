"""The bash completion script completes commands, subcommands, options and option values."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers.processes import run_cli
from vodtender.cli.commands import COMMANDS


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("completion")
    (workdir / "etc").mkdir()
    result = run_cli(workdir, "completion", "bash")
    assert result.returncode == 0, result.stderr
    path = workdir / "vodtender.bash"
    path.write_text(result.stdout)
    return path


def complete(script: Path, *words: str) -> list[str]:
    """What bash offers after `vodtender <words>` (the last word is the one being completed)."""
    line = " ".join(["vodtender", *words])
    quoted = " ".join(f"'{w}'" for w in ["vodtender", *words])
    program = (
        f"source '{script}'; COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; COMP_LINE='{line}'; "
        "_vodtender; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    out = subprocess.run(["bash", "--norc", "-c", program], capture_output=True, text=True, check=True).stdout
    return [w for w in out.splitlines() if w]


def test_commands(script: Path) -> None:
    assert {"status", "vods", "show", "maintenance", "retention", "doctor", "poller", "downloader"} <= set(
        complete(script, "")
    )
    assert complete(script, "sta") == ["status"]


def test_every_command_and_the_config_file_flag(script: Path) -> None:
    assert set(COMMANDS) <= set(complete(script, ""))  # `add` too
    for words in (["status"], ["chat", "export", "1"], ["run"], ["add", "1"]):
        assert {"--config", "-c"} <= set(complete(script, *words, "-")), words


def test_subcommands_and_options(script: Path) -> None:
    assert set(complete(script, "config", "")) >= {"check", "example"}
    assert "--json" in complete(script, "status", "--")
    assert "--dry-run" in complete(script, "maintenance", "--")
    assert "--twitch-channel" in complete(script, "vods", "--tw")  # config options after any command


def test_chat_subcommands_which_argparse_does_not_know(script: Path) -> None:
    assert set(complete(script, "chat", "")) >= {"export", "backfill", "search", "--twitch-channel"}
    assert {"--format", "--output", "--db-dsn"} <= set(complete(script, "chat", "export", "--"))
    assert set(complete(script, "chat", "export", "123", "--format", "")) == {
        "jsonl",
        "vtt",
        "srt",
        "ass",
        "twitchdownloader",
    }
    assert {"--vod", "--user", "--since", "--json"} <= set(complete(script, "chat", "search", "--"))
    assert "--force" in complete(script, "chat", "backfill", "--f")


def test_option_values(script: Path) -> None:
    assert set(complete(script, "vods", "--state", "")) == {
        "live",
        "discovered",
        "downloading",
        "downloaded",
        "uploading",
        "done",
        "failed",
        "pending",
    }
    assert complete(script, "vods", "--state", "fa") == ["failed"]
    assert complete(script, "maintenance", "--vacuum", "al") == ["always"]
    # an option value is not mistaken for a subcommand
    assert "--limit" in complete(script, "vods", "--state", "failed", "--l")
