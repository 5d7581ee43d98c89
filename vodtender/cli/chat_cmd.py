"""`vodtender chat export <vod>`: a VOD's chat as JSON lines, WebVTT, SRT, ASS or TwitchDownloader JSON;
`vodtender chat backfill <vod>...`: chat from Twitch's comment replay;
`vodtender chat search TEXT`: messages found by the database's full-text index.

`vodtender chat` itself runs the chat daemon (cli/daemons_cmd.py), whose arguments are
configuration options (`--twitch-channel a,b`).  A sub-parser there would take an option's
value for a subcommand name, so `export` is recognised as the first extra word instead; for
the same reason `--help` is only noted while parsing, and answered once the words are known.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from vodtender.cli.commands import COMMAND_EPILOG
from vodtender.cli.common import load_or_exit, open_migrated
from vodtender.clients.twitch_gql import ReplayRefused, TwitchGql
from vodtender.ops.chat_export import FORMATS, NoChat
from vodtender.ops.chat_export.rows import mirrored_from
from vodtender.ops.control import ControlError, find_vod
from vodtender.pipeline.chat.backfill import VodReplay, backfill, has_live_chat
from vodtender.pipeline.chat.search import ChatHit, SearchError, SearchFilter, search_chat


def export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vodtender chat export",
        epilog=COMMAND_EPILOG,
        description="A VOD's chat aligned to the VOD, with deleted messages, timeouts and bans, recording "
        "gaps, shared-chat and replayed messages marked: JSON lines (default), WebVTT or SRT subtitles, an "
        "ASS chat overlay to burn in (ffmpeg -vf ass=FILE), or TwitchDownloader's chat JSON.",
    )
    p.add_argument("vod", help="Twitch VOD id (or live-<unix> placeholder), or the row id as #123")
    p.add_argument("--format", choices=tuple(FORMATS), default="jsonl")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    return p


def since_date(text: str) -> float:
    """`2026-03-01` or `2026-03-01T12:00` (UTC unless an offset is given) as unix seconds."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def search_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vodtender chat search",
        epilog=COMMAND_EPILOG,
        description='Chat messages containing every word of TEXT ("quoted phrases" in that order), '
        "newest first (in the VOD's order with --vod), found by the database's full-text index.",
    )
    p.add_argument("text", nargs="+", help='words and "quoted phrases"; case and punctuation do not matter')
    p.add_argument("--channel", help="only this channel's chat")
    p.add_argument("--vod", help="only this VOD's chat (Twitch VOD id, live-<unix>, or #row id)")
    p.add_argument("--user", help="only this user's messages (login or display name)")
    p.add_argument("--since", type=since_date, help="only messages sent since this date (UTC)")
    p.add_argument("--limit", type=positive, default=50, help="at most this many results (default 50)")
    p.add_argument("--json", action="store_true", help="one JSON object per result")
    return p


def register(sub: argparse._SubParsersAction) -> None:
    chat = sub.choices.get("chat")
    if chat is None:
        raise RuntimeError("chat_cmd must be registered after daemons_cmd (it extends `vodtender chat`)")
    run_daemon: Callable = chat.get_default("func")
    chat.description = (
        "Run the chat daemon in the foreground, `vodtender chat export <vod> [--format FORMAT]`, "
        "`vodtender chat backfill <vod>... [--force]` or `vodtender chat search TEXT`."
    )
    # Replaces argparse's -h (daemons_cmd lets it), which would answer for the daemon before a subcommand is seen.
    chat.add_argument("-h", "--help", action="store_true", dest="chat_help", help="show this help message and exit")
    subcommands = {"export": cmd_export, "backfill": cmd_backfill, "search": cmd_search}
    # Read by `vodtender completion bash`, which cannot see subcommands argparse does not know.
    word_subcommands = {"export": export_parser, "backfill": backfill_parser, "search": search_parser}

    def dispatch(args: argparse.Namespace, config_argv: list[str]) -> int:
        command = subcommands.get(config_argv[0]) if config_argv else None
        if command is not None:
            return command(config_argv[1:] + (["--help"] if args.chat_help else []))
        if args.chat_help:
            chat.print_help()
            return 0
        return run_daemon(args, config_argv)

    chat.set_defaults(func=dispatch, word_subcommands=word_subcommands)


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
        epilog=COMMAND_EPILOG,
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


def cmd_search(argv: list[str]) -> int:
    args, config_argv = search_parser().parse_known_args(argv)
    cfg = load_or_exit(config_argv)
    open_migrated(cfg)
    try:
        vod_id = find_vod(args.vod).twitch_vod_id if args.vod else None
        where = SearchFilter(args.channel, vod_id, args.user, args.since, args.limit)
        hits = search_chat(" ".join(args.text), where)
    except (ControlError, SearchError) as exc:
        print(f"vodtender: {exc}", file=sys.stderr)
        return 1
    for hit in hits:
        print(json.dumps(hit.as_json(), ensure_ascii=False) if args.json else hit_line(hit))
    if not args.json:
        print(f"{len(hits)} found" + ("; `vodtender show <vod>` shows a VOD" if hits else ""), file=sys.stderr)
    return 0


def hit_line(hit: ChatHit) -> str:
    """channel, VOD and offset (or the UTC time of offline chat), who, what; marks after the text."""
    where = f"{hit.vod_id} {hit.offset()}" if hit.vod_id else f"offline {hit.sent_at()}"
    marks = ("  [deleted]" if hit.deleted else "") + (f"  [mirrored from {mirrored_from(hit)}]" if hit.mirrored else "")
    action = "* " if hit.kind == "action" else ""
    return f"{hit.channel}  {where}  {action}{hit.display_name or hit.username}: {hit.message}{marks}"
