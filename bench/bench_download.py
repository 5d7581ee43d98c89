"""Download one loopback HLS VOD with vodtender and its peers, side by side, for each container Twitch serves.

    python3 bench/bench_download.py                  # MPEG-TS and fMP4, 2,000 x 10 s segments each (about 5 GB)
    python3 bench/bench_download.py --quick          # 200 segments
    python3 bench/bench_download.py --format fmp4    # one table only (ts | fmp4 | both)
    DOWNLOAD_BUFFER=16M python3 bench/bench_download.py --only vodtender   # vodtender's settings come from the env

The VOD is served by nginx (Debian's nginx-light; a private config in a temporary prefix, the current user, a free
loopback port, keep-alive, sendfile, no access log), so the clients are measured and not the server: the Python
stand-in (`--server python`, tests/standins/hls.py, the fallback when nginx is not installed) shares the bench's
process and CPUs, and at 2,000 segments it was slower than the clients it served. Not run by CI.

The two VODs, each encoded once (a short base, then repeated with -c copy by ffmpeg's HLS muxer):
  ts    H.264 + AAC in 10 s MPEG-TS segments `N.ts`, `#EXT-X-VERSION:3`
  fmp4  HEVC (`hvc1`) + AAC in 10 s fMP4 fragments `N.mp4` after one `#EXT-X-MAP:URI="init-0.mp4"`,
        `#EXT-X-VERSION:6`: the shape of Twitch's HEVC/AV1 ("enhanced broadcasting") VODs, as ffmpeg's log of
        one shows it in the yt-dlp issue "Cannot download Twitch VOD with initialization fragments after media
        fragments" (`init-0.mp4`, then `0.mp4`, `1.mp4`, ... relative to the rendition's playlist) and the
        yt-dlp issue "[Twitch] broken download" (`569.mp4` of a 1080p60 rendition)
Segment URIs are relative, as Twitch's are. Concatenating the init segment and every fragment is a valid file.

Contenders, each as its own process, writing to --out-dir (tmpfs by default):
  limit         a plain concurrent fetch of the init segment and every fragment into one file (8 threads,
                keep-alive, pwrite at offsets known in advance): the I/O limit
  vodtender     the downloader daemon, from claim to `downloaded` (resolve, fetch, verify, rename)
  yt-dlp        the yt-dlp CLI with -N 8 (its native HLS downloader plus its remux to .mp4)
  yt-dlp-ffmpeg the yt-dlp CLI with ffmpeg as its HLS downloader (`--downloader m3u8:ffmpeg`, the documented
                spelling of `--hls-prefer-ffmpeg`)
  streamlink    streamlink with 8 segment threads (`--streamlink PATH` if it is not on PATH; skipped if absent)
  ffmpeg        ffmpeg -i playlist -c copy
An untimed run of the limit first warms the page cache and the server. Printed per contender: its largest processes'
own peak RSS and the load average around it (others' work on a shared machine slows a contender); per format: wall
time, throughput, peak RSS (process tree, sampled every 50 ms), and the ratio to the limit.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import http.client
import itertools
import math
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.standins.hls import PLAYLIST, HlsServer, segment_paths  # noqa: E402
from vodtender.runtime.db import open_database  # noqa: E402
from vodtender.runtime.migrations import migrate  # noqa: E402
from vodtender.runtime.models import Vod  # noqa: E402

VOD_ID = "4242"
SEGMENT_SECONDS = 10
INIT_URI = re.compile(r'^#EXT-X-MAP:URI="([^"]+)"', re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class VodFormat:
    """How one kind of bench VOD is encoded (`video_args`) and cut into segments (`hls_args`)."""

    name: str
    ext: str  # of the segments, and of the contenders' output files
    hls_version: int  # the #EXT-X-VERSION Twitch writes for this container
    base_seconds: int  # length of the encoded base that is repeated; a whole number of segments and GOPs
    video_args: tuple[str, ...]  # the video encoder of the base
    hls_args: tuple[str, ...]  # extra options of ffmpeg's HLS muxer (and stream copy) for this container


FORMATS = {
    "ts": VodFormat(
        name="ts",
        ext="ts",
        hls_version=3,
        base_seconds=60,
        video_args=("-c:v", "libx264", "-preset", "ultrafast", "-g", "60"),
        hls_args=(),
    ),
    "fmp4": VodFormat(
        name="fmp4",
        ext="mp4",
        hls_version=6,
        base_seconds=20,  # libx265 is slow: a short base keeps the one-off encode to seconds
        # closed GOPs of 2 s, no scene cuts: every 10 s cut is an IDR frame, and the seam where the base repeats
        # refers to nothing before it (open GOPs make the decoder miss references there)
        video_args=(
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:keyint=60:min-keyint=60:scenecut=0:open-gop=0",
        ),
        hls_args=(
            "-tag:v",
            "hvc1",
            "-hls_segment_type",
            "fmp4",
            "-hls_fmp4_init_filename",
            "init-0.mp4",
        ),
    ),
}


def make_bench_vod(folder: Path, segments: int, vod_format: VodFormat) -> Path:
    """A long VOD cheaply: encode a short base once, then loop it with -c copy into 10 s segments."""
    playlist = folder / PLAYLIST
    if playlist.exists():
        return playlist
    folder.mkdir(parents=True, exist_ok=True)
    # Matroska for the base: its timestamps loop without a repeated audio one at the seams (an MPEG-TS base has
    # one), and its raw AAC needs no ADTS conversion for fMP4
    base = folder / "base.mkv"
    print(f"making a {segments}-segment {vod_format.name} VOD in {folder} (once) ...", flush=True)
    ffmpeg = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    subprocess.run(
        [
            *ffmpeg,
            *("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
            *("-t", str(vod_format.base_seconds)),
            *("-b:v", "2M", "-maxrate", "2M", "-bufsize", "4M"),
            *("-c:a", "aac", "-b:a", "96k"),
            *vod_format.video_args,
            str(base),
        ],
        check=True,
    )
    subprocess.run(
        [
            *ffmpeg,
            *("-stream_loop", str(math.ceil(segments * SEGMENT_SECONDS / vod_format.base_seconds))),
            *("-i", str(base), "-c", "copy", "-t", str(segments * SEGMENT_SECONDS)),
            *vod_format.hls_args,
            *("-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_list_size", "0", "-hls_playlist_type", "vod"),
            *("-hls_segment_filename", str(folder / f"%d.{vod_format.ext}")),
            str(folder / "building.m3u8"),
        ],
        check=True,
    )
    base.unlink()
    building = folder / "building.m3u8"
    building.write_text(
        re.sub(r"(?m)^#EXT-X-VERSION:\d+$", f"#EXT-X-VERSION:{vod_format.hls_version}", building.read_text())
    )
    across_two_seams = 2 * vod_format.base_seconds // SEGMENT_SECONDS + 1
    check_decodes(init_files(building) + segment_paths(building)[:across_two_seams], folder / f"check.{vod_format.ext}")
    building.rename(playlist)
    return playlist


def init_files(playlist: Path) -> list[Path]:
    """The init segments of an fMP4 playlist (none for MPEG-TS)."""
    return [playlist.parent / uri for uri in INIT_URI.findall(playlist.read_text())]


def media_files(playlist: Path) -> list[Path]:
    """What a download concatenates, in order: the init segment (fMP4), then every segment."""
    return init_files(playlist) + segment_paths(playlist)


def check_decodes(files: list[Path], joined: Path) -> None:
    """These files concatenated must decode without a word from ffmpeg."""
    with open(joined, "wb") as out:
        for file in files:
            out.write(file.read_bytes())
    decoded = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(joined), "-f", "null", "-"], capture_output=True, text=True
    )
    joined.unlink()
    if decoded.returncode != 0 or decoded.stderr.strip():
        raise SystemExit(f"the bench VOD does not decode cleanly: {decoded.stderr.strip()[-500:]}")


class VodServer(Protocol):
    """Serves the bench's VOD folder over loopback HTTP."""

    @property
    def base_url(self) -> str: ...

    def url(self, path: str) -> str: ...

    def stop(self) -> None: ...


NGINX_CONF = """\
daemon off;
worker_processes auto;
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    # one keep-alive connection per client thread for the whole VOD (nginx closes one after 1,000 requests)
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/mp4 mp4; }}
    default_type application/octet-stream;
    # Debian's compiled-in temporary folders are under /var/lib/nginx, which only root may write
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def find_nginx() -> str | None:
    """nginx on PATH, or in the sbin folders a non-root PATH leaves out (Debian installs it in /usr/sbin)."""
    return shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NginxServer:
    """A static nginx of its own (temporary prefix, current user, free loopback port) serving `root`: a server
    written in C with sendfile, in processes of its own, so the clients are measured and not the server."""

    def __init__(self, nginx: str, root: Path):
        self._prefix = tempfile.TemporaryDirectory(prefix="vodtender-bench-nginx-")
        prefix, port = Path(self._prefix.name), free_loopback_port()
        # as root, nginx's workers would otherwise drop to `nobody`; as anyone else it cannot switch user at all
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, prefix=prefix, port=port, root=root.resolve()))
        self._log = prefix / "error.log"
        self._proc = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(self._log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base_url = f"http://127.0.0.1:{port}/"
        self._wait_listening(port)

    def _wait_listening(self, port: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return
            time.sleep(0.05)
        log = self._log.read_text()[-500:] if self._log.exists() else ""
        self.stop()
        raise SystemExit(f"nginx did not start on port {port}: {log.strip() or 'no error log'}")

    def url(self, path: str) -> str:
        return self.base_url + path.lstrip("/")

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()  # nginx's fast shutdown
            self._proc.wait(timeout=30)
        self._prefix.cleanup()


def serve(kind: str, root: Path) -> VodServer:
    nginx = find_nginx()
    if kind == "nginx" and nginx is not None:
        return NginxServer(nginx, root)
    return HlsServer(root).start()


def tree_rss(pid: int) -> dict[int, tuple[str, int]]:
    """Resident bytes of a process and each of its descendants, by pid: (command name, bytes); empty if gone."""
    found: dict[int, tuple[str, int]] = {}
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
        found[pid] = (Path(f"/proc/{pid}/comm").read_text().strip(), rss)
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found.update(tree_rss(int(child)))
    except (OSError, StopIteration, ValueError):
        pass
    return found


def high_water_mark(pid: int) -> int:
    """The peak resident bytes the kernel recorded for one live process (VmHWM), 0 if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return 0


class Watch:
    """Polls a process tree's RSS until stopped; keeps the peak of the tree and of each process in it."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, 0
        self._peaks: dict[int, tuple[str, int]] = {}  # by pid: its latest command name (yt-dlp renames itself), peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            tree = tree_rss(self.pid)
            self.peak = max(self.peak, sum(rss for _, rss in tree.values()))
            for pid, (name, rss) in tree.items():
                self._peaks[pid] = (name, max(rss, self._peaks.get(pid, (name, 0))[1]))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak

    def breakdown(self, most: int = 4) -> str:
        """`python 180, ffprobe 40 MiB`: the largest processes' own peaks (they need not peak at the same moment)."""
        peaks = sorted(self._peaks.values(), key=lambda peak: -peak[1])[:most]
        return ", ".join(f"{name} {rss / 2**20:.0f}" for name, rss in peaks if rss >= 2**20) + " MiB"


class Skipped(Exception):
    """A contender that cannot run here (not installed)."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One contender's measured download."""

    wall: float  # seconds
    peak: int  # RSS bytes of the whole process tree at its highest sample
    by_process: str  # each command's own peak, to see which one holds the memory
    output: Path


def run_command(cmd: list[str], output: Path) -> Run:
    began = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watch = Watch(proc.pid)
    _, err = proc.communicate()
    wall = time.monotonic() - began
    peak = watch.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-500:]}")
    return Run(wall, peak, watch.breakdown(), output)


def run_vodtender(server: VodServer, out: Path) -> Run:
    """The downloader daemon on a fresh database holding one VOD; its own settings (DOWNLOAD_BUFFER, ...) come
    from the bench's environment."""
    db_path = out / "bench.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VODTENDER_CONFIG_DIR": str(out / "etc"),
        "DB_DSN": str(db_path),
        "DATA_DIR": str(out / "data"),
        "TWITCH_VOD_URL_TEMPLATE": server.base_url + "{id}/" + PLAYLIST,
        "DOWNLOAD_MIN_FREE": "0",
        "DOWNLOAD_MAX_ATTEMPTS": "1",  # a failed attempt is reported at once, not retried after a backoff
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
    daemon_peak = high_water_mark(proc.pid)  # exact, where the tree's peak is sampled every 50 ms
    print(
        f"  vodtender: {claimed or 0:.2f}s to start and claim, {wall - (claimed or 0):.2f}s to resolve, fetch, "
        f"verify and publish; the daemon's own VmHWM {daemon_peak / 2**20:.0f} MiB",
        flush=True,
    )
    peak = watch.stop()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    db.close()
    if state != "downloaded":
        raise RuntimeError(f"vodtender did not finish: {error or err.decode()[-500:]}")
    return Run(wall, peak, watch.breakdown(), Path(path))


def limit_fetch(playlist: Path, playlist_url: str, target: Path, threads: int = 8) -> None:
    """The limit: every file of the VOD fetched concurrently straight to its final offset in one file."""
    files = media_files(playlist)
    names = [file.relative_to(playlist.parent).as_posix() for file in files]
    offsets = [0, *itertools.accumulate(file.stat().st_size for file in files)]
    parts = urlsplit(playlist_url.rsplit("/", 1)[0] + "/")
    local = threading.local()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)

    def fetch(index: int) -> None:
        conn = getattr(local, "conn", None) or http.client.HTTPConnection(parts.netloc, timeout=60)
        local.conn = conn
        conn.request("GET", parts.path + names[index])
        body = conn.getresponse().read()
        os.pwrite(fd, body, offsets[index])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fetch, range(len(files))))
    os.close(fd)


class Contenders:
    """Each way of downloading the served VOD into a folder of its own."""

    def __init__(self, server: VodServer, playlist: Path, vod_format: VodFormat, streamlink: str | None):
        self.server, self.playlist, self.ext, self.streamlink_exe = server, playlist, vod_format.ext, streamlink
        self.url = server.url(f"{VOD_ID}/{PLAYLIST}")

    def limit(self, out: Path) -> Run:
        target = out / f"limit.{self.ext}"
        return run_command(
            [sys.executable, __file__, "--limit-fetch", str(self.playlist), self.url, str(target)], target
        )

    def vodtender(self, out: Path) -> Run:
        return run_vodtender(self.server, out)

    def ytdlp(self, out: Path, *downloader: str, name: str = "ytdlp") -> Run:
        # yt-dlp picks the output's extension itself (.mp4 after its remux)
        run = run_command(
            [
                *(sys.executable, "-m", "yt_dlp", "-q", "--no-progress", "-N", "8", *downloader),
                *("-o", str(out / f"{name}.%(ext)s"), self.url),
            ],
            out,
        )
        return dataclasses.replace(run, output=next(out.glob(f"{name}.*")))

    def ytdlp_ffmpeg(self, out: Path) -> Run:
        return self.ytdlp(out, "--downloader", "m3u8:ffmpeg", name="ytdlp-ffmpeg")

    def streamlink(self, out: Path) -> Run:
        if self.streamlink_exe is None:
            raise Skipped("streamlink is not installed (give --streamlink PATH)")
        target = out / f"streamlink.{self.ext}"
        return run_command(
            [
                *(self.streamlink_exe, "--loglevel", "error", "--stream-segment-threads", "8"),
                *("-o", str(target), "hls://" + self.url, "best"),
            ],
            target,
        )

    def ffmpeg(self, out: Path) -> Run:
        target = out / f"ffmpeg.{self.ext}"
        return run_command(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", self.url, "-c", "copy", str(target)], target
        )


CONTENDERS: dict[str, Callable[[Contenders, Path], Run]] = {
    "limit": Contenders.limit,
    "vodtender": Contenders.vodtender,
    "yt-dlp": Contenders.ytdlp,
    "yt-dlp-ffmpeg": Contenders.ytdlp_ffmpeg,
    "streamlink": Contenders.streamlink,
    "ffmpeg": Contenders.ffmpeg,
}


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    segments: int
    out_dir: Path | None  # where the contenders write (None: the system's temporary folder)
    only: list[str]  # contenders to run besides the limit; empty: all
    streamlink: str | None
    server: str  # nginx | python


def check_room(out_root: Path, total: int) -> None:
    """yt-dlp holds two copies of the VOD at once (its joined fragments and its remux of them)."""
    needed, free = total * 2.1, shutil.disk_usage(out_root).free
    if free < needed:
        shutil.rmtree(out_root, ignore_errors=True)
        raise SystemExit(
            f"{out_root.parent} has {free / 2**30:.1f} GiB free, the bench needs {needed / 2**30:.1f} GiB there "
            "(give --out-dir, or fewer --segments)"
        )


def bench_format(vod_format: VodFormat, vod_root: Path, options: BenchOptions) -> None:
    """Make (once) and serve the VOD of this format, run every chosen contender on it, print the table."""
    playlist = make_bench_vod(vod_root / VOD_ID, options.segments, vod_format)
    files = media_files(playlist)
    total = sum(file.stat().st_size for file in files)
    out_root = Path(tempfile.mkdtemp(prefix="vodtender-bench-out-", dir=options.out_dir))
    check_room(out_root, total)
    server = serve(options.server, vod_root)
    contenders = Contenders(server, playlist, vod_format, options.streamlink)
    print(
        f"\n{vod_format.name} VOD: {options.segments} segments, {total / 2**30:.2f} GiB; served by "
        f"{type(server).__name__} at {server.base_url}; output in {out_root}; {os.cpu_count()} CPUs",
        flush=True,
    )
    results: dict[str, tuple[Run, int] | str] = {}  # a run and the size of its output, or why there is none
    try:
        # untimed, and it reads the VOD into the page cache: the first download after a pause was up to 3x slower
        warm_up = contenders.limit(out_root)
        warm_up.output.unlink()
        print(f"  warm-up (the limit, untimed): {warm_up.wall:.2f}s", flush=True)
        for name in ["limit", *(n for n in options.only or CONTENDERS if n != "limit")]:
            out = out_root / name
            out.mkdir()
            try:
                load_before = os.getloadavg()[0]
                run = CONTENDERS[name](contenders, out)
                results[name] = (run, run.output.stat().st_size)
                # the 1-minute load average before and after: on a shared machine, others' work slows a contender
                print(
                    f"  {name}: {run.wall:.2f}s, peak RSS by process: {run.by_process}; "
                    f"load {load_before:.1f} -> {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            except Skipped as exc:
                results[name] = f"skipped: {exc}"
            except (RuntimeError, OSError, StopIteration, subprocess.SubprocessError) as exc:
                results[name] = f"failed: {str(exc)[:200]}"
            if isinstance(results[name], str):
                print(f"  {name}: {results[name]}", flush=True)
            shutil.rmtree(out, ignore_errors=True)  # tmpfs space (and memory) for the next one
    finally:
        server.stop()
        shutil.rmtree(out_root, ignore_errors=True)
    print_table(f"{vod_format.name}, {options.segments} segments ({total / 2**30:.2f} GiB)", total, results)


def print_table(title: str, total: int, results: dict[str, tuple[Run, int] | str]) -> None:
    limit = results["limit"]
    limit_wall = limit[0].wall if isinstance(limit, tuple) else float("nan")
    print(f"\n{title}\n{'contender':<15}{'wall s':>9}{'MiB/s':>9}{'peak RSS MiB':>14}{'x limit':>9}{'output GiB':>12}")
    for name, result in results.items():
        if isinstance(result, str):
            print(f"{name:<15}  {result}")
            continue
        run, size = result
        print(
            f"{name:<15}{run.wall:>9.2f}{total / run.wall / 2**20:>9.0f}{run.peak / 2**20:>14.0f}"
            f"{run.wall / limit_wall:>9.2f}{size / 2**30:>12.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 segments instead of 2,000")
    parser.add_argument("--segments", type=int, help="number of 10 s segments")
    parser.add_argument("--format", choices=[*FORMATS, "both"], default="both", help="container of the VOD")
    parser.add_argument("--vod-dir", type=Path, help="where the test VODs are made (kept for later runs)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where downloads are written (default: tmpfs)",
    )
    parser.add_argument("--only", help="comma-separated contenders to run (the limit always runs)")
    parser.add_argument("--streamlink", default=shutil.which("streamlink"), help="the streamlink executable")
    parser.add_argument(
        "--server",
        choices=["nginx", "python"],
        help="what serves the VOD: nginx (the default when installed) or the Python stand-in (tests/standins/hls.py)",
    )
    parser.add_argument("--limit-fetch", nargs=3, metavar=("PLAYLIST", "URL", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.limit_fetch:
        playlist, url, target = args.limit_fetch
        return limit_fetch(Path(playlist), url, Path(target))
    segments = args.segments or (200 if args.quick else 2000)
    vod_dir = args.vod_dir or Path(tempfile.gettempdir()) / "vodtender-bench"
    only = args.only.split(",") if args.only else []
    unknown = sorted(set(only) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown contender {', '.join(unknown)}")
    server = args.server or ("nginx" if find_nginx() else "python")
    if server == "nginx" and not find_nginx():
        parser.error("--server nginx: nginx is not installed (apt-get install nginx-light)")
    if args.server is None and server == "python":
        print(
            "warning: nginx is not installed, so the VOD is served by the Python stand-in in this process; "
            "at thousands of segments it is the bottleneck, not the clients (apt-get install nginx-light)",
            file=sys.stderr,
        )
    options = BenchOptions(segments, args.out_dir, only, args.streamlink, server)
    for name in FORMATS if args.format == "both" else [args.format]:
        bench_format(FORMATS[name], vod_dir / f"{name}-{segments}", options)


if __name__ == "__main__":
    main()
