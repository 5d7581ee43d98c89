"""`vodtender reprocess|cancel|priority <id>` and `vodtender circuit reset|status`.

Each acts on the same columns as the runbook's SQL and prints what it did.
"""

from __future__ import annotations

import argparse
import sys
import time

from vodtender.cli.commands import summary
from vodtender.cli.common import load_or_exit, open_migrated
from vodtender.ops import control as download_control
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.runtime.config import Config


def register(sub: argparse._SubParsersAction) -> None:
    vod_help = "Twitch VOD id, or the row id as #123"
    r = sub.add_parser("reprocess", help=summary("reprocess"))
    r.add_argument("vod", help=vod_help)
    r.add_argument(
        "--reupload",
        action="store_true",
        help="a VOD on YouTube is uploaded again as a new video (costs UPLOAD_QUOTA_COST units per part); "
        "without it, it is only downloaded and verified again",
    )
    r.set_defaults(func=cmd_reprocess)
    c = sub.add_parser("cancel", help=summary("cancel"))
    c.add_argument("vod", help=vod_help)
    c.set_defaults(func=cmd_cancel)
    p = sub.add_parser("priority", help=summary("priority"))
    p.add_argument("vod", help=vod_help)
    p.add_argument("priority", type=int)
    p.set_defaults(func=cmd_priority)
    b = sub.add_parser("circuit", help=summary("circuit"))
    bsub = b.add_subparsers(dest="circuit_command", required=True)
    bsub.add_parser("reset", help="close the breaker now (same as the runbook's DELETE FROM kv ...)").set_defaults(
        func=cmd_circuit_reset
    )
    bsub.add_parser("status", help="show the breaker's state").set_defaults(func=cmd_circuit_status)


def _run(config_argv: list[str], action: object, *args: object) -> int:
    return _apply(load_or_exit(config_argv), action, *args)


def _apply(cfg: Config, action: object, *args: object) -> int:
    open_migrated(cfg)
    try:
        print(action(*args))  # type: ignore[operator]
    except download_control.ControlError as exc:
        print(f"vodtender: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_reprocess(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv)
    return _apply(cfg, download_control.reprocess, args.vod, args.reupload, cfg.upload_quota_cost)


def cmd_cancel(args: argparse.Namespace, config_argv: list[str]) -> int:
    return _run(config_argv, download_control.cancel, args.vod)


def cmd_priority(args: argparse.Namespace, config_argv: list[str]) -> int:
    return _run(config_argv, download_control.set_priority, args.vod, args.priority)


def _breaker(config_argv: list[str]) -> CircuitBreaker:
    cfg = load_or_exit(config_argv)
    open_migrated(cfg)
    return CircuitBreaker(cfg.circuit_failure_threshold, cfg.circuit_open_cooldown)


def _describe(breaker: CircuitBreaker) -> str:
    state = breaker.current()
    if not state.is_open:
        return f"closed ({state.failures} consecutive failures counted)"
    until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.open_until))
    return f"{state.state} until {until} after {state.failures} consecutive failures"


def cmd_circuit_reset(args: argparse.Namespace, config_argv: list[str]) -> int:
    breaker = _breaker(config_argv)
    before = _describe(breaker)
    breaker.reset()
    print(f"circuit breaker reset: was {before}; deleted kv keys circuit_state, circuit_failures, circuit_open_until")
    return 0


def cmd_circuit_status(args: argparse.Namespace, config_argv: list[str]) -> int:
    print("circuit breaker " + _describe(_breaker(config_argv)))
    return 0
