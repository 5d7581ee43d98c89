"""Online backups of the SQLite database, consistent while the daemons keep writing.

SQLite's backup API copies the database page by page.  Done in one step it holds a
single read transaction for the whole copy: in WAL mode writers go on meanwhile, and the
copy is the database exactly as of the moment the step started (a stepped backup would
restart whenever another process writes).  The copy is written under a temporary name,
switched to a self-contained rollback-journal file, checked, then renamed, so a file named
`vodtender-*.db` in the backup folder is always a complete, checked backup.  A copy that fails is
removed, and one a killed run left behind goes at the next backup.  Backups are 0600 (and their
folder 0700 when created) whatever the umask: they hold everything the database holds.

The one step holds a read transaction, never the write lock: the daemons' writes go on (see
bench/bench_db_locks.py).  It keeps SQLite from recycling the WAL meanwhile, so the WAL is
checkpointed and truncated afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from vodtender.runtime.db import SQLITE_BUSY_TIMEOUT_MS, checkpoint_wal
from vodtender.runtime.files import private_mask

PREFIX, SUFFIX, PARTIAL = "vodtender-", ".db", ".partial"


def _file_mode() -> int:
    """0600, or 0640 under systemd (group vodtender reads): `runtime/files.py`'s rule."""
    return 0o666 & ~private_mask()


def _folder_mode() -> int:
    return 0o777 & ~private_mask()


class BackupError(RuntimeError):
    pass


@dataclass
class BackupResult:
    path: Path
    size: int
    seconds: float
    removed: list[Path]


def default_backup_dir(db_path: str, backup_dir: str | None) -> Path:
    """BACKUP_DIR, or `backups/` beside the database (the state directory under systemd)."""
    return Path(backup_dir) if backup_dir else Path(db_path).resolve().parent / "backups"


def backups_in(folder: Path) -> list[Path]:
    """Complete backups, oldest first (names sort by time)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX))


def backup_sqlite(db_path: str, folder: Path, keep: int, now: dt.datetime | None = None) -> BackupResult:
    """Copy the live database into `folder`, check the copy, keep the newest `keep` backups."""
    started = time.monotonic()
    if not folder.is_dir():
        folder.mkdir(parents=True)
        folder.chmod(_folder_mode())
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    final = folder / f"{PREFIX}{stamp}{SUFFIX}"
    remove_partials(folder)
    partial = folder / f".{final.name}{PARTIAL}"
    try:
        _copy_checked(db_path, partial)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    checkpoint_wal(db_path)
    removed = rotate(folder, keep)
    return BackupResult(final, final.stat().st_size, time.monotonic() - started, removed)


def _copy_checked(db_path: str, partial: Path) -> None:
    """The snapshot into `partial`, a private file from its first byte, checked and synced."""
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _file_mode())
    os.fchmod(fd, _file_mode())  # the umask may have taken more away; SQLite's journal copies this mode
    os.close(fd)
    source = sqlite3.connect(db_path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    target = sqlite3.connect(partial)
    try:
        source.backup(target, pages=-1)  # one step: one consistent snapshot
        target.execute("PRAGMA journal_mode=DELETE")  # a single file, no -wal beside it
        check = target.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the backup copy fails quick_check: {check}")
    finally:
        target.close()
        source.close()
    with open(partial, "rb") as f:
        os.fsync(f.fileno())


def remove_partials(folder: Path) -> list[Path]:
    """Unfinished copies a killed or failed run left behind (one backup runs at a time: the timer's)."""
    partials = [p for p in folder.iterdir() if p.name.startswith(f".{PREFIX}") and PARTIAL in p.name]
    for path in partials:  # `.partial` and SQLite's `.partial-journal` beside it
        path.unlink(missing_ok=True)
    return partials


def rotate(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups (at least one is always kept)."""
    old = backups_in(folder)[: -max(1, keep)]
    for path in old:
        path.unlink(missing_ok=True)
    return old
