"""`vodtender doctor`: walks the runbook's troubleshooting checklist, one PASS/FAIL line each with the fix.

Exit status 0 when nothing failed (skipped checks do not count), 1 otherwise.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import peewee

from vodtender.cli.common import DatabaseMissing, load_as_operator, open_existing
from vodtender.cli.status_cmd import Palette, add_color_option
from vodtender.clients.google_oauth import CredentialsRevoked, OAuthError, TokenEndpoint
from vodtender.clients.helix import HelixClient, HelixError
from vodtender.pipeline.download.preflight import INSTALL, ToolFinder
from vodtender.pipeline.upload.tokens import TokenCipher, TokenStore, TokenUnreadable
from vodtender.runtime import service_hints as hints
from vodtender.runtime.config import Config, config_dir
from vodtender.runtime.db import open_database, sqlite_path
from vodtender.runtime.logs import setup_logging
from vodtender.runtime.migrations import pending
from vodtender.runtime.options import format_size
from vodtender.runtime.redact import redact, register_config_secrets, register_secret

MAX_CLOCK_SKEW = 60.0  # seconds; OAuth and Helix tolerate about this much


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="check configuration, credentials, tools, disk, database and clock; print the fix for each failure",
    )
    add_color_option(p)
    p.set_defaults(func=cmd_doctor)


@dataclass
class Result:
    name: str
    ok: bool | None  # None: not applicable (skipped)
    detail: str
    fix: str = ""


class Doctor:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.remote_date: float | None = None  # the Date header of Twitch's answer, for the clock check

    def checks(self) -> list[Callable[[], Result]]:
        return [
            self.configuration,
            self.helix_token,
            self.youtube_token,
            self.ytdlp,
            self.ffmpeg,
            self.data_dir,
            self.database,
            self.clock,
        ]

    def run(self) -> list[Result]:
        results = []
        for check in self.checks():
            try:
                results.append(check())
            except Exception as exc:  # a check that breaks is a failed check, never a traceback
                results.append(
                    Result(
                        check.__name__.replace("_", " "),
                        False,
                        f"{type(exc).__name__}: {exc}",
                        "report this with the output of vodtender doctor",
                    )
                )
        return results

    def configuration(self) -> Result:
        problems = self.cfg.all_problems()
        if problems:
            return Result(
                "configuration",
                False,
                "; ".join(map(str, problems)),
                hints.how_to_set([p.env for p in problems if p.env], config_dir())
                + " (check with vodtender config check first)",
            )
        return Result("configuration", True, "no problems")

    def helix_token(self) -> Result:
        cfg = self.cfg
        if not (cfg.twitch_client_id and cfg.twitch_client_secret):
            return Result(
                "helix token",
                False,
                "TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET not set",
                "register an application at the Twitch developer console and "
                + hints.how_to_set(["TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET"], config_dir()),
            )
        client = HelixClient(cfg.twitch_client_id, cfg.twitch_client_secret, cfg.twitch_helix_url, cfg.twitch_auth_url)
        hook = lambda resp, *a, **k: self._note_date(resp)  # noqa: E731
        client.session.hooks["response"].append(hook)
        try:
            token = client.fetch_token()
        except HelixError as exc:
            return Result(
                "helix token",
                False,
                str(exc),
                "check TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET and that "
                f"{cfg.twitch_auth_url} is reachable from this host",
            )
        return Result("helix token", True, f"app token obtained, valid {(token.expires_at - time.time()) / 3600:.0f}h")

    def _note_date(self, resp: object) -> None:
        header = getattr(resp, "headers", {}).get("Date")
        if header:
            self.remote_date = email.utils.parsedate_to_datetime(header).timestamp()

    def youtube_token(self) -> Result:
        cfg = self.cfg
        if not (cfg.yt_client_id and cfg.yt_client_secret):
            return Result("youtube token", None, "YouTube not configured: download-only")
        try:
            open_existing(cfg)
        except DatabaseMissing as exc:
            return Result("youtube token", False, str(exc), "start the daemons once (they create it)")
        fix = "run vodtender auth youtube"
        try:
            token = TokenStore(TokenCipher.for_config(cfg)).load()
        except TokenUnreadable as exc:
            return Result("youtube token", False, str(exc), "set the right ENCRYPTION_KEY, or " + fix)
        if token is None or not token.refresh_token:
            return Result("youtube token", False, "no YouTube token stored", fix)
        if token.invalid_reason:
            return Result("youtube token", False, f"marked invalid: {token.invalid_reason}", fix)
        try:
            grant = TokenEndpoint(cfg.youtube_token_url, cfg.yt_client_id, cfg.yt_client_secret).refresh(
                token.refresh_token
            )
        except CredentialsRevoked as exc:
            return Result("youtube token", False, f"refresh token refused: {exc.error}", fix)
        except OAuthError as exc:
            return Result(
                "youtube token",
                False,
                f"token endpoint: {exc}",
                f"check that {cfg.youtube_token_url} is reachable and YT_CLIENT_ID/SECRET are right",
            )
        register_secret(grant.access_token)
        return Result("youtube token", True, "refresh token accepted")

    def ytdlp(self) -> Result:
        try:
            from yt_dlp.version import __version__ as version
        except ImportError:
            return Result("yt-dlp", False, "the yt_dlp module is missing", "reinstall the vodtender package")
        return Result("yt-dlp", True, f"version {version}")

    def ffmpeg(self) -> Result:
        tools = ToolFinder()  # the downloader's and the recorder's own check
        problems = tools.check()
        if problems:
            return Result("ffmpeg", False, "; ".join(problems), INSTALL)
        return Result("ffmpeg", True, tools.versions())

    def data_dir(self) -> Result:
        folder = self.cfg.data_dir.absolute()
        fix = f"create {folder} writable by the vodtender user, or " + hints.how_to_set(["DATA_DIR"], config_dir())
        # A folder not made yet is the downloader's to create: try its nearest existing parent, create nothing.
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        try:
            with tempfile.NamedTemporaryFile(dir=existing, prefix=".doctor-"):
                pass
        except OSError as exc:
            return Result("data dir", False, f"{existing}: {exc.strerror or exc}", fix)
        free, need = shutil.disk_usage(existing).free, int(self.cfg.download_min_free or 0)
        if free < need:
            return Result(
                "data dir",
                False,
                f"{folder}: only {format_size(free)} free, DOWNLOAD_MIN_FREE is {format_size(need)}",
                "free space, or set RETENTION_MIN_FREE (see OPERATIONS.md)",
            )
        created = "" if existing == folder else f" (not there yet: the downloader creates it; {existing} is writable)"
        return Result("data dir", True, f"{folder}{created or ' writable'}, {format_size(free)} free")

    def database(self) -> Result:
        dsn = self.cfg.db_dsn
        path = sqlite_path(dsn)
        if path is not None and not os.path.exists(path):
            return Result(
                "database",
                False,
                f"no database at {Path(path).resolve()}",
                "check DB_DSN, or start the daemons once: they create it",
            )
        try:
            db = open_database(dsn)
            check = db.execute_sql("PRAGMA quick_check").fetchone()[0] if path is not None else "ok"
            todo = pending(db)
        except (peewee.PeeweeException, sqlite3.Error) as exc:
            return Result("database", False, str(exc), "check DB_DSN and the database server")
        if check != "ok":
            return Result(
                "database",
                False,
                f"integrity: {check}",
                "stop the daemons and restore the newest backup (OPERATIONS.md, Backups)",
            )
        if todo:
            return Result("database", False, f"{len(todo)} migration(s) pending", "vodtender db migrate")
        return Result("database", True, "reachable, integrity ok, schema current")

    def clock(self) -> Result:
        now = time.time()
        if time.gmtime(now).tm_year < 2024:
            return Result(
                "clock",
                False,
                f"system clock says {time.strftime('%Y-%m-%d', time.gmtime(now))}",
                "enable time sync: timedatectl set-ntp true",
            )
        if self.remote_date is None:
            return Result("clock", True, "plausible (no remote time to compare with)")
        skew = now - self.remote_date
        if abs(skew) > MAX_CLOCK_SKEW:
            return Result(
                "clock",
                False,
                f"{skew:+.0f}s off Twitch's time",
                "enable time sync: timedatectl set-ntp true (or check chrony/systemd-timesyncd)",
            )
        return Result("clock", True, f"{skew:+.0f}s from Twitch's time")


def render(results: list[Result], c: Palette) -> str:
    lines = []
    for r in results:
        mark = c.state("PASS") if r.ok else c("dim", "SKIP") if r.ok is None else c.state("FAIL")
        lines.append(f"{mark}  {r.name:<14} {r.detail}")
        if r.ok is False and r.fix:
            lines.append(f"      fix: {r.fix}")
    failed = sum(1 for r in results if r.ok is False)
    lines.append(f"{failed} check(s) failed" if failed else "all checks passed")
    return "\n".join(lines) + "\n"


def cmd_doctor(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_as_operator(config_argv)  # problems are a check's result here, not a reason to stop
    setup_logging("error")
    register_config_secrets(cfg)
    results = Doctor(cfg).run()
    sys.stdout.write(redact(render(results, Palette(args.color))))  # a peer's answer may echo a secret
    return 1 if any(r.ok is False for r in results) else 0
