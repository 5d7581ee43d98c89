"""`vodtender db migrate`: bring the database schema up to date (daemons also do it at start-up).
`vodtender db copy`: move an archive to another database (logic in `vodtender/ops/db_copy.py`)."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from urllib.parse import urlparse

import peewee

from vodtender.cli.commands import summary
from vodtender.cli.common import load_or_exit
from vodtender.ops.db_copy import CopyError, copy_database
from vodtender.runtime.db import DatabaseUnavailable, describe_dsn, open_database
from vodtender.runtime.logs import register_secret
from vodtender.runtime.migrations import migrate, pending
from vodtender.runtime.redact import redact


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help=summary("db"))
    dbsub = p.add_subparsers(dest="db_command", required=True)
    m = dbsub.add_parser("migrate", help="apply pending schema migrations")
    m.add_argument("--dry-run", action="store_true", help="list pending migrations, change nothing")
    m.set_defaults(func=cmd_migrate)
    c = dbsub.add_parser(
        "copy",
        help="copy every table (chat included) to another database, then verify",
        description="Copy an archive, e.g. from SQLite to PostgreSQL: all tables in batches, "
        "ids kept, rows already in the target skipped (safe to re-run), then row "
        "counts and content checksums verified.  Stop the daemons first.",
    )
    c.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="DSN",
        help="source: a SQLite path, sqlite:///… or postgresql://…",
    )
    c.add_argument("--to", dest="target", metavar="DSN", help="target, e.g. postgresql://… (default: DB_DSN)")
    c.add_argument("--batch", type=int, default=2000, help="rows per transaction (default 2000)")
    c.add_argument("--no-verify", action="store_true", help="skip the row count and checksum comparison")
    c.set_defaults(func=cmd_copy)


def cmd_migrate(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv)
    try:
        db = open_database(cfg.db_dsn)
        if args.dry_run:
            names = pending(db)
            print("\n".join(names) if names else "schema is up to date")
            return 0
        applied = migrate(db)
    except (peewee.PeeweeException, sqlite3.Error, OSError) as exc:
        reason = str(exc) if isinstance(exc, DatabaseUnavailable) else f"{describe_dsn(cfg.db_dsn)}: {exc}"
        print(redact(f"vodtender db migrate: {reason}"), file=sys.stderr)
        return 1
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "schema is up to date")
    return 0


def cmd_copy(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv)
    target = args.target or cfg.db_dsn
    for dsn in (args.source, target):
        password = urlparse(dsn).password if "://" in dsn else None
        if password:
            register_secret(password)
    try:
        result = copy_database(args.source, target, batch=max(1, args.batch), verify=not args.no_verify)
    except CopyError as exc:
        print(f"vodtender: {exc}", file=sys.stderr)
        return 1
    if args.no_verify:
        print(f"copied {result.copied} row(s); not verified")
        return 0
    if not result.verified:
        bad = ", ".join(t.table for t in result.tables if not t.verified)
        print(
            f"copied {result.copied} row(s); VERIFICATION FAILED for: {bad} "
            "(the target holds rows that differ from the source)",
            file=sys.stderr,
        )
        return 1
    print(f"copied {result.copied} row(s); all {len(result.tables)} tables verified (row counts and checksums)")
    return 0
