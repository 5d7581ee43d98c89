"""How long each long writer of `vodtender maintenance` keeps the daemons' writes waiting.

    python3 bench/bench_db_locks.py [--mb 200]

A SQLite file of about `--mb` MB (WAL mode, like the service's) with half its pages deleted, so a
vacuum has work.  While each operation runs, a writer thread stands in for the daemons: one short
`BEGIN IMMEDIATE; INSERT; COMMIT` after another.  Printed per operation: how long it ran, the longest
a single write waited meanwhile (what a daemon's loop would have to wait, bounded there by
`bound_lock_waits`), and the WAL's size when it ended.

Operations: a full `VACUUM` (what maintenance did before; now only the one-time conversion of an old
file), the stepped incremental vacuum maintenance runs now, the one-step online backup, `VACUUM INTO`
(for comparison), and the TRUNCATE checkpoint that follows the long writers.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vodtender.cli.maintenance_cmd import incremental_vacuum
from vodtender.ops.backup import backup_sqlite
from vodtender.runtime.db import checkpoint_wal, open_database

ROW_BYTES = 4000


class Writer(threading.Thread):
    """The daemons' stand-in: short write transactions back to back, each one's wait recorded."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path = path
        self.waits: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=600)
        while not self.stop.is_set():
            started = time.monotonic()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO beat (at) VALUES (?)", (started,))
            conn.execute("COMMIT")
            self.waits.append(time.monotonic() - started)
            time.sleep(0.005)
        conn.close()


def make_database(path: Path, mb: int, incremental: bool) -> None:
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    if incremental:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("PRAGMA journal_mode = wal")
    conn.execute("CREATE TABLE blobs (b BLOB)")
    conn.execute("CREATE TABLE beat (at REAL)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO blobs VALUES (randomblob(?))", [(ROW_BYTES,)] * (mb * 1_000_000 // ROW_BYTES))
    conn.execute("COMMIT")
    conn.execute("DELETE FROM blobs WHERE rowid % 2 = 0")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def measure(name: str, path: Path, operation: Callable[[], object]) -> None:
    writer = Writer(path)
    writer.start()
    time.sleep(0.2)
    before = len(writer.waits)
    started = time.monotonic()
    operation()
    took = time.monotonic() - started
    time.sleep(0.2)
    writer.stop.set()
    writer.join()
    waits = writer.waits[before:]
    wal = Path(f"{path}-wal")
    wal_mb = wal.stat().st_size / 1e6 if wal.exists() else 0.0
    print(f"{name:34} {took:7.2f}s  longest write wait {max(waits, default=0):7.3f}s  WAL {wal_mb:7.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the test database before half is deleted")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        print(f"{args.mb} MB database, half of it free pages; a writer commits every ~5 ms meanwhile")

        make_database(path, args.mb, incremental=False)
        full = sqlite3.connect(path, isolation_level=None, timeout=600)
        measure("VACUUM (full, the old way)", path, lambda: full.execute("VACUUM"))
        full.close()

        make_database(path, args.mb, incremental=True)
        db = open_database(str(path))
        measure("incremental vacuum (stepped)", path, lambda: incremental_vacuum(db))
        db.close()

        make_database(path, args.mb, incremental=True)
        measure("online backup + checkpoint", path, lambda: backup_sqlite(str(path), Path(tmp) / "b", keep=1))
        into = sqlite3.connect(path, isolation_level=None, timeout=600)
        measure("VACUUM INTO (for comparison)", path, lambda: into.execute("VACUUM INTO ?", (f"{tmp}/into.db",)))
        into.close()

        grower = sqlite3.connect(path, isolation_level=None)  # kept open: closing the last one checkpoints
        grower.execute("PRAGMA wal_autocheckpoint = 0")  # let the WAL grow, as under a long reader
        grower.execute("UPDATE blobs SET b = randomblob(?)", (ROW_BYTES,))
        measure("checkpoint (TRUNCATE) of that WAL", path, lambda: checkpoint_wal(str(path)))
        grower.close()


if __name__ == "__main__":
    main()
