"""The chat recorder under a flood of real Twitch chat, side by side with its peers on this machine.

    python3 bench/bench_chat.py            # 60 s per rate: 5k, 10k, 20k, 30k, 40k, 60k msg/s
    python3 bench/bench_chat.py --quick    # 5 s per rate: 5k, 20k, 40k msg/s

The Twitch-like stand-in (tests/standins/irc.py) replays bench_chat.txt (real busy-channel lines,
fresh ids, `tmi-sent-ts` = the moment of sending) to the recorder, a real `vodtender chat`
process writing to SQLite, at increasing rates, one channel per rate, while a downloader-like
writer updates a VOD's progress every second in the same database.  Per rate: the rate the
stand-in could actually push (TCP back-pressure slows it when the recorder lags), rows lost,
p50/p99 latency from send to commit (commit seen by polling every 50 ms), and the recorder's
RSS.  Then the peers:
  raw reader   the stand-in pushing to a socket reader that only counts lines (the ceiling)
  irc parse    the `irc` library's bare parse of the same lines (regex, tags, arguments), one core
  irc client   the library's whole incoming path (ServerConnection._process_line: parse + events)
  own parse    vodtender's parse_line + ChatEventBuilder (its hot path), one core
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import os
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.processes import DaemonProcess, base_env  # noqa: E402
from tests.standins.irc import TwitchIrcStandin, load_irc_lines  # noqa: E402

LINES = load_irc_lines("bench_chat.txt")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parse_rates(seconds: float = 2.0) -> dict[str, float]:
    """Lines per second, one core, for the library's paths and ours."""
    import irc.client
    from irc import message

    from vodtender.clients.irc_lines import parse_line
    from vodtender.pipeline.chat.events import ChatEventBuilder

    regexp = irc.client._rfc_1459_command_regexp

    def library_parse(line: str) -> None:
        grp = regexp.match(line).group
        irc.client.NickMask.from_group(grp("prefix"))
        message.Arguments.from_group(grp("argument"))
        message.Tag.from_group(grp("tags"))

    connection = irc.client.Reactor().server()
    connection.real_server_name, connection.real_nickname = "tmi.twitch.tv", "justinfan1"  # as connect() sets
    connection.handlers = {}
    builder = ChatEventBuilder()

    def own(line: str) -> None:
        builder.build(parse_line(line), line, 1.0)

    rates = {}
    for name, fn in (("irc parse", library_parse), ("irc client", connection._process_line), ("own parse", own)):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for line in LINES:
                fn(line)
            count += len(LINES)
        rates[name] = count / (time.perf_counter() - started)
    return rates


def raw_reader_rate(server: TwitchIrcStandin, count: int) -> float:
    """The stand-in flooding a reader that only counts lines."""
    sock = socket.create_connection(server.address)
    sock.sendall(b"NICK justinfan1\r\nJOIN #rawbench\r\n")
    server.wait_joined("rawbench")
    replay = server.replay(LINES, "rawbench", count=count, fresh_ids=True, fresh_ts=True)
    seen, started = 0, None
    while seen < count:
        data = sock.recv(1 << 20)
        if started is None and replay.sent:
            started = time.perf_counter()
        seen += data.count(b"\n")  # a few welcome/JOIN lines are counted too: negligible
    elapsed = time.perf_counter() - (started or time.perf_counter())
    sock.close()
    return count / max(elapsed, 1e-6)


class ProgressWriter(threading.Thread):
    """A downloader-like writer: one VOD's progress updated every second, in its own transaction."""

    def __init__(self, db_path: Path):
        super().__init__(daemon=True)
        self.db_path = db_path
        self.stop = threading.Event()
        self.slowest = 0.0

    def run(self) -> None:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        db.execute(
            "INSERT OR IGNORE INTO vods (twitch_vod_id, channel, title, description, duration_seconds, type, "
            "is_placeholder, helix_missing, priority, processed, cancel_requested, download_state, "
            "download_retries, download_bytes, download_total, download_speed, upload_retries, upload_offset, "
            f"created_at, updated_at) VALUES ('bench', 'bench', '', '', 0, 'archive', 0, 0, 0, 0, 0, "
            f"'downloading', 0, 0, 0, 0, 0, 0, '{now}', '{now}')"
        )
        done = 0
        while not self.stop.wait(1.0):
            started = time.perf_counter()
            done += 12_000_000
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "UPDATE vods SET download_bytes = ?, progress_updated_at = datetime('now') "
                "WHERE twitch_vod_id = 'bench'",
                (done,),
            )
            db.execute("COMMIT")
            self.slowest = max(self.slowest, time.perf_counter() - started)


class CommitWatcher(threading.Thread):
    """Polls the highest committed row id every 50 ms: (time, max id) pairs to date each row's commit."""

    def __init__(self, db_path: Path):
        super().__init__(daemon=True)
        self.db_path = db_path
        self.stop = threading.Event()
        self.times: list[float] = []
        self.max_ids: list[int] = []

    def run(self) -> None:
        db = sqlite3.connect(self.db_path, timeout=30)
        while not self.stop.wait(0.05):
            top = db.execute("SELECT coalesce(max(id), 0) FROM chat_messages").fetchone()[0]
            self.times.append(time.time())
            self.max_ids.append(top)

    def committed_at(self, row_id: int) -> float | None:
        index = bisect.bisect_left(self.max_ids, row_id)
        return self.times[index] if index < len(self.times) else None


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_rate(
    server: TwitchIrcStandin, db_path: Path, watcher: CommitWatcher, channel: str, rate: int, seconds: float
) -> dict:
    count = int(rate * seconds)
    server.wait_joined(channel, timeout=60)
    replay = server.replay(LINES, channel, rate=rate, count=count, fresh_ids=True, fresh_ts=True)
    replay.wait(seconds * 20 + 60)
    pushed = count / (replay.finished_at - replay.started_at)
    db = sqlite3.connect(db_path, timeout=30)
    deadline, last, stored = time.monotonic() + 30, -1, 0
    while time.monotonic() < deadline:
        stored = db.execute("SELECT count(*) FROM chat_messages WHERE channel = ?", (channel,)).fetchone()[0]
        if stored >= count:
            break
        if stored != last:
            last, deadline = stored, time.monotonic() + 30
        time.sleep(0.1)
    time.sleep(0.2)
    rows = db.execute("SELECT id, abs_timestamp FROM chat_messages WHERE channel = ?", (channel,)).fetchall()
    latencies = sorted(at - sent for row_id, sent in rows if (at := watcher.committed_at(row_id)) is not None)
    db.close()
    return {
        "rate": rate,
        "pushed": pushed,
        "lost": count - stored,
        "p50": quantile(latencies, 0.50),
        "p99": quantile(latencies, 0.99),
        "mean": statistics.fmean(latencies) if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s per rate, three rates")
    parser.add_argument("--seconds", type=float, help="seconds per rate (default 60, quick 5)")
    parser.add_argument("--rates", help="comma separated msg/s")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 60.0)
    rates = (
        [int(r) for r in args.rates.split(",")]
        if args.rates
        else ([5000, 20000, 40000] if args.quick else [5000, 10000, 20000, 30000, 40000, 60000])
    )
    channels = [f"bench{rate}" for rate in rates]
    print(
        f"chat recorder benchmark: {seconds:.0f} s per rate, rates {rates} msg/s, "
        f"{len(LINES)} real lines (~{sum(map(len, LINES)) / len(LINES):.0f} B each) cycled with fresh ids"
    )
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp, TwitchIrcStandin() as server:
        workdir = Path(tmp)
        (workdir / "etc").mkdir()
        db_path = workdir / "vodtender.db"
        env = base_env(
            workdir,
            TWITCH_CHANNEL=",".join(channels),
            TWITCH_IRC_ADDR=f"127.0.0.1:{server.port}",
            TWITCH_IRC_TLS="0",
            DB_DSN=str(db_path),
            LOG_LEVEL="warning",
        )
        chat = DaemonProcess("chat", workdir, env=env).start()
        results, rss, cpu_per_msg = [], [], []
        progress, watcher = ProgressWriter(db_path), CommitWatcher(db_path)
        try:
            for channel in channels:
                server.wait_joined(channel, timeout=60)
            progress.start()
            watcher.start()
            rss.append(rss_mib(chat.proc.pid))
            print(
                f"{'target/s':>9} {'pushed/s':>9} {'lost':>6} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>8} "
                f"{'CPU us/msg':>10}  sustained"
            )
            for rate, channel in zip(rates, channels, strict=True):
                cpu_before = cpu_seconds(chat.proc.pid)
                result = run_rate(server, db_path, watcher, channel, rate, seconds)
                cpu_per_msg.append((cpu_seconds(chat.proc.pid) - cpu_before) / (rate * seconds))
                rss.append(rss_mib(chat.proc.pid))
                result["ok"] = result["lost"] == 0 and result["pushed"] >= 0.95 * rate and result["p99"] < 1.0
                results.append(result)
                print(
                    f"{rate:>9} {result['pushed']:>9.0f} {result['lost']:>6} {result['p50'] * 1000:>7.0f} "
                    f"{result['p99'] * 1000:>7.0f} {rss[-1]:>8.1f} {cpu_per_msg[-1] * 1e6:>10.1f}  "
                    f"{'yes' if result['ok'] else 'no'}"
                )
                if not result["ok"]:
                    break
        finally:
            progress.stop.set()
            watcher.stop.set()
            chat.stop(timeout=120)
            chat.kill()
        best = max((r["pushed"] for r in results if r["ok"]), default=0.0)
        lossless = max((r["pushed"] for r in results if r["lost"] == 0), default=0.0)
        raw = raw_reader_rate(server, 2_000_000 if not args.quick else 500_000)
    peers = parse_rates(1.0 if args.quick else 3.0)
    print(f"\nhighest rate sustained with zero loss and p99 < 1 s: {best:,.0f} msg/s (target >= 20,000)")
    print(f"highest rate received with zero loss (any latency): {lossless:,.0f} msg/s")
    print(f"recorder RSS over the run: {' -> '.join(f'{r:.0f}' for r in rss)} MiB (peak {max(rss):.0f} MiB)")
    print(f"downloader-like progress writer: slowest update {progress.slowest * 1000:.0f} ms")
    cheapest = min(cpu_per_msg)
    print(
        f"recorder CPU per message (reader + writer + SQLite): {cheapest * 1e6:.1f} us at best, i.e. "
        f"{1 / cheapest:,.0f} msg/s per fully available core; machine load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print(f"\n{'path':<28} {'lines/s':>12} {'recorder / path':>16}")
    print(f"{'recorder, sustained':<28} {best:>12,.0f} {'1.00':>16}")
    print(f"{'raw socket reader':<28} {raw:>12,.0f} {best / raw:>16.3f}")
    for name, value in peers.items():
        print(f"{name + ' (one core)':<28} {value:>12,.0f} {best / value:>16.3f}")


if __name__ == "__main__":
    main()
