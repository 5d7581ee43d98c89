"""The fetcher stays bounded whatever a server does (issue 16, item 6), against real loopback servers and
the real downloader process: a fragment too large, a drip-fed fragment, a redirect off http(s), a playlist
of a million segments, a cancel in the middle of slow reads, and memory held by DOWNLOAD_BUFFER."""

from __future__ import annotations

import http.server
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import run_cli, wait_until
from tests.integration.downloader.conftest import SEGMENTS, Site
from tests.standins.hls import PLAYLIST, HlsServer
from vodtender.clients.hls import (
    MAX_PLAYLIST_SEGMENTS,
    AnswerDeadline,
    BodyLimits,
    BodyTooLarge,
    FetchAborted,
    HttpClient,
    RefusedRedirect,
    parse_media_playlist,
)
from vodtender.pipeline.download.fetcher import HlsFetch

HUGE = 200 * 2**20  # what the audit's hostile CDN sent as one "segment"
MiB = 2**20


class HostileServer:
    """A CDN that misbehaves on purpose: `/redirect?to=URL` answers 302 to URL, `/huge.ts` a chunked body of
    HUGE bytes, `/drip.ts` a few bytes every 0.2 s for ever; `requests` counts paths."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        hostile = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                hostile.requests[path] = hostile.requests.get(path, 0) + 1
                try:
                    if path == "/redirect":
                        self.send_response(302)
                        self.send_header("Location", query.removeprefix("to="))
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    elif path == "/huge.ts":
                        self.send_response(200)
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        chunk = b"G" * MiB
                        for _ in range(HUGE // MiB):
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.write(b"0\r\n\r\n")
                    elif path == "/drip.ts":
                        self.send_response(200)
                        self.send_header("Content-Length", str(10 * MiB))
                        self.end_headers()
                        while True:
                            self.wfile.write(b"\x47" * 188)
                            self.wfile.flush()
                            time.sleep(0.2)
                    else:
                        self.send_error(404)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: what it should do

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.stop()


def _vod_listing(site: Site, vod_id: str, replaced: dict[int, str] | None = None, playlist: str | None = None) -> None:
    """A VOD on the HLS stand-in made of the source's segments, with segment `i` listed as `replaced[i]`
    (an absolute URL, elsewhere), or served with `playlist` as its playlist."""
    folder = site.root / vod_id
    folder.mkdir()
    for file in site.source.iterdir():
        if file.name != PLAYLIST:
            (folder / file.name).symlink_to(file)
    if playlist is None:
        lines, index = [], 0
        for line in (site.source / PLAYLIST).read_text().splitlines():
            if line and not line.startswith("#"):
                lines.append((replaced or {}).get(index, line))
                index += 1
            else:
                lines.append(line)
        playlist = "\n".join(lines) + "\n"
    (folder / PLAYLIST).write_text(playlist)
    site.add_row(vod_id, duration=SEGMENTS * 10)


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_an_oversized_chunked_segment_is_refused_without_being_held(site: Site, hostile: HostileServer) -> None:
    _vod_listing(site, "9601", {3: hostile.url("/huge.ts")})
    with site.downloader(DOWNLOAD_MAX_ATTEMPTS="1") as daemon:
        row = site.wait_state("9601", ("failed",), timeout=90)
        assert daemon.proc is not None
        peak = _peak_rss_mib(daemon.proc.pid)
    print(f"peak RSS {peak:.0f} MiB")
    assert "segment 3" in row["processing_error"] and "refused" in row["processing_error"], row["processing_error"]
    assert "allowed" in row["processing_error"]
    assert peak < 150  # the 200 MiB body was never held (the downloader itself runs in about 60 MiB)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x.ts", "gopher://127.0.0.1/x"])
def test_a_redirect_off_http_is_refused_at_once(site: Site, hostile: HostileServer, target: str) -> None:
    _vod_listing(site, "9602", {2: hostile.url(f"/redirect?to={target}")})
    with site.downloader(DOWNLOAD_MAX_ATTEMPTS="1"):
        row = site.wait_state("9602", ("failed",), timeout=60)
    scheme = target.split(":", 1)[0]
    assert f"redirect to a {scheme}: URL refused" in row["processing_error"], row["processing_error"]
    assert hostile.requests["/redirect"] == 1  # not asked again: the same answer would come back


def test_a_drip_fed_segment_is_given_up_at_its_deadline_and_fetched_again(site: Site) -> None:
    site.add_vod("9603")
    site.server.add_rule("9603/7.ts", rate=2000, times=1)  # a read every 0.5 s, never a read timeout
    with site.downloader(DOWNLOAD_TIMEOUT="1s"):  # a whole fragment: 6 s at most
        row = site.wait_state("9603", ("downloaded",), timeout=60)
    assert site.server.counts["9603/7.ts"] == 2  # given up once, then fetched whole
    assert row["download_retries"] == 0  # within the attempt: only the fragment was fetched again


def test_a_playlist_of_a_million_segments_is_refused_with_one_clear_error(site: Site) -> None:
    body = "".join(f"#EXTINF:2.0,\n{i}.ts\n" for i in range(1_000_000))
    _vod_listing(site, "9604", playlist="#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + body + "#EXT-X-ENDLIST\n")
    with site.downloader() as daemon:
        row = site.wait_state("9604", ("failed",), timeout=120)
        daemon.wait_for_log(r"download failed vod_id=9604 error_class=fatal")
        assert daemon.proc is not None
        peak = _peak_rss_mib(daemon.proc.pid)
    assert "playlist is refused" in row["processing_error"] and "allowed" in row["processing_error"]
    assert row["download_retries"] == 0
    print(f"peak RSS {peak:.0f} MiB")


def test_the_fetch_threads_end_within_a_second_of_a_cancel(site: Site) -> None:
    site.add_vod("9605")
    site.server.add_rule("9605/*.ts", rate=2000)  # every fragment read slowly for half a minute
    env = site.env()
    with site.downloader(DOWNLOAD_FRAGMENT_CONCURRENCY="8") as daemon:
        assert daemon.proc is not None
        pid = daemon.proc.pid
        daemon.wait_http("/readyz")
        idle = _threads(pid)
        wait_until(lambda: sum(n for p, n in site.server.counts.items() if p.endswith(".ts")) >= 8, 60)
        busy = _threads(pid)
        assert run_cli(site.workdir, "cancel", "9605", env=env).returncode == 0
        site.wait_state("9605", ("cancelled",), timeout=30)
        wait_until(lambda: _threads(pid) <= idle + 1, 1.0, what="fetch threads gone")  # one pool worker may stay
    print(f"threads: idle {idle}, fetching {busy}")
    assert busy >= idle + 8


# -- the client itself, against the same servers -------------------------------------------------------


def test_the_client_refuses_every_redirect_it_does_not_follow(hostile: HostileServer) -> None:
    client = HttpClient(timeout=5)
    for target, why in [
        ("data:text/plain,x", "data: URL refused"),
        ("javascript:alert(1)", "javascript: URL refused"),
        ("http://user:secret@127.0.0.1/x", "credentials"),
    ]:
        with pytest.raises(RefusedRedirect, match=why):
            client.get(hostile.url(f"/redirect?to={target}"))


def test_a_drip_fed_answer_ends_at_the_deadline_and_an_abort_ends_it_at_once(hostile: HostileServer) -> None:
    client = HttpClient(timeout=1, deadline=2)
    with pytest.raises(AnswerDeadline, match="no whole answer within 2 s"):
        client.get(hostile.url("/drip.ts"))
    abort = threading.Event()
    threading.Timer(0.5, abort.set).start()
    with pytest.raises(FetchAborted):
        HttpClient(timeout=30).get(hostile.url("/drip.ts"), abort)


def test_a_chunked_answer_over_its_limit_is_refused(hostile: HostileServer) -> None:
    with pytest.raises(BodyTooLarge, match="more than the 8388608 bytes allowed"):
        HttpClient(timeout=5).get(hostile.url("/huge.ts"), limits=BodyLimits(8 * MiB))


def test_a_playlist_over_the_segment_cap_is_refused() -> None:
    body = "".join(f"#EXTINF:2.0,\n{i}.ts\n" for i in range(MAX_PLAYLIST_SEGMENTS + 1))
    with pytest.raises(Exception, match=f"more than {MAX_PLAYLIST_SEGMENTS} segments"):
        parse_media_playlist(body, "http://h/v/index.m3u8")


def test_fragments_held_in_memory_stay_within_download_buffer(tmp_path: Path) -> None:
    """Segment 0 is slow: every other worker finishes its fragment meanwhile, and they wait in memory for
    their turn; the memory they hold stays within the buffer (and the one fragment the writer waits for)."""
    root = tmp_path / "www"
    root.mkdir()
    count, size = 40, MiB
    for i in range(count):
        (root / f"{i}.ts").write_bytes(os.urandom(size))
    (root / PLAYLIST).write_text(
        "#EXTM3U\n" + "".join(f"#EXTINF:10.0,\n{i}.ts\n" for i in range(count)) + "#EXT-X-ENDLIST\n"
    )
    server = HlsServer(root).start()
    try:
        server.add_rule("0.ts", rate=size / 2)  # two seconds for the first fragment
        client = HttpClient(timeout=10)
        playlist = parse_media_playlist(client.get(server.url()).decode(), server.url())
        buffer = 4 * MiB
        fetch = HlsFetch(
            playlist, tmp_path / "v.part", client, concurrency=16, fragment_retries=2, min_free=0, buffer_bytes=buffer
        )
        tracemalloc.start()
        try:
            written = fetch.run(lambda: True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        server.stop()
    assert len(written) == count and (tmp_path / "v.part").stat().st_size == count * size
    print(f"peak held {peak / MiB:.1f} MiB, budget peak {fetch.budget.peak / MiB:.1f} MiB")
    assert fetch.budget.peak <= buffer + size
    assert peak < buffer + 3 * size  # what is held, plus a fragment being written and one being joined
