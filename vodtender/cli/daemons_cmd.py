"""`vodtender poller|downloader|uploader|chat`: run one daemon in the foreground (as systemd does)."""

from __future__ import annotations

import argparse

from vodtender.daemons.registry import DAEMONS
from vodtender.runtime.daemon import run_daemon


def register(sub: argparse._SubParsersAction) -> None:
    for name, cls in DAEMONS.items():
        p = sub.add_parser(name, help=f"run the {name} daemon in the foreground")
        p.set_defaults(func=lambda args, config_argv, cls=cls: run_daemon(cls, config_argv))
