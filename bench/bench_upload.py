"""Upload throughput: the uploader daemon (resumable, chunked, through google-api-python-client) against a
plain HTTP PUT of the same file to the same stand-in, plus the uploader's peak RSS for two file sizes.

    python3 bench/bench_upload.py            # 1 GiB (and 128 MiB for the RSS comparison)
    python3 bench/bench_upload.py --quick    # 128 MiB (and 16 MiB)

The stand-in runs as its own process (`python -m tests.standins.youtube`), as does the uploader.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.processes import base_env, free_port  # noqa: E402

MIB = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        for index in range(size // MIB):
            f.write(index.to_bytes(8, "big") + block[8:])


def start_standin() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.youtube"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline() if proc.stdout else ""
    return proc, line.split("YOUTUBE_API_URL=", 1)[1].split()[0]


def control(url: str, action: str) -> dict:
    request = urllib.request.Request(url + "_control/" + action, method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def raw_put(url: str, path: Path) -> float:
    """Seconds for one plain HTTP PUT of the file (the stand-in's raw receive rate)."""
    host, port = url.split("//", 1)[1].rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120, blocksize=MIB)  # as the uploader sends
    with open(path, "rb") as f:
        start = time.perf_counter()
        conn.request("PUT", "/raw", body=f, headers={"Content-Length": str(path.stat().st_size)})
        conn.getresponse().read()
        elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def uploader_run(url: str, path: Path, workdir: Path) -> tuple[float, int]:
    """Seconds from the upload's start to its confirmation in the database, and the uploader's peak RSS (KiB)."""
    db_path = workdir / f"bench-{path.stat().st_size}-{time.monotonic_ns()}.db"
    tokens = control(url, "tokens")
    env = base_env(
        workdir,
        DB_DSN=str(db_path),
        YT_CLIENT_ID="test-client-id",
        YT_CLIENT_SECRET="test-client-secret",
        YOUTUBE_API_URL=url,
        YOUTUBE_TOKEN_URL=url + "token",
        HEARTBEAT_INTERVAL="0.2s",
        UPLOADER_HTTP_ADDR=f"127.0.0.1:{free_port()}",
        UPLOAD_QUOTA_DAILY="1000000000",
    )
    subprocess.run(
        [sys.executable, "-m", "vodtender", "db", "migrate"], cwd=workdir, env=env, check=True, capture_output=True
    )
    size = path.stat().st_size
    with sqlite3.connect(db_path) as conn:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        expires = now + dt.timedelta(hours=1)
        conn.execute(
            "INSERT INTO oauth_tokens (provider, channel, access_token, refresh_token, expires_at, "
            "updated_at) VALUES ('youtube', '', ?, ?, ?, ?)",
            (tokens["access_token"], tokens["refresh_token"], expires, now),
        )
        columns = (
            "twitch_vod_id, channel, title, description, date, duration_seconds, type, is_placeholder, "
            "helix_missing, priority, processed, cancel_requested, download_state, download_retries, "
            "download_bytes, download_total, download_speed, download_host, downloaded_path, upload_retries, "
            "upload_offset, created_at, updated_at"
        )
        conn.execute(
            f"INSERT INTO vods ({columns}) VALUES (?, 'bench', 'bench', '', ?, 60, 'archive', 0, 0, 0, 0, 0,"
            " 'downloaded', 0, ?, ?, 0, ?, ?, 0, 0, ?, ?)",
            (f"bench{size}", now, size, size, socket.gethostname(), str(path), now, now),
        )
    log = open(workdir / f"uploader-{size}.log", "wb")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vodtender", "uploader"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    started = finished = None
    peak_kib = 0
    try:
        with sqlite3.connect(db_path, timeout=30) as conn:
            deadline = time.monotonic() + 900
            while finished is None and time.monotonic() < deadline:
                state, processed = conn.execute("SELECT upload_state, processed FROM vods").fetchone()
                if started is None and state == "uploading":
                    started = time.perf_counter()
                if processed:
                    finished = time.perf_counter()
                peak_kib = max(peak_kib, _peak_rss_kib(proc.pid))
                time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    if started is None or finished is None:
        raise SystemExit(f"the upload did not finish; see {workdir}/uploader-{size}.log")
    return finished - started, peak_kib


def _peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 MiB instead of 1 GiB")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the median is printed)")
    args = parser.parse_args()
    big, small = (128 * MIB, 16 * MIB) if args.quick else (1024 * MIB, 128 * MIB)
    standin, url = start_standin()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-upload-", dir=os.environ.get("BENCH_DIR")) as tmp:
            workdir = Path(tmp)
            (workdir / "etc").mkdir()
            rss: dict[int, int] = {}
            for size in (small, big):
                path = workdir / f"vod-{size}.mp4"
                make_file(path, size)
                raws, uploads = [], []
                for _ in range(args.repeat):  # interleaved, so both see the same background load
                    raws.append(raw_put(url, path))
                    seconds, peak = uploader_run(url, path, workdir)
                    uploads.append(seconds)
                    rss[size] = max(rss.get(size, 0), peak)
                raw, upload = statistics.median(raws), statistics.median(uploads)
                mib = size / MIB
                print(
                    f"{mib:6.0f} MiB  raw PUT {mib / raw:7.1f} MiB/s  uploader {mib / upload:7.1f} MiB/s  "
                    f"uploader/raw {raw / upload:.2f}  uploader peak RSS {rss[size] / 1024:.1f} MiB "
                    f"(medians of {args.repeat})",
                    flush=True,
                )
                path.unlink()
            print(
                f"peak RSS {small // MIB} MiB file vs {big // MIB} MiB file: {rss[small] / 1024:.1f} vs "
                f"{rss[big] / 1024:.1f} MiB (x{rss[big] / max(1, rss[small]):.2f})"
            )
    finally:
        standin.terminate()
        standin.wait(10)


if __name__ == "__main__":
    main()
