"""A Twitch-like HLS VOD on loopback: made with ffmpeg, served with faults.

    vod = make_vod(folder, segments=30, muted=[3])        # 10 s MPEG-TS segments + index-dvr.m3u8
    server = HlsServer(folder).start()                    # threaded, HTTP/1.1, Range support
    server.url("index-dvr.m3u8")
    server.add_rule("7.ts", status=503, times=2)          # fail the first two requests of 7.ts
    server.add_rule("*.ts", rate=200_000)                 # throttle every segment to 200 kB/s
    server.add_rule("9.ts", drop_after=1000, times=1)     # cut the body after 1000 bytes, once
    server.counts["7.ts"]                                 # requests seen per path
    server.stop()

Muted segments are served the way Twitch does: the playlist lists `N-unmuted.ts`, which
answers 403, and `N-muted.ts` (a hard link) holds the muted audio.

The same control API over HTTP, for a harness that runs it as a process
(`python -m tests.standins.hls --root DIR [--make 30] [--port 0]`, prints its base URL):
    POST   /_control/rules   {"pattern": "7.ts", "status": 503, "times": 2}
    DELETE /_control/rules
    GET    /_control/counts  -> {"7.ts": 3, ...}
    DELETE /_control/counts
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import json
import os
import re
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from vodtender.runtime.httpserver import HttpServer, QuietHandler

PLAYLIST = "index-dvr.m3u8"
CHUNK = 64 * 1024


def make_vod(
    folder: Path,
    segments: int = 30,
    segment_seconds: int = 10,
    muted: tuple[int, ...] | list[int] = (),
    size: str = "160x90",
    fps: int = 10,
) -> Path:
    """Encode a `segments`-segment VOD into `folder` (once: reused if already there); returns the playlist."""
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / PLAYLIST
    if playlist.exists():
        return playlist
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
            f"testsrc2=size={size}:rate={fps}",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=22050",
            "-t",
            str(segments * segment_seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            str(2 * fps),
            "-c:a",
            "aac",
            "-b:a",
            "32k",
            "-f",
            "hls",
            "-hls_time",
            str(segment_seconds),
            "-hls_playlist_type",
            "vod",
            "-hls_list_size",
            "0",
            "-hls_segment_filename",
            str(folder / "%d.ts"),
            str(folder / "building.m3u8"),
        ],
        check=True,
    )
    mute_segments(folder / "building.m3u8", muted)
    (folder / "building.m3u8").rename(playlist)
    return playlist


def mute_segments(playlist: Path, muted: tuple[int, ...] | list[int]) -> None:
    """Twitch-style muting: `N.ts` becomes `N-muted.ts` (hard link) and is listed as `N-unmuted.ts`."""
    if not muted:
        return
    text = playlist.read_text()
    for index in muted:
        os.link(playlist.parent / f"{index}.ts", playlist.parent / f"{index}-muted.ts")
        (playlist.parent / f"{index}.ts").unlink()
        text = re.sub(rf"(?m)^{index}\.ts$", f"{index}-unmuted.ts", text)
    playlist.write_text(text)


def segment_paths(playlist: Path) -> list[Path]:
    """The files a correct download concatenates, in order (muted ones in their muted form)."""
    out = []
    for line in playlist.read_text().splitlines():
        if line and not line.startswith("#"):
            out.append(playlist.parent / line.replace("-unmuted.ts", "-muted.ts"))
    return out


@dataclasses.dataclass
class Rule:
    """A fault for paths matching `pattern` (fnmatch on the path without its leading slash)."""

    pattern: str
    status: int | None = None  # answer this status instead of the file
    drop_after: int | None = None  # close the connection after this many body bytes
    rate: float | None = None  # bytes per second for the body
    delay: float | None = None  # seconds before answering
    times: int | None = None  # apply to the first N matching requests only (None: always)
    used: int = 0

    def applies(self, path: str) -> bool:
        return fnmatch.fnmatch(path, self.pattern) and (self.times is None or self.used < self.times)


class FaultRules:
    """Per-path fault rules and request counters: what every loopback stand-in of a CDN offers a test."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add_rule(self, pattern: str, **fault: Any) -> Rule:
        """A fault for paths matching `pattern`: status=, times=, rate=, drop_after=, delay= (see Rule)."""
        rule = Rule(pattern, **fault)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()

    def faults_for(self, path: str) -> list[Rule]:
        """Count a request of `path`; the rules that apply to it (each counted as used once)."""
        with self._lock:
            self.counts[path] += 1
            matched = [r for r in self.rules if r.applies(path)]
            for rule in matched:
                rule.used += 1
            return matched


class HlsServer(FaultRules):
    """Serves a folder over loopback HTTP with per-path fault rules and request counters."""

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0):
        super().__init__()
        self.root = Path(root)
        self.bytes_sent = 0
        self._server = HttpServer((host, port), self._handler(), name="hls-standin", backlog=128)

    @property
    def base_url(self) -> str:
        return self._server.url + "/"

    def url(self, path: str = PLAYLIST) -> str:
        return self.base_url + path.lstrip("/")

    def start(self) -> HlsServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        if path == "_control/rules" and method == "POST":
            self.add_rule(**json.loads(body or b"{}"))
            return 200, {"rules": len(self.rules)}
        if path == "_control/rules" and method == "DELETE":
            self.clear_rules()
            return 200, {"rules": 0}
        if path == "_control/counts" and method == "GET":
            with self._lock:
                return 200, dict(self.counts)
        if path == "_control/counts" and method == "DELETE":
            self.reset_counts()
            return 200, {}
        return 404, {"error": "unknown control call"}

    def _handler(self) -> type[QuietHandler]:
        server = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve(head=False)

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_POST(self) -> None:
                self._control_call()

            def do_DELETE(self) -> None:
                self._control_call()

            def _control_call(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                code, answer = server._control(self.command, self._path(), self.rfile.read(length))
                self.reply(code, json.dumps(answer).encode(), "application/json")

            def _path(self) -> str:
                return self.path.split("?", 1)[0].lstrip("/")

            def _serve(self, head: bool) -> None:
                path = self._path()
                if path.startswith("_control/"):
                    return self._control_call()
                faults = server.faults_for(path)
                for rule in faults:
                    if rule.delay:
                        time.sleep(rule.delay)
                status = next((r.status for r in faults if r.status), None)
                if status:
                    return self.reply(status, f"injected {status}\n".encode(), "text/plain")
                file = server.root / path  # symlinks inside the root are served (one VOD under many ids)
                if ".." in Path(path).parts or not file.is_file():
                    # Twitch answers 403 for the unmuted name of a muted segment
                    return self.reply(403 if path.endswith("-unmuted.ts") else 404, b"no such file\n", "text/plain")
                data_size = file.stat().st_size
                start, end = 0, data_size - 1
                code = 200
                wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
                if wanted:
                    first = int(wanted.group(1)) if wanted.group(1) else max(0, data_size - int(wanted.group(2)))
                    last = int(wanted.group(2)) if wanted.group(1) and wanted.group(2) else data_size - 1
                    if first >= data_size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{data_size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    start, end, code = first, min(last, data_size - 1), 206
                self.send_response(code)
                ctype = "application/vnd.apple.mpegurl" if path.endswith(".m3u8") else "video/mp2t"
                if path.endswith(".mp4"):  # fMP4 init segments and fragments
                    ctype = "video/mp4"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("Accept-Ranges", "bytes")
                if code == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{data_size}")
                self.end_headers()
                if not head:
                    self._send_body(file, start, end - start + 1, faults)

            def _send_body(self, file: Path, offset: int, length: int, faults: list[Rule]) -> None:
                drop_after = min((r.drop_after for r in faults if r.drop_after is not None), default=None)
                rate = min((r.rate for r in faults if r.rate), default=None)
                sent, began = 0, time.monotonic()
                with open(file, "rb") as fh:
                    fh.seek(offset)
                    while sent < length:
                        piece = fh.read(min(CHUNK if rate is None else max(1024, int(rate / 20)), length - sent))
                        if drop_after is not None and sent + len(piece) > drop_after:
                            self.wfile.write(piece[: max(0, drop_after - sent)])
                            self.close_connection = True
                            self.connection.shutdown(2)
                            return
                        self.wfile.write(piece)
                        sent += len(piece)
                        if rate:
                            ahead = sent / rate - (time.monotonic() - began)
                            if ahead > 0:
                                time.sleep(ahead)
                with server._lock:
                    server.bytes_sent += sent

            def handle(self) -> None:
                # The client went away mid-body: expected when it is killed.
                with contextlib.suppress(ConnectionError, TimeoutError):
                    super().handle()

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Twitch-like HLS VOD server with fault injection")
    parser.add_argument("--root", type=Path, required=True, help="folder with index-dvr.m3u8 and segments")
    parser.add_argument("--make", type=int, default=0, help="first encode a VOD of this many segments")
    parser.add_argument("--muted", default="", help="segment indexes to mute, comma separated")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.make:
        make_vod(args.root, args.make, muted=[int(i) for i in args.muted.split(",") if i])
    server = HlsServer(args.root, port=args.port).start()
    print(server.url(PLAYLIST), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
