"""A thin HLS client: media playlist parsing and keep-alive HTTP GETs of whole fragments.

Only what the downloader's own fragment fetcher needs; anything that is not a plain,
finished, unencrypted HLS media playlist is left to yt-dlp.
"""

from __future__ import annotations

import dataclasses
import http.client
import threading
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 5


class HttpStatusError(Exception):
    """The server answered, but not with the body we asked for."""

    def __init__(self, status: int, url: str):
        super().__init__(f"HTTP {status} for {url.split('?', 1)[0]}")
        self.status = status
        self.url = url


class FetchAborted(Exception):
    """The caller asked the fetch to stop (cancel, shutdown)."""


@dataclasses.dataclass(frozen=True)
class Segment:
    index: int
    url: str
    duration: float


@dataclasses.dataclass(frozen=True)
class MediaPlaylist:
    segments: list[Segment]
    ended: bool  # EXT-X-ENDLIST: a finished VOD, not a live window
    encrypted: bool  # EXT-X-KEY other than NONE
    has_init_section: bool  # EXT-X-MAP (fMP4)
    is_master: bool  # a variant list, not segments

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def is_plain(self) -> bool:
        """Segments that concatenate into one playable MPEG-TS file as they are."""
        return bool(self.segments) and self.ended and not (self.encrypted or self.has_init_section or self.is_master)


def parse_media_playlist(text: str, base_url: str) -> MediaPlaylist:
    """Parse an m3u8 media playlist; segment URLs are made absolute against `base_url`."""
    segments: list[Segment] = []
    duration = 0.0
    ended = encrypted = has_map = is_master = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
            except ValueError:
                duration = 0.0
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif line.startswith("#EXT-X-KEY:") and "METHOD=NONE" not in line:
            encrypted = True
        elif line.startswith("#EXT-X-MAP:"):
            has_map = True
        elif line.startswith("#EXT-X-STREAM-INF:"):
            is_master = True
        elif not line.startswith("#"):
            segments.append(Segment(len(segments), urljoin(base_url, line), duration))
            duration = 0.0
    return MediaPlaylist(segments, ended, encrypted, has_map, is_master)


class HttpClient:
    """GET whole bodies over per-thread keep-alive connections (one per host and thread)."""

    def __init__(self, headers: dict[str, str] | None = None, timeout: float = 30.0):
        self.headers = dict(headers or {})
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        conn = pool.get((scheme, netloc))
        if conn is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = cls(netloc, timeout=self.timeout)
            pool[(scheme, netloc)] = conn
        return conn

    def _forget(self, scheme: str, netloc: str) -> None:
        conn = self._local.__dict__.get("pool", {}).pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def get(self, url: str, abort: threading.Event | None = None) -> bytes:
        """The whole body of `url` (following redirects).  Raises HttpStatusError for a non-200
        answer, OSError (ConnectionError, TimeoutError) for a broken transfer, FetchAborted."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            conn = self._connection(parts.scheme, parts.netloc)
            try:
                conn.request("GET", path or "/", headers=self.headers)
                resp = conn.getresponse()
                if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                    resp.read()
                    url = urljoin(url, resp.getheader("Location"))
                    continue
                if resp.status != 200:
                    resp.read()
                    raise HttpStatusError(resp.status, url)
                return self._read_body(resp, abort)
            except http.client.HTTPException as exc:
                self._forget(parts.scheme, parts.netloc)
                raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:
                self._forget(parts.scheme, parts.netloc)
                raise
        raise HttpStatusError(310, url)

    @staticmethod
    def _read_body(resp: http.client.HTTPResponse, abort: threading.Event | None) -> bytes:
        if abort is not None and abort.is_set():
            raise FetchAborted()
        length = resp.getheader("Content-Length")
        body = resp.read()  # one C-level read loop into one buffer: the fastest way through http.client
        if length and length.isdigit() and len(body) != int(length):
            raise ConnectionError(f"body cut short: {len(body)} of {length} bytes")
        return body
