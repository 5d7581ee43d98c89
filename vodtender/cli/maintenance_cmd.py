"""`vodtender maintenance` (what vodtender-maintenance.timer runs) and `vodtender retention`.

maintenance: integrity check -> online backup with rotation -> retention -> optimize
(a vacuum when enough of the file is free pages) -> the WAL checkpointed and truncated.

None of it holds the write lock for long (bench/bench_db_locks.py measures it): the integrity check
and the backup only read; retention deletes one file per short write transaction; the vacuum is
incremental, a few thousand pages per write transaction, so the daemons' writes go on between the
steps.  A database made before auto_vacuum=INCREMENTAL gets it through one full VACUUM, the first
time a vacuum is due: the last one that holds the write lock throughout.  A failed integrity check is loud: an
error line in the journal, `vodtender_maintenance_integrity_ok 0` in the metrics file,
the `maintenance_integrity` key that `vodtender status` reports, exit status 1, and
nothing else runs (no backup of a damaged database rotates a good one away, no file is
deleted on the word of a damaged database).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

import peewee
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from vodtender.cli.commands import summary
from vodtender.cli.common import load_or_exit, open_migrated
from vodtender.ops.backup import BackupError, backup_sqlite, default_backup_dir
from vodtender.ops.retention import Plan, Policy, Retention
from vodtender.ops.status import iso
from vodtender.pipeline import kv
from vodtender.pipeline.kv import kv_set
from vodtender.runtime.config import Config
from vodtender.runtime.db import SQLITE_BUSY_TIMEOUT_MS, checkpoint_wal, retry_on_busy, sqlite_path
from vodtender.runtime.logs import get_logger
from vodtender.runtime.options import format_size

log = get_logger("maintenance")
VACUUM_STEP_PAGES = 1000  # pages an incremental vacuum step frees in one write transaction (4 MB of 4 KiB)
AUTO_VACUUM_INCREMENTAL = 2  # PRAGMA auto_vacuum's value


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("maintenance", help=summary("maintenance"))
    m.add_argument(
        "--dry-run", action="store_true", help="check integrity and show what retention would delete; change nothing"
    )
    m.add_argument(
        "--vacuum",
        choices=("auto", "always", "never"),
        default="auto",
        help="auto: only when MAINTENANCE_VACUUM_MIN_FREE_PAGES of the file is free (default)",
    )
    m.add_argument("--no-backup", action="store_true", help="skip the backup")
    m.add_argument("--no-retention", action="store_true", help="skip retention")
    m.set_defaults(func=cmd_maintenance)
    r = sub.add_parser("retention", help=summary("retention"))
    r.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    r.set_defaults(func=cmd_retention)


class Results:
    """The maintenance metrics, written as one textfile for node_exporter when configured."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        gauge = lambda name, text: Gauge(name, text, registry=self.registry)  # noqa: E731
        self.integrity_ok = gauge("vodtender_maintenance_integrity_ok", "1 if the last integrity check passed")
        self.last_run = gauge("vodtender_maintenance_last_run_timestamp_seconds", "when maintenance last ran")
        self.duration = gauge("vodtender_maintenance_duration_seconds", "how long the last maintenance run took")
        self.backup_time = gauge("vodtender_backup_last_success_timestamp_seconds", "when the last backup completed")
        self.backup_size = gauge("vodtender_backup_size_bytes", "size of the last backup")
        self.deleted = gauge("vodtender_retention_deleted_files", "files deleted by the last retention run")
        self.freed = gauge("vodtender_retention_freed_bytes", "bytes freed by the last retention run")

    def write(self, path: str | None) -> None:
        if not path:
            return
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            write_to_textfile(path, self.registry)
        except OSError as exc:
            log.error("metrics file not written", path=path, error=str(exc))


def integrity_problems(db_path: str) -> list[str]:
    """`PRAGMA integrity_check` on its own connection; [] when the database is sound."""
    try:
        conn = sqlite3.connect(db_path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def optimize(db: peewee.Database, vacuum: str, min_free_ratio: float) -> None:
    db.execute_sql("PRAGMA optimize")
    pages = db.execute_sql("PRAGMA page_count").fetchone()[0]
    free = db.execute_sql("PRAGMA freelist_count").fetchone()[0]
    if vacuum == "never" or (vacuum == "auto" and (not pages or free / pages < min_free_ratio)):
        log.info("vacuum skipped", free_pages=free, pages=pages)
        return
    started = time.monotonic()
    if db.execute_sql("PRAGMA auto_vacuum").fetchone()[0] == AUTO_VACUUM_INCREMENTAL:
        steps = incremental_vacuum(db)
    else:
        log.info("converting the database to incremental vacuum: one full VACUUM, the daemons wait meanwhile")
        db.execute_sql("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect through this VACUUM
        db.execute_sql("VACUUM")
        steps = 1
    log.info(
        "vacuum done",
        pages_before=pages,
        free_pages_before=free,
        steps=steps,
        seconds=f"{time.monotonic() - started:.1f}",
    )


def incremental_vacuum(db: peewee.Database) -> int:
    """Give the free pages back to the file system, `VACUUM_STEP_PAGES` per write transaction: each step
    holds the write lock for milliseconds.  Returns the number of steps."""
    step = f"PRAGMA incremental_vacuum({VACUUM_STEP_PAGES})"
    steps = 0
    while db.execute_sql("PRAGMA freelist_count").fetchone()[0]:
        # One statement, its own write transaction; executescript runs it to the end (execute would
        # free one page: the pragma frees a page per step of the statement).
        retry_on_busy(lambda: db.connection().executescript(step))
        steps += 1
    return steps


def print_plan(plan: Plan, dry_run: bool) -> None:
    verb = "would delete" if dry_run else "deleting"
    for r in plan.removals:
        print(f"{verb} {r.twitch_vod_id} ({r.channel}) {format_size(r.size)} {r.path}: {r.reason}")
    for vod_id in plan.kept_not_uploaded:
        print(f"keeping {vod_id}: not uploaded yet (or uploading is off and RETENTION_WITHOUT_UPLOAD=0)")
    print(
        f"retention: {len(plan.removals)} file(s), {format_size(plan.bytes)}; free space "
        f"{format_size(plan.free_before)} -> {format_size(plan.free_after)}"
    )


def run_retention(cfg: Config, dry_run: bool, results: Results) -> None:
    if not Policy.any_active(cfg):
        log.info("retention off (RETENTION_KEEP_DAYS, RETENTION_KEEP_COUNT and RETENTION_MIN_FREE are 0)")
        return

    def channel_policy(channel: str) -> Policy:
        return Policy.from_config(cfg.for_channel(channel))

    retention = Retention(Policy.from_config(cfg), cfg.data_dir, channel_policy=channel_policy)
    plan = retention.plan()
    print_plan(plan, dry_run)
    if dry_run:
        return
    done = retention.apply(plan)
    results.deleted.set(len(done))
    results.freed.set(sum(r.size for r in done))
    log.info("retention done", files=len(done), bytes=sum(r.size for r in done))


def cmd_retention(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv, quiet_logs=False)
    open_migrated(cfg)
    run_retention(cfg, args.dry_run, Results())
    db_path = sqlite_path(cfg.db_dsn)
    if db_path is not None and not args.dry_run:
        checkpoint_wal(db_path)
    return 0


def cmd_maintenance(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv, quiet_logs=False)
    started = time.monotonic()
    results = Results()
    db_path = sqlite_path(cfg.db_dsn)
    if db_path is not None:
        problems = integrity_problems(db_path)
        results.integrity_ok.set(0 if problems else 1)
        if problems:
            log.error(
                "database integrity check FAILED: stop the daemons and restore the newest backup (see OPERATIONS.md)",
                path=db_path,
                problems=len(problems),
                first="; ".join(problems[:5]),
            )
            _record(cfg, results, started, integrity="failed: " + "; ".join(problems[:3]))
            return 1
        log.info("integrity check ok", path=db_path)
    db = open_migrated(cfg)
    failed = False
    if db_path is not None and not (args.no_backup or args.dry_run):
        try:
            result = backup_sqlite(db_path, default_backup_dir(db_path, cfg.backup_dir), cfg.backup_keep)
            results.backup_time.set(time.time())
            results.backup_size.set(result.size)
            kv_set(kv.BACKUP_LAST_AT_KEY, iso(time.time()))
            kv_set(kv.BACKUP_LAST_PATH_KEY, str(result.path))
            log.info(
                "backup written",
                path=str(result.path),
                bytes=result.size,
                seconds=f"{result.seconds:.1f}",
                rotated_out=len(result.removed),
            )
        except (OSError, sqlite3.Error, BackupError) as exc:
            failed = True
            log.error("backup failed", error=str(exc))
    if not args.no_retention:
        run_retention(cfg, args.dry_run, results)
    if db_path is not None and not args.dry_run:
        optimize(db, args.vacuum, cfg.maintenance_vacuum_min_free_pages)
        checkpoint_wal(db_path)
    elif db_path is None:
        db.execute_sql("ANALYZE")  # PostgreSQL: integrity, backups and vacuum are the server's (pg_dump)
    if not args.dry_run:
        _record(cfg, results, started, integrity="ok" if db_path else None)
    return 1 if failed else 0


def _record(cfg: Config, results: Results, started: float, integrity: str | None) -> None:
    results.last_run.set(time.time())
    results.duration.set(time.monotonic() - started)
    results.write(cfg.maintenance_metrics_file)
    try:
        open_migrated(cfg)
        kv_set(kv.MAINTENANCE_LAST_RUN_KEY, iso(time.time()))
        if integrity:
            kv_set(kv.MAINTENANCE_INTEGRITY_KEY, integrity)
    except (peewee.PeeweeException, sqlite3.Error) as exc:  # a damaged database may refuse even this
        print(f"vodtender maintenance: result not recorded in the database: {exc}", file=sys.stderr)
