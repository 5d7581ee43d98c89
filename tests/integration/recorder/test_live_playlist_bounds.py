"""A live playlist server that lies: an answer far larger than any live window (sent chunked, so no
Content-Length warns) is refused at the playlist cap and read as one failed read, not held whole."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator

import pytest

from vodtender.clients.hls import MAX_PLAYLIST_BYTES, HttpClient
from vodtender.pipeline.record.follow import LiveFollower
from vodtender.runtime.httpserver import HttpServer, QuietHandler

LINE = b"#EXTINF:2.000,live\nhttps://edge.example.invalid/v1/segment/0.ts\n"
SENT = 4 * MAX_PLAYLIST_BYTES  # what the server would send if let


class EndlessPlaylist(QuietHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.apple.mpegurl")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"#EXTM3U\n" + LINE * (2**16 // len(LINE))
        sent = 0
        try:
            while sent < SENT:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client hung up at its cap


@pytest.fixture
def server() -> Iterator[HttpServer]:
    served = HttpServer(("127.0.0.1", 0), EndlessPlaylist, name="endless-playlist", quiet_errors=True).start()
    yield served
    served.stop()


def test_a_live_playlist_past_the_cap_is_a_failed_read_not_held_whole(server: HttpServer) -> None:
    follower = LiveFollower(
        f"{server.url}/v1/playlist/1.m3u8",
        HttpClient(timeout=10),
        poll_seconds=0.1,
        end_grace=0.0,
        is_live=lambda: True,
        stopping=threading.Event(),
        stream_id="4701",
    )
    tracemalloc.start()
    try:
        read = follower._read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read is None and follower._failures == 1  # one failed read: the outage logic takes it from here
    assert peak < 2 * MAX_PLAYLIST_BYTES, f"{peak / 2**20:.0f} MiB held for a {SENT / 2**20:.0f} MiB answer"
