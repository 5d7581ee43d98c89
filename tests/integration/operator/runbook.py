"""docs/OPERATIONS.md, read the way the tests need it: its commands, settings, log lines and SQL."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RUNBOOK = (REPO / "docs" / "OPERATIONS.md").read_text()
# Words in backticks that are not settings of ours but names an operator meets anyway.
NOT_SETTINGS = {"STATE_DIRECTORY", "STALLED", "VACUUM", "PRAGMA", "SELECT", "UPDATE", "DELETE", "ARGS"}
PLACEHOLDERS = {"<id>": "1001", "<n>": "5", "<time>": "20260101T000000000000Z", "<daemon>": "downloader"}


def code_spans() -> list[str]:
    """Inline code and the lines of fenced blocks."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", RUNBOOK, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", RUNBOOK, flags=re.S))
    return inline + [line for block in blocks for line in block.splitlines()]


def vodtender_commands() -> list[list[str]]:
    """Every `vodtender ...` invocation, as argv after `vodtender`, placeholders filled in."""
    commands = []
    for raw in code_spans():
        span = raw.split("#")[0] if not raw.lstrip().startswith("#") else ""
        # (not `sudo -u vodtender ...`: there it is the user's name)
        for match in re.finditer(r"(?:^|[\s(])(?<!-u )(?:\.venv/bin/|/usr/bin/)?vodtender ([^|;&)]*)", span):
            text = match.group(1).strip()
            if not text or text.startswith(("-", "'", '"', "$", "\\")) or text.startswith("<("):
                continue
            for key, value in PLACEHOLDERS.items():
                text = text.replace(key, value)
            argv = shlex.split(text)
            if argv and argv[0].isidentifier():  # `vodtender` as a user or unit name is not a command
                commands.append(argv)
    return commands


def settings_named() -> set[str]:
    names = set()
    for span in code_spans():
        names |= set(re.findall(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b", span))
    return names - NOT_SETTINGS


def sql_statements() -> list[str]:
    return [
        s for s in re.findall(r"`([^`]*)`", RUNBOOK) if re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT|PRAGMA|VACUUM)\b", s)
    ]


def quoted_log_lines() -> list[str]:
    """The log lines the scenario table and the checklist quote: `Log: `x`` and `log `x``."""
    return re.findall(r"[Ll]og:? `([^`]+)`", RUNBOOK)
