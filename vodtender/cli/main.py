"""`vodtender`: one command per daemon, plus the operator's commands.

Only the chosen command's modules are imported (cli/commands.py lists them): `vodtender --help`
imports none, `vodtender status` no daemon, `vodtender chat` not yt-dlp.  Options not consumed
by a subcommand are configuration options (`--twitch-channel a,b`), parsed by
`vodtender.runtime.config`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from vodtender import __version__
from vodtender.cli.commands import COMMAND_EPILOG, COMMANDS
from vodtender.runtime.files import restrict_umask

EXIT_SIGPIPE = 128 + 13  # what a shell reports for a command killed by SIGPIPE


def build_parser(command: str | None = None, *, every: bool = False) -> argparse.ArgumentParser:
    """The parser with `command` (or, with `every`, all commands) in full; the others by name and help only."""
    parser = argparse.ArgumentParser(
        prog="vodtender",
        description="Archive Twitch channels: VODs to disk and YouTube, chat aligned with the VOD.",
        epilog="Any configuration option may follow the command, e.g. `vodtender poller --twitch-channel a,b`, "
        "and `-c/--config FILE` reads one more config file; "
        "`vodtender config check` lists them all with their current values.",
    )
    parser.add_argument("--version", action="version", version=f"vodtender {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = {m for name, (modules, _) in COMMANDS.items() if every or name == command for m in modules}
    loaded: set[str] = set()
    for name, (modules, help_text) in COMMANDS.items():
        needed = [m for m in modules if m in wanted]
        if not needed:
            sub.add_parser(name, help=help_text, add_help=False)  # listed; never run without its module
        for module in needed:
            if module not in loaded:
                importlib.import_module(f"vodtender.cli.{module}").register(sub)
                loaded.add(module)
    _explain_commands(parser)
    return parser


def _explain_commands(parser: argparse.ArgumentParser) -> None:
    """What argparse leaves out: a runnable command's --help names the configuration flags it takes,
    and a group alone (`vodtender circuit`) names its subcommands, not the internal `circuit_command`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            action.metavar = action.metavar or "{" + ",".join(action.choices) + "}"
            for child in action.choices.values():
                if child.get_default("func") is not None and child.epilog is None:
                    child.epilog = COMMAND_EPILOG
                _explain_commands(child)


def main(argv: Sequence[str] | None = None) -> int:
    restrict_umask()  # every file of every command and daemon private (runtime/files.py)
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(words[0] if words else None)
    args, config_argv = parser.parse_known_args(words)
    try:
        code = int(args.func(args, config_argv) or 0)
        sys.stdout.flush()  # a reader gone before the last buffered line shows here, not at exit
    except BrokenPipeError:
        return reader_gone()
    return code


def reader_gone() -> int:
    """`vodtender config check | head -1`: the reader has what it wanted; stop quietly, as a tool
    killed by SIGPIPE does, and keep Python's flush at exit from writing into the closed pipe."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_SIGPIPE
