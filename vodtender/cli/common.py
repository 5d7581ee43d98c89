"""Helpers shared by the operator commands."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import peewee

from vodtender.runtime.config import Config, load_config
from vodtender.runtime.db import open_database
from vodtender.runtime.logs import register_secret, setup_logging
from vodtender.runtime.migrations import migrate


def load_or_exit(config_argv: Sequence[str], *, quiet_logs: bool = True) -> Config:
    """Configuration for a one-shot command; a value that does not parse stops it with exit 2."""
    cfg = load_config(config_argv)
    setup_logging("warning" if quiet_logs else (cfg.log_level or "info"))
    for secret in cfg.secrets():
        register_secret(secret)
    if cfg.problems:
        for problem in cfg.problems:
            print(f"vodtender: {problem}", file=sys.stderr)
        raise SystemExit(2)
    return cfg


def open_migrated(cfg: Config) -> peewee.Database:
    db = open_database(cfg.db_dsn)
    migrate(db)
    return db
