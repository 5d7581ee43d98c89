"""A thin HLS client: media playlist parsing and keep-alive HTTP GETs of whole fragments.

What the downloader's own fetcher needs for every VOD Twitch serves: MPEG-TS and fMP4
(`#EXT-X-MAP` init sections, which may change after an `#EXT-X-DISCONTINUITY`), relative and
absolute URIs with query strings.  What it cannot fetch correctly (byte ranges, encryption) is
named in `MediaPlaylist.unsupported`, so the caller refuses it before fetching a byte.
"""

from __future__ import annotations

import dataclasses
import http.client
import re
import threading
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 5
ERROR_BODY_LIMIT = 4096  # bytes of an error answer kept: enough for an S3 `<Error><Code>` document
_MAP_URI = re.compile(r'URI="([^"]*)"')


class HttpStatusError(Exception):
    """The server answered, but not with the body we asked for."""

    def __init__(self, status: int, url: str, body: bytes = b""):
        super().__init__(f"HTTP {status} for {url.split('?', 1)[0]}")
        self.status = status
        self.url = url
        self.body = body[:ERROR_BODY_LIMIT]

    @property
    def object_gone(self) -> bool:
        """An S3-style `403 AccessDenied` (or a 404/410): the object no longer exists on the CDN.
        Twitch's CDN answers so for deleted or expired VOD files; it is not a refused credential."""
        return self.status in (404, 410) or (self.status == 403 and b"<Code>AccessDenied</Code>" in self.body)


class FetchAborted(Exception):
    """The caller asked the fetch to stop (cancel, shutdown)."""


@dataclasses.dataclass(frozen=True)
class Segment:
    index: int
    url: str
    duration: float
    init_url: str | None = None  # the EXT-X-MAP init section the segment needs (fMP4), if any
    run: int = 0  # runs are split by EXT-X-DISCONTINUITY and by a change of init section


@dataclasses.dataclass(frozen=True)
class MediaPlaylist:
    segments: list[Segment]
    ended: bool  # EXT-X-ENDLIST: a finished VOD, not one still being recorded
    is_master: bool  # a variant list, not segments
    unsupported: tuple[str, ...] = ()  # features the fetcher refuses (EXT-X-BYTERANGE, EXT-X-KEY ...)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def container(self) -> str:
        """ "mp4" for fragmented MP4 (init sections), "ts" for MPEG-TS."""
        return "mp4" if any(s.init_url for s in self.segments) else "ts"

    @property
    def run_count(self) -> int:
        return self.segments[-1].run + 1 if self.segments else 0


def parse_media_playlist(text: str, base_url: str) -> MediaPlaylist:
    """Parse an m3u8 media playlist; every URI is made absolute against `base_url`."""
    segments: list[Segment] = []
    unsupported: list[str] = []
    duration = 0.0
    init_url: str | None = None
    run = 0
    discontinuity = ended = is_master = False
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
        elif line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE"):
            discontinuity = True
        elif line.startswith("#EXT-X-KEY:") and "METHOD=NONE" not in line:
            _note(unsupported, "EXT-X-KEY (encrypted segments)")
        elif line.startswith("#EXT-X-BYTERANGE"):
            _note(unsupported, "EXT-X-BYTERANGE (segments as byte ranges)")
        elif line.startswith("#EXT-X-MAP:"):
            if "BYTERANGE=" in line:
                _note(unsupported, "EXT-X-MAP with BYTERANGE")
            match = _MAP_URI.search(line)
            new_init = urljoin(base_url, match.group(1)) if match else None
            if segments and new_init != init_url:
                discontinuity = True  # a new init section starts a new run even without the tag
            init_url = new_init
        elif line.startswith("#EXT-X-STREAM-INF:"):
            is_master = True
        elif not line.startswith("#"):
            if discontinuity and segments:
                run += 1
            discontinuity = False
            segments.append(Segment(len(segments), urljoin(base_url, line), duration, init_url, run))
            duration = 0.0
    return MediaPlaylist(segments, ended, is_master, tuple(unsupported))


def _note(found: list[str], feature: str) -> None:
    if feature not in found:
        found.append(feature)


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
                    raise HttpStatusError(resp.status, url, resp.read(ERROR_BODY_LIMIT))
                return self._read_body(resp, abort)
            except http.client.HTTPException as exc:
                self._forget(parts.scheme, parts.netloc)
                raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:
                self._forget(parts.scheme, parts.netloc)  # also after an error answer: its body may be unread
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
