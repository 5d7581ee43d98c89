"""`vodtender chat export <vod>`: a VOD's chat as JSON lines, WebVTT, SRT, ASS or TwitchDownloader JSON.

`vodtender chat` itself runs the chat daemon (cli/daemons_cmd.py), whose arguments are
configuration options (`--twitch-channel a,b`).  A sub-parser there would take an option's
value for a subcommand name, so `export` is recognised as the first extra word instead; for
the same reason `--help` is only noted while parsing, and answered once the words are known.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from vodtender.cli.common import load_or_exit, open_migrated
from vodtender.clients.twitch_gql import ReplayRefused, TwitchGql
from vodtender.ops.chat_export import FORMATS, NoChat
from vodtender.ops.control import ControlError, find_vod
from vodtender.pipeline.chat.backfill import VodReplay, backfill, has_live_chat


def export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vodtender chat export",
        description="A VOD's chat aligned to the VOD, with deleted messages, timeouts and bans, recording "
        "gaps, shared-chat and replayed messages marked: JSON lines (default), WebVTT or SRT subtitles, an "
        "ASS chat overlay to burn in (ffmpeg -vf ass=FILE), or TwitchDownloader's chat JSON.",
    )
    p.add_argument("vod", help="Twitch VOD id (or live-<unix> placeholder), or the row id as #123")
    p.add_argument("--format", choices=tuple(FORMATS), default="jsonl")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    return p


def register(sub: argparse._SubParsersAction) -> None:
    chat = sub.choices.get("chat")
    if chat is None:
        raise RuntimeError("chat_cmd must be registered after daemons_cmd (it extends `vodtender chat`)")
    run_daemon: Callable = chat.get_default("func")
    chat.description = (
        "Run the chat daemon in the foreground, `vodtender chat export <vod> [--format FORMAT]`, "
        "or `vodtender chat backfill <vod>... [--force]`."
    )
    # Replaces argparse's -h (daemons_cmd lets it), which would answer for the daemon before a subcommand is seen.
    chat.add_argument("-h", "--help", action="store_true", dest="chat_help", help="show this help message and exit")
    subcommands = {"export": cmd_export, "backfill": cmd_backfill}

    def dispatch(args: argparse.Namespace, config_argv: list[str]) -> int:
        command = subcommands.get(config_argv[0]) if config_argv else None
        if command is not None:
            return command(config_argv[1:] + (["--help"] if args.chat_help else []))
        if args.chat_help:
            chat.print_help()
            return 0
        return run_daemon(args, config_argv)

    chat.set_defaults(func=dispatch)


def cmd_export(argv: list[str]) -> int:
    args, config_argv = export_parser().parse_known_args(argv)
    cfg = load_or_exit(config_argv)
    open_migrated(cfg)
    try:
        vod = find_vod(args.vod)
        lines = FORMATS[args.format](vod)
    except (ControlError, NoChat) as exc:
        print(f"vodtender: {exc}", file=sys.stderr)
        return 1
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(Path(args.output), "w", encoding="utf-8")) if args.output else sys.stdout
        try:
            for line in lines:
                out.write(line + "\n")
        except BrokenPipeError:  # `| head`: the reader has what it wanted; keep Python quiet at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def backfill_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vodtender chat backfill",
        description="Fetch VODs' chat from Twitch's comment replay (stored with origin replay).",
    )
    p.add_argument("vods", nargs="+", help="Twitch VOD ids (or #<row id>)")
    p.add_argument(
        "--force",
        action="store_true",
        help="also a VOD with live-recorded chat (the replay is added next to it), and fetch a finished one again",
    )
    return p


def cmd_backfill(argv: list[str]) -> int:
    args, config_argv = backfill_parser().parse_known_args(argv)
    cfg = load_or_exit(config_argv, quiet_logs=False)
    open_migrated(cfg)
    client = TwitchGql(cfg.twitch_gql_url, cfg.twitch_gql_client_id)
    failed = 0
    for ref in args.vods:
        try:
            vod = find_vod(ref)
        except ControlError as exc:
            print(f"vodtender: {exc}", file=sys.stderr)
            failed += 1
            continue
        if has_live_chat(vod.twitch_vod_id) and not args.force:
            print(
                f"vodtender: VOD {vod.twitch_vod_id} has live-recorded chat; --force adds the replay", file=sys.stderr
            )
            failed += 1
            continue
        if args.force:
            VodReplay(client, vod).restart()
        try:
            count = backfill(client, vod, cfg.chat_backfill_pace)
        except ReplayRefused as exc:
            print(f"vodtender: chat backfill of VOD {vod.twitch_vod_id} stopped: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"VOD {vod.twitch_vod_id}: {count} replay comments fetched")
    return 1 if failed else 0
