"""`vodtender poller|downloader|uploader|chat`: run one daemon in the foreground (as systemd does)."""

from __future__ import annotations

import argparse

from vodtender.cli.commands import summary
from vodtender.daemons.registry import DAEMONS, daemon_class


def register(sub: argparse._SubParsersAction) -> None:
    for name in DAEMONS:
        # "resolve": a command that extends a daemon's parser may answer -h itself (cli/chat_cmd.py)
        p = sub.add_parser(name, help=summary(name), conflict_handler="resolve")
        p.set_defaults(func=lambda args, config_argv, name=name: run(name, config_argv))


def run(name: str, config_argv: list[str]) -> int:
    from vodtender.runtime.supervision import follow_supervisor

    follow_supervisor()  # under `vodtender run`: die with it
    from vodtender.runtime.daemon import run_daemon  # the runtime and only this daemon's modules

    return run_daemon(daemon_class(name), config_argv)
