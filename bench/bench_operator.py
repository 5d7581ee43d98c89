"""Operator tools: online backup against its peers, and `vodtender status` on a big database.

    python3 bench/bench_operator.py [--quick]

Backup peers, on the same database (chat rows like a busy channel's): the sqlite3 shell's
`.backup` (the same API, stepped by the shell) and `VACUUM INTO` (a rewrite).  Each is also run
while a writer commits chat batches, to show how long the writer's commits wait meanwhile.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vodtender.ops.backup import backup_sqlite
from vodtender.ops.status import gather_status
from vodtender.runtime.config import load_config
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatMessage, Vod, utcnow

PEER_TIMEOUT = 60.0  # seconds a peer's backup may take while the writer runs


def build(path: Path, chat_rows: int, vods: int) -> None:
    db = open_database(str(path))
    migrate(db)
    now = time.time()
    batch = 5000
    for start in range(0, chat_rows, batch):
        rows = [
            {
                "msg_id": f"m{i}",
                "channel": f"c{i % 3}",
                "vod_id": str(i % vods),
                "username": f"user{i % 997}",
                "message": "PogChamp what a play " * 3,
                "abs_timestamp": now - (chat_rows - i) * 0.05,
                "tags": "badge-info=;badges=subscriber/12;color=#1E90FF;emotes=;first-msg=0",
            }
            for i in range(start, min(chat_rows, start + batch))
        ]
        with db.atomic():
            ChatMessage.insert_many(rows).execute()
    stages = ("discovered", "downloading", "downloaded", "failed")
    for start in range(0, vods, 500):
        with db.atomic():
            Vod.insert_many(
                [
                    {
                        "twitch_vod_id": str(i),
                        "channel": f"c{i % 3}",
                        "processed": int(i % 5 == 0),
                        "date": utcnow() - dt.timedelta(hours=i),
                        "download_state": stages[i % 4],
                    }
                    for i in range(start, min(vods, start + 500))
                ]
            ).execute()
    db.close()


class Writer:
    """Commits a 50-row chat batch every 20 ms (a chat flood) and records how long each commit took."""

    def __init__(self, path: Path):
        self.path, self.latencies, self._stop = path, [], threading.Event()
        self.prefix = f"w{time.monotonic_ns()}"
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode=wal")
        n = 0
        while not self._stop.is_set():
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO chat_messages (msg_id, channel, username, display_name, message, "
                "abs_timestamp, bits, first_msg, deleted, kind) VALUES (?, 'c0', 'u', 'u', 'hi', ?, "
                "0, 0, 0, 'message')",
                [(f"{self.prefix}-{n}-{i}", time.time()) for i in range(50)],
            )
            conn.execute("COMMIT")
            self.latencies.append(time.perf_counter() - started)
            n += 1
            time.sleep(0.02)
        conn.close()

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn, *args: object) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a small database")
    args = parser.parse_args()
    chat_rows, vods = (100_000, 2_000) if args.quick else (1_000_000, 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db_path = folder / "vodtender.db"
        build(db_path, chat_rows, vods)
        size = db_path.stat().st_size
        print(f"database: {chat_rows} chat rows, {vods} VODs, {size / 2**20:.0f} MiB")
        peers = {
            "vodtender backup (one-step backup API + check)": lambda n: backup_sqlite(
                str(db_path), folder / f"ours{n}", keep=1
            ),
            "sqlite3 shell .backup":  # steps 100 pages at a time: restarts whenever another connection writes
            lambda n: subprocess.run(
                ["sqlite3", str(db_path), f".backup '{folder}/shell{n}.db'"], check=True, timeout=PEER_TIMEOUT
            ),
            "VACUUM INTO": lambda n: sqlite3.connect(db_path).execute(f"VACUUM INTO '{folder}/vac{n}.db'"),
        }
        print(f"{'backup':<50} {'idle s':>8} {'MiB/s':>7} {'with writer s':>14} {'writer p50/max ms':>18}")
        base = None
        for name, run in peers.items():
            idle = statistics.median(timed(run, f"i{k}") for k in range(3))
            with Writer(db_path) as writer:
                time.sleep(0.2)
                try:
                    busy = f"{timed(run, 'w'):.2f}"
                except subprocess.TimeoutExpired:
                    busy = f">{PEER_TIMEOUT:.0f} unfinished"
                time.sleep(0.2)
            lat = sorted(writer.latencies)
            base = base or idle
            print(
                f"{name:<50} {idle:>8.2f} {size / 2**20 / idle:>7.0f} {busy:>14} "
                f"{1000 * lat[len(lat) // 2]:>8.1f}/{1000 * lat[-1]:<8.1f} ratio {idle / base:.2f}"
            )
        cfg = load_config(["--twitch-channel", "c0,c1,c2", "--data-dir", str(folder), "--db-dsn", str(db_path)])
        open_database(str(db_path))
        times = [timed(gather_status, cfg) for _ in range(5)]
        print(f"vodtender status report (gather) on this database: median {1000 * statistics.median(times):.0f} ms")


if __name__ == "__main__":
    main()
