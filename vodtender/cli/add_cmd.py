"""`vodtender add <VOD id or twitch.tv/videos/ address>… [--priority N]`: archive these VODs too."""

from __future__ import annotations

import argparse
import sys

import peewee

from vodtender.cli.commands import summary
from vodtender.cli.common import load_or_exit, open_existing
from vodtender.clients.helix import HelixClient, HelixError
from vodtender.pipeline.catalog.request import BadReference, parse_reference, request_vods
from vodtender.pipeline.shared_limits import helix_bucket
from vodtender.runtime.redact import redact


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("add", help=summary("add"))
    p.add_argument("vods", nargs="+", metavar="VOD", help="a Twitch VOD id or its twitch.tv/videos/ address")
    p.add_argument("--priority", type=int, help="set on each (higher first); known VODs keep theirs without it")
    p.set_defaults(func=cmd_add)


def cmd_add(args: argparse.Namespace, config_argv: list[str]) -> int:
    try:
        vod_ids = [parse_reference(ref) for ref in args.vods]
    except BadReference as exc:
        print(f"vodtender add: {exc}", file=sys.stderr)
        return 2
    cfg = load_or_exit(config_argv)
    if not (cfg.twitch_client_id and cfg.twitch_client_secret):
        print("vodtender add: needs TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET to ask Helix", file=sys.stderr)
        return 2
    try:
        open_existing(cfg)
    except (peewee.PeeweeException, OSError) as exc:
        print(redact(f"vodtender add: cannot open the database: {exc} (try vodtender doctor)"), file=sys.stderr)
        return 2
    client = HelixClient(
        cfg.twitch_client_id, cfg.twitch_client_secret, cfg.twitch_helix_url, cfg.twitch_auth_url, shared=helix_bucket()
    )
    try:
        outcomes = request_vods(client, vod_ids, args.priority)
    except HelixError as exc:
        print(f"vodtender add: Helix did not answer, nothing queued: {exc}", file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(outcome.describe(args.priority), file=sys.stdout if outcome.record else sys.stderr)
    return 0 if all(o.record for o in outcomes) else 1
