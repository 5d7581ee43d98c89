"""docs/OPERATIONS.md (and the README), read the way the tests need it: commands, settings, log lines, SQL."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RUNBOOK = (REPO / "docs" / "OPERATIONS.md").read_text()
README = (REPO / "README.md").read_text()
# Words in backticks that are not settings of ours but names an operator meets anyway.
NOT_SETTINGS = {"STATE_DIRECTORY", "STALLED", "VACUUM", "PRAGMA", "SELECT", "UPDATE", "DELETE", "ARGS"}
PLACEHOLDERS = {"<id>": "1001", "<n>": "5", "<time>": "20260101T000000000000Z", "<daemon>": "downloader"}


def code_spans(text: str = RUNBOOK) -> list[str]:
    """Inline code and the lines of fenced blocks."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return inline + [line for block in blocks for line in block.splitlines()]


def vodtender_commands(text: str = RUNBOOK) -> list[list[str]]:
    """Every `vodtender ...` invocation, as argv after `vodtender`, placeholders filled in."""
    commands = []
    for raw in code_spans(text):
        span = raw.split("#")[0] if not raw.lstrip().startswith("#") else ""
        # (not `sudo -u vodtender ...`: there it is the user's name)
        for match in re.finditer(r"(?:^|[\s(])(?<!-u )(?:\.venv/bin/|/usr/bin/)?vodtender ([^|;&)]*)", span):
            text = match.group(1).strip()
            if not text or text.startswith(("-", "'", '"', "$", "\\")) or text.startswith("<("):
                continue
            argv = shlex.split(filled_in(text))
            if argv and argv[0].isidentifier():  # `vodtender` as a user or unit name is not a command
                commands.append(argv)
    return commands


def filled_in(synopsis: str) -> str:
    """A command as written in prose made runnable: placeholders given a value (one not listed is a
    VOD, as in `<vod>`), options in brackets given, `…` (more of the same) dropped."""
    for key, value in PLACEHOLDERS.items():
        synopsis = synopsis.replace(key, value)
    synopsis = re.sub(r"<[^<>]+>", "1001", synopsis)
    return re.sub(r"[\[\]]|…|\.\.\.", "", synopsis)


def settings_named(text: str = RUNBOOK) -> set[str]:
    names = set()
    for span in code_spans(text):
        names |= set(re.findall(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b", span))
    return names - NOT_SETTINGS


def sql_statements() -> list[str]:
    return [
        s for s in re.findall(r"`([^`]*)`", RUNBOOK) if re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT|PRAGMA|VACUUM)\b", s)
    ]


def quoted_log_lines() -> list[str]:
    """The log lines the scenario table and the checklist quote: `Log: `x`` and `log `x``."""
    return re.findall(r"[Ll]og:? `([^`]+)`", RUNBOOK)


MAN = (REPO / "man" / "vodtender.1").read_text()
FONT_MACROS = {".B": " ", ".I": " ", ".BR": "", ".RB": "", ".IR": "", ".RI": "", ".BI": "", ".IB": ""}


def man_text() -> str:
    """man/vodtender.1 as the words it prints: font macros and escapes dropped, lines kept."""
    lines = []
    for source in MAN.splitlines():
        macro, _, rest = source.partition(" ")
        if macro in FONT_MACROS:
            line = FONT_MACROS[macro].join(shlex.split(rest.replace("\\", "\\\\")))
        elif source.startswith((".", "'")):
            line = rest if macro in (".TP", ".SH", ".SS") else ""
        else:
            line = source
        lines.append(re.sub(r"\\f[BIRP]", "", line).replace("\\-", "-").replace("\\&", ""))
    return "\n".join(lines)


def man_commands() -> list[list[str]]:
    """The command words after each `vodtender ` of the man page (`vodtender chat export` -> [chat, export])."""
    return [m.group(1).split() for m in re.finditer(r"(?<![\w/.-])vodtender((?: [a-z][a-z-]*)+)", man_text())]


def flags_named(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
