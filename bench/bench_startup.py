"""Start-up cost: how long `vodtender --help` and `vodtender status` take, and what an idle daemon holds.

    python3 bench/bench_startup.py [--runs N] [--baseline DIR]

Each command is a whole new process (`python -m vodtender ...`), timed from spawn to exit; the
median of N runs is the figure to quote.  An idle daemon is each of the four started on an empty
database with nothing to do (Helix and IRC pointed at a closed loopback port, no YouTube
credentials), its resident set read from /proc once /healthz answers and it has run a few loops.

`--baseline DIR` runs the same measurements, alternating run by run, against another checkout of
the source tree (e.g. `git worktree add /tmp/before <commit>`): its package is put first on
PYTHONPATH, so both run with this interpreter and these libraries, and the ratios are side by side.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DAEMONS = ("poller", "downloader", "uploader", "chat")
SETTLE_SECONDS = 3.0  # after /healthz answers: let the daemon run its first steps before RSS is read


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tree:
    """One source tree to measure: its package first on PYTHONPATH, its own empty state folder."""

    def __init__(self, label: str, source: Path, work: Path):
        self.label = label
        self.source = source
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        (work / "etc").mkdir(exist_ok=True)
        closed = f"127.0.0.1:{free_port()}"  # nothing listens there: clients back off, daemons stay idle
        self.env = {
            **os.environ,
            "PYTHONPATH": str(source),
            "VODTENDER_CONFIG_DIR": str(work / "etc"),
            "DB_DSN": str(work / "vodtender.db"),
            "DATA_DIR": str(work / "data"),
            "TWITCH_CHANNEL": "somechannel",
            "TWITCH_CLIENT_ID": "bench-client-id",
            "TWITCH_CLIENT_SECRET": "bench-client-secret",
            "TWITCH_HELIX_URL": f"http://{closed}/helix",
            "TWITCH_AUTH_URL": f"http://{closed}/oauth2",
            "TWITCH_IRC_ADDR": closed,
            "TWITCH_IRC_TLS": "0",
        }
        self.command("db", "migrate")

    def command(self, *args: str) -> float:
        """Run `vodtender ARGS` to completion; its wall time in seconds."""
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "vodtender", *args],
            env=self.env,
            cwd=self.work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        elapsed = time.perf_counter() - started
        if done.returncode not in (0, 1):  # 1: `status` found something that needs attention (no daemons)
            raise RuntimeError(f"{self.label}: vodtender {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return elapsed

    def idle_rss(self, daemon: str) -> float:
        """Resident set (MiB) of `vodtender DAEMON` once it is up and idle."""
        port = free_port()
        env = {**self.env, f"{daemon.upper()}_HTTP_ADDR": f"127.0.0.1:{port}"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "vodtender", daemon],
            env=env,
            cwd=self.work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise RuntimeError(f"{self.label} {daemon}: /healthz never answered")
            time.sleep(SETTLE_SECONDS)
            return _rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _row(label: str, values: list[float], unit: str) -> str:
    return (
        f"  {label:<28} median {statistics.median(values):8.3f} {unit}   "
        f"min {min(values):8.3f}   max {max(values):8.3f}   (n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="runs per command and tree (default 9)")
    parser.add_argument("--rss-runs", type=int, default=3, help="starts per daemon and tree (default 3)")
    parser.add_argument("--baseline", type=Path, help="another source tree to measure alongside this one")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vodtender-bench-startup-") as tmp:
        trees = [Tree("this tree", Path(__file__).resolve().parents[1], Path(tmp, "current"))]
        if args.baseline:
            trees.append(Tree("baseline", args.baseline.resolve(), Path(tmp, "baseline")))
        figures: dict[tuple[str, str], list[float]] = {}
        for tree in trees:  # warm the page cache and the .pyc files once
            tree.command("--help")
            tree.command("status")
        for _ in range(args.runs):
            for tree in trees:
                for name, argv in (("vodtender --help", ("--help",)), ("vodtender status", ("status",))):
                    figures.setdefault((tree.label, name), []).append(tree.command(*argv) * 1000)
        for _ in range(args.rss_runs):
            for tree in trees:
                for daemon in DAEMONS:
                    figures.setdefault((tree.label, f"idle {daemon} RSS"), []).append(tree.idle_rss(daemon))

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    names = list(dict.fromkeys(name for _, name in figures))
    for tree in trees:
        print(tree.label, tree.source)
        for name in names:
            print(_row(name, figures[(tree.label, name)], "MiB" if "RSS" in name else "ms"))
    if len(trees) == 2:
        print("ratio this tree / baseline (medians)")
        for name in names:
            ours = statistics.median(figures[("this tree", name)])
            theirs = statistics.median(figures[("baseline", name)])
            print(f"  {name:<28} {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
