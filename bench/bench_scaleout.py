"""Scale-out benchmark: claim throughput and chat insert throughput, SQLite vs PostgreSQL, 1/2/4 workers.

    python3 bench/bench_scaleout.py [--quick]

Each worker is a separate process with its own connection, as daemons on several hosts are.
Claims: workers drain a queue of VODs through `vods.claim()` + `vods.release()` (two write
transactions per VOD, the real pipeline path).  Chat: workers insert messages in batches of
`--chat-batch` through `write()` (as the chat recorder does).  A throw-away PostgreSQL cluster
is started on loopback for the run (Debian's server binaries, as in the tests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.postgres import PostgresCluster
from vodtender.pipeline.vods import claim, download_due, release
from vodtender.runtime.db import open_database, write
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatMessage, Vod

WORKERS = (1, 2, 4)


def _claim_worker(dsn: str, start: mp.Barrier, done: mp.Queue) -> None:
    open_database(dsn)
    owner = f"bench:{mp.current_process().pid}"
    start.wait()
    count = 0
    while (vod := claim(download_due(), owner, 60)) is not None:
        release(vod.id, owner, download_state="downloaded")
        count += 1
    done.put(count)


def _chat_worker(dsn: str, start: mp.Barrier, done: mp.Queue, worker: int, messages: int, batch: int) -> None:
    open_database(dsn)
    start.wait()
    for first in range(0, messages, batch):
        rows = [
            {
                "msg_id": f"w{worker}-{i}",
                "channel": "bench",
                "vod_id": "1",
                "username": f"u{i % 97}",
                "message": "PogChamp that was close",
                "abs_timestamp": 1.7e9 + i,
                "rel_timestamp": float(i),
            }
            for i in range(first, min(messages, first + batch))
        ]
        write(lambda rows=rows: ChatMessage.insert_many(rows).execute())
    done.put(messages)


def _run(target, dsn: str, workers: int, *args: object) -> tuple[int, float]:
    """Start `workers` processes, release them together, return (items done, seconds)."""
    ctx = mp.get_context("fork")
    start, done = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=(dsn, start, done, *([n] if args else []), *args)) for n in range(workers)]
    for p in procs:
        p.start()
    start.wait()
    began = time.perf_counter()
    total = sum(done.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    return total, elapsed


def _fresh(kind: str, cluster: PostgresCluster | None, folder: Path, tag: str) -> str:
    if kind == "sqlite":
        dsn = str(folder / f"{tag}.db")
    else:
        assert cluster is not None
        dsn = cluster.dsn(cluster.create_database(tag))
    db = open_database(dsn)
    migrate(db)
    db.close()
    return dsn


def bench_claims(dsn: str, vods: int, workers: int) -> float:
    db = open_database(dsn)
    start = dt.datetime(2026, 1, 1)
    with db.atomic():
        for first in range(0, vods, 500):
            Vod.insert_many(
                [
                    {"twitch_vod_id": str(n), "channel": "c", "date": start + dt.timedelta(minutes=n)}
                    for n in range(first, min(vods, first + 500))
                ]
            ).execute()
    db.close()
    done, seconds = _run(_claim_worker, dsn, workers)
    assert done == vods, f"{done} claims for {vods} VODs"
    return done / seconds


def bench_chat(dsn: str, messages: int, workers: int, batch: int) -> float:
    per_worker = messages // workers
    done, seconds = _run(_chat_worker, dsn, workers, per_worker, batch)
    return done / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (seconds)")
    parser.add_argument("--vods", type=int, help="VODs claimed per run")
    parser.add_argument("--messages", type=int, help="chat messages inserted per run (split over workers)")
    parser.add_argument("--chat-batch", type=int, default=50)
    args = parser.parse_args()
    vods = args.vods or (200 if args.quick else 2000)
    messages = args.messages or (4_000 if args.quick else 100_000)

    cluster = PostgresCluster().start()
    results: dict[tuple[str, str, int], float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
            folder = Path(tmp)
            for kind in ("sqlite", "postgresql"):
                for workers in WORKERS:
                    dsn = _fresh(kind, cluster, folder, f"claims_{workers}")
                    results[("claims/s", kind, workers)] = bench_claims(dsn, vods, workers)
                    dsn = _fresh(kind, cluster, folder, f"chat_{workers}")
                    results[("chat msg/s", kind, workers)] = bench_chat(dsn, messages, workers, args.chat_batch)
    finally:
        cluster.stop()

    print(
        f"\nscale-out benchmark: {vods} VODs claimed+released, {messages} chat messages in batches of "
        f"{args.chat_batch}; one process per worker (note: the CPU may be shared)\n"
    )
    head = f"{'metric':<12} {'database':<11}" + "".join(f"{f'{w} worker(s)':>14}" for w in WORKERS)
    print(head + f"{'x2/x1':>8}{'x4/x1':>8}")
    for metric in ("claims/s", "chat msg/s"):
        for kind in ("sqlite", "postgresql"):
            row = [results[(metric, kind, w)] for w in WORKERS]
            print(
                f"{metric:<12} {kind:<11}"
                + "".join(f"{v:>14,.0f}" for v in row)
                + f"{row[1] / row[0]:>8.2f}{row[2] / row[0]:>8.2f}"
            )
    print("\npostgresql / sqlite at the same worker count:")
    for metric in ("claims/s", "chat msg/s"):
        ratios = "  ".join(
            f"{w}w {results[(metric, 'postgresql', w)] / results[(metric, 'sqlite', w)]:.2f}" for w in WORKERS
        )
        print(f"  {metric:<12} {ratios}")


if __name__ == "__main__":
    main()
