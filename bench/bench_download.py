"""Download one loopback HLS VOD with vodtender and its peers, side by side.

    python3 bench/bench_download.py            # 2,000 x 10 s segments (about 5 GB)
    python3 bench/bench_download.py --quick    # 200 segments

Contenders, each as its own process, writing to --out-dir (tmpfs by default):
  limit       a plain concurrent fetch of every segment into one file (8 threads, keep-alive, pwrite at
              offsets known in advance): the I/O limit
  vodtender   the downloader daemon, from claim to `downloaded` (resolve, fetch, verify, rename)
  yt-dlp      the yt-dlp CLI with -N 8 (its HLS downloader plus its remux to .mp4)
  streamlink  streamlink with 8 segment threads (if installed)
  ffmpeg      ffmpeg -i playlist -c copy
Printed: wall time, throughput, peak RSS (process tree), and the ratio to the limit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.standins.hls import PLAYLIST, HlsServer, segment_paths  # noqa: E402
from vodtender.runtime.db import open_database  # noqa: E402
from vodtender.runtime.migrations import migrate  # noqa: E402
from vodtender.runtime.models import Vod  # noqa: E402

VOD_ID = "4242"


def make_bench_vod(folder: Path, segments: int) -> Path:
    """A long VOD cheaply: encode one minute, then loop it with -c copy into 10 s segments."""
    playlist = folder / PLAYLIST
    if playlist.exists():
        return playlist
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "base.ts"
    print(f"making a {segments}-segment VOD in {folder} (once) ...", flush=True)
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "2M",
            "-maxrate",
            "2M",
            "-bufsize",
            "4M",
            "-g",
            "60",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-f",
            "mpegts",
            str(base),
        ],
        check=True,
    )
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-stream_loop",
            str(math.ceil(segments / 6)),
            "-i",
            str(base),
            "-c",
            "copy",
            "-t",
            str(segments * 10),
            "-f",
            "hls",
            "-hls_time",
            "10",
            "-hls_list_size",
            "0",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
            str(folder / "%d.ts"),
            str(folder / "building.m3u8"),
        ],
        check=True,
    )
    base.unlink()
    (folder / "building.m3u8").rename(playlist)
    return playlist


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants (0 if gone)."""
    total = 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        total += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += tree_rss(int(child))
    except (OSError, StopIteration, ValueError):
        pass
    return total


class Watch:
    """Polls a process tree's RSS until stopped; keeps the peak."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, tree_rss(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_command(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    began = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    watch = Watch(proc.pid)
    _, err = proc.communicate()
    wall = time.monotonic() - began
    peak = watch.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-500:]}")
    return wall, peak


def run_vodtender(server: HlsServer, out: Path) -> tuple[float, int, Path]:
    db_path = out / "bench.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VODTENDER_CONFIG_DIR": str(out / "etc"),
        "DB_DSN": str(db_path),
        "DATA_DIR": str(out / "data"),
        "TWITCH_VOD_URL_TEMPLATE": server.base_url + "{id}/" + PLAYLIST,
        "DOWNLOAD_MIN_FREE": "0",
        "DOWNLOADER_HTTP_ADDR": "127.0.0.1:0",
        "LOG_LEVEL": "warning",
    }
    db = open_database(str(db_path))
    migrate(db)
    Vod.create(twitch_vod_id=VOD_ID, channel="bench", title="bench", date=dt.datetime(2026, 11, 1))
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vodtender", "downloader"],
        env=env,
        cwd=out,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    watch = Watch(proc.pid)
    claimed = None
    while True:
        state, path, error = db.execute_sql(
            "SELECT download_state, downloaded_path, processing_error FROM vods"
        ).fetchone()
        if state == "downloading" and claimed is None:
            claimed = time.monotonic() - began
        if state == "downloaded" or error or proc.poll() is not None:
            break
        time.sleep(0.02)
    wall = time.monotonic() - began
    print(
        f"  vodtender: {claimed or 0:.2f}s to start and claim, {wall - (claimed or 0):.2f}s to resolve, fetch, "
        "verify and publish",
        flush=True,
    )
    peak = watch.stop()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    db.close()
    if state != "downloaded":
        raise RuntimeError(f"vodtender did not finish: {error or err.decode()[-500:]}")
    return wall, peak, Path(path)


def limit_fetch(playlist_url: str, sizes: list[int], target: Path, threads: int = 8) -> None:
    """The limit: every segment fetched concurrently straight to its final offset in one file."""
    base = playlist_url.rsplit("/", 1)[0] + "/"
    parts = urlsplit(base)
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    local = threading.local()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def fetch(index: int) -> None:
        conn = getattr(local, "conn", None) or http.client.HTTPConnection(parts.netloc, timeout=60)
        local.conn = conn
        conn.request("GET", parts.path + f"{index}.ts")
        body = conn.getresponse().read()
        os.pwrite(fd, body, offsets[index])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fetch, range(len(sizes))))
    os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 segments instead of 2,000")
    parser.add_argument("--segments", type=int, help="number of 10 s segments")
    parser.add_argument("--vod-dir", type=Path, help="where the test VOD is made (kept for later runs)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where downloads are written (default: tmpfs)",
    )
    parser.add_argument("--only", help="comma-separated contenders to run")
    parser.add_argument("--limit-fetch", nargs=2, metavar=("URL", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    segments = args.segments or (200 if args.quick else 2000)
    vod_dir = args.vod_dir or Path(tempfile.gettempdir()) / f"vodtender-bench-{segments}"
    if args.limit_fetch:
        paths = segment_paths(vod_dir / VOD_ID / PLAYLIST)
        return limit_fetch(args.limit_fetch[0], [p.stat().st_size for p in paths], Path(args.limit_fetch[1]))
    playlist = make_bench_vod(vod_dir / VOD_ID, segments)
    total = sum(p.stat().st_size for p in segment_paths(playlist))
    for p in segment_paths(playlist):  # into the page cache: the server must not be the bottleneck
        p.read_bytes()
    server = HlsServer(vod_dir).start()
    url = server.url(f"{VOD_ID}/{PLAYLIST}")
    out_root = Path(tempfile.mkdtemp(prefix="vodtender-bench-out-", dir=args.out_dir))
    print(f"VOD: {segments} segments, {total / 2**30:.2f} GiB; output in {out_root}; {os.cpu_count()} CPUs")

    def limit(out: Path) -> tuple[float, int, Path]:
        target = out / "limit.ts"
        wall, peak = run_command(
            [
                sys.executable,
                __file__,
                "--segments",
                str(segments),
                "--vod-dir",
                str(vod_dir),
                "--limit-fetch",
                url,
                str(target),
            ]
        )
        return wall, peak, target

    def ytdlp(out: Path) -> tuple[float, int, Path]:
        wall, peak = run_command(
            [sys.executable, "-m", "yt_dlp", "-q", "--no-progress", "-N", "8", "-o", str(out / "ytdlp.%(ext)s"), url]
        )
        return wall, peak, next(out.glob("ytdlp.*"))

    def streamlink(out: Path) -> tuple[float, int, Path]:
        exe = shutil.which("streamlink")
        if exe is None:
            raise RuntimeError("not installed")
        wall, peak = run_command(
            [
                exe,
                "--loglevel",
                "error",
                "--stream-segment-threads",
                "8",
                "-o",
                str(out / "streamlink.ts"),
                "hls://" + url,
                "best",
            ]
        )
        return wall, peak, out / "streamlink.ts"

    def ffmpeg(out: Path) -> tuple[float, int, Path]:
        wall, peak = run_command(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", url, "-c", "copy", str(out / "ffmpeg.ts")]
        )
        return wall, peak, out / "ffmpeg.ts"

    contenders = {
        "limit": limit,
        "vodtender": lambda out: run_vodtender(server, out),
        "yt-dlp": ytdlp,
        "streamlink": streamlink,
        "ffmpeg": ffmpeg,
    }
    chosen = args.only.split(",") if args.only else list(contenders)
    if "limit" not in chosen:
        chosen.insert(0, "limit")
    results: dict[str, tuple[float, int, int] | str] = {}
    for name in chosen:
        out = out_root / name
        out.mkdir()
        try:
            wall, peak, path = contenders[name](out)
            results[name] = (wall, peak, path.stat().st_size)
        except (RuntimeError, OSError, StopIteration, subprocess.SubprocessError) as exc:
            results[name] = str(exc)[:200]
        shutil.rmtree(out, ignore_errors=True)  # tmpfs space for the next one
        print(f"  {name}: done", flush=True)
    server.stop()
    shutil.rmtree(out_root, ignore_errors=True)
    limit_wall = results["limit"][0] if isinstance(results["limit"], tuple) else float("nan")
    print(f"\n{'contender':<12}{'wall s':>9}{'MiB/s':>9}{'peak RSS MiB':>14}{'x limit':>9}{'output GiB':>12}")
    for name, result in results.items():
        if isinstance(result, str):
            print(f"{name:<12}  failed: {result}")
            continue
        wall, peak, size = result
        print(
            f"{name:<12}{wall:>9.2f}{total / wall / 2**20:>9.0f}{peak / 2**20:>14.0f}{wall / limit_wall:>9.2f}"
            f"{size / 2**30:>12.2f}"
        )


if __name__ == "__main__":
    main()
