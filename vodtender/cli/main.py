"""`vodtender`: one command per daemon, plus the operator's commands.

Each command module registers its subcommands; options not consumed by a subcommand are
configuration options (`--twitch-channel a,b`), parsed by `vodtender.runtime.config`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vodtender import __version__
from vodtender.cli import (
    auth_cmd,
    chat_cmd,
    completion_cmd,
    config_cmd,
    daemons_cmd,
    db_cmd,
    doctor_cmd,
    maintenance_cmd,
    run_cmd,
    status_cmd,
    vod_cmd,
    vods_cmd,
)

COMMAND_MODULES = [daemons_cmd, run_cmd, config_cmd, db_cmd, status_cmd, vods_cmd, maintenance_cmd, doctor_cmd,
                   completion_cmd, vod_cmd, auth_cmd, chat_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vodtender",
        description="Archive Twitch channels: VODs to disk and YouTube, chat aligned with the VOD.",
        epilog="Any configuration option may follow the command, e.g. `vodtender poller --twitch-channel a,b`; "
        "`vodtender config check` lists them all with their current values.",
    )
    parser.add_argument("--version", action="version", version=f"vodtender {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, config_argv = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    return int(args.func(args, config_argv) or 0)
