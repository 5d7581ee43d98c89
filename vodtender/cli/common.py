"""Helpers shared by the operator commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import peewee

from vodtender.runtime.config import Config, load_config
from vodtender.runtime.db import describe_dsn, open_database, sqlite_path
from vodtender.runtime.installation import this_installation
from vodtender.runtime.logs import register_secret, setup_logging
from vodtender.runtime.migrations import migrate


def load_or_exit(config_argv: Sequence[str], *, quiet_logs: bool = True) -> Config:
    """Configuration for a one-shot command; a value that does not parse stops it with exit 2."""
    cfg = load_as_operator(config_argv)
    setup_logging("warning" if quiet_logs else (cfg.log_level or "info"))
    for secret in cfg.secrets():
        register_secret(secret)
    if cfg.problems:
        for problem in cfg.problems:
            print(f"vodtender: {problem}", file=sys.stderr)
        raise SystemExit(2)
    return cfg


def load_as_operator(config_argv: Sequence[str]) -> Config:
    """The configuration the installation's units read (the root-only credential store included),
    then, run as root on an installation, the archive owner's identity for the rest of the command."""
    cfg = load_config(config_argv)
    installation = this_installation()
    if installation:
        installation.become_owner()
    return cfg


def open_migrated(cfg: Config) -> peewee.Database:
    db = open_database(cfg.db_dsn)
    migrate(db)
    return db


class DatabaseMissing(OSError):
    pass


def open_existing(cfg: Config) -> peewee.Database:
    """The database of a running installation; a missing SQLite file is an error, not created."""
    path = sqlite_path(cfg.db_dsn)
    if path is not None and not os.path.exists(path):
        raise DatabaseMissing(f"no database at {describe_dsn(cfg.db_dsn)}")
    return open_migrated(cfg)
