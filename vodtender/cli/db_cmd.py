"""`vodtender db migrate`: bring the database schema up to date (daemons also do it at start-up)."""

from __future__ import annotations

import argparse

from vodtender.cli.common import load_or_exit
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate, pending


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database schema")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    m = dbsub.add_parser("migrate", help="apply pending schema migrations")
    m.add_argument("--dry-run", action="store_true", help="list pending migrations, change nothing")
    m.set_defaults(func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv)
    db = open_database(cfg.db_dsn)
    if args.dry_run:
        names = pending(db)
        print("\n".join(names) if names else "schema is up to date")
        return 0
    applied = migrate(db)
    print(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "schema is up to date")
    return 0
