"""A thin HLS client: media playlist parsing and keep-alive HTTP GETs of whole fragments.

What the downloader's own fetcher needs for every VOD Twitch serves: MPEG-TS and fMP4
(`#EXT-X-MAP` init sections, which may change after an `#EXT-X-DISCONTINUITY`), relative and
absolute URIs with query strings.  What it cannot fetch correctly (byte ranges, encryption) is
named in `MediaPlaylist.unsupported`, so the caller refuses it before fetching a byte.

Every answer is bounded, whatever the server does: a whole answer must arrive within the client's
`deadline` (a drip-feeding server cannot hold a connection for longer), its body may not exceed the
caller's `BodyLimits.max_bytes` (never more than `MAX_BODY_BYTES`), redirects go only to http(s)
URLs, and a playlist may list at most `MAX_PLAYLIST_SEGMENTS` segments.  A fetch whose `abort`
event is set stops within `WATCH_INTERVAL`, even in the middle of a read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 5
ERROR_BODY_LIMIT = 4096  # bytes of an error answer kept: enough for an S3 `<Error><Code>` document
MAX_BODY_BYTES = 64 * 2**20  # no answer is held larger than this (a 10 s segment at 50 Mbit/s)
MAX_PLAYLIST_BYTES = 16 * 2**20  # a 48-hour VOD of 2 s segments with signed URIs is well under it
MAX_PLAYLIST_SEGMENTS = 100_000  # 48 hours (Twitch's longest VOD) of 2 s segments is 86,400
DEADLINE_PER_TIMEOUT = 6  # a whole answer may take this many read timeouts
WATCH_INTERVAL = 0.1  # how often open transfers are checked against their deadline and abort event
READ_CHUNK = 2**20  # a body of unknown length is read, and held, in pieces of this size
REDIRECT_SCHEMES = ("http", "https")
CROSS_HOST_DROPPED = ("authorization", "cookie")  # credentials are for the host they were given to
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


class AnswerDeadline(TimeoutError):
    """The whole answer did not arrive within the deadline (a stalled or drip-fed transfer)."""


class RefusedAnswer(Exception):
    """An answer the client will not follow or hold; asking again gets the same."""


class BodyTooLarge(RefusedAnswer):
    """The body is larger than the caller allows."""


class RefusedRedirect(RefusedAnswer):
    """A redirect to somewhere the client does not go."""


class PlaylistTooLarge(RefusedAnswer):
    """A playlist listing more segments than any VOD has."""


@dataclasses.dataclass(frozen=True)
class BodyLimits:
    """What one answer's body may cost: at most `max_bytes`, and `reserve(n)` is called before `n` more
    bytes are held (it may wait for memory; the wait does not count against the deadline)."""

    max_bytes: int = MAX_BODY_BYTES
    reserve: Callable[[int], None] | None = None


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
    """Parse an m3u8 media playlist; every URI is made absolute against `base_url`.  Raises
    PlaylistTooLarge past `MAX_PLAYLIST_SEGMENTS` segments."""
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
            if len(segments) >= MAX_PLAYLIST_SEGMENTS:
                raise PlaylistTooLarge(f"the playlist lists more than {MAX_PLAYLIST_SEGMENTS} segments")
            if discontinuity and segments:
                run += 1
            discontinuity = False
            segments.append(Segment(len(segments), urljoin(base_url, line), duration, init_url, run))
            duration = 0.0
    return MediaPlaylist(segments, ended, is_master, tuple(unsupported))


def get_media_playlist(client: HttpClient, url: str) -> MediaPlaylist:
    """The media playlist at `url`, within the caps: MAX_PLAYLIST_BYTES of text (BodyTooLarge past it) and
    MAX_PLAYLIST_SEGMENTS segments (PlaylistTooLarge)."""
    text = client.get(url, limits=BodyLimits(MAX_PLAYLIST_BYTES)).decode("utf-8", errors="replace")
    return parse_media_playlist(text, url)


def _note(found: list[str], feature: str) -> None:
    if feature not in found:
        found.append(feature)


class Transfer:
    """One GET in progress: its socket, when it must be over, and the event that aborts it."""

    def __init__(self, deadline: float, abort: threading.Event | None):
        self.deadline = deadline
        self.due = time.monotonic() + deadline
        self.abort = abort
        self.sock: socket.socket | None = None
        self.cut_for: str | None = None  # "aborted" or "deadline" once the watch has cut it
        self.done = False  # over: its socket (kept alive for the next GET) is no longer its own
        self._paused_since: float | None = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time the caller spends waiting (for memory) is not the server's: the deadline moves on."""
        self._paused_since = time.monotonic()
        try:
            yield
        finally:
            self.due += time.monotonic() - self._paused_since
            self._paused_since = None

    def check(self, now: float) -> None:
        """Cut the transfer when it was aborted or is overdue: a shut-down socket wakes a blocked read at once."""
        if self.cut_for is not None or self.sock is None or self.done:
            return
        if self.abort is not None and self.abort.is_set():
            self.cut_for = "aborted"
        elif self._paused_since is None and now > self.due:
            self.cut_for = "deadline"
        else:
            return
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def raise_if_cut(self, cause: BaseException) -> None:
        if self.cut_for == "aborted":
            raise FetchAborted() from cause
        if self.cut_for == "deadline":
            raise AnswerDeadline(f"no whole answer within {self.deadline:g} s") from cause


class TransferWatch:
    """One thread for every open transfer of the process, running only while there are any: it cuts
    those that were aborted or overran their deadline (a read timeout alone bounds one read, not a
    transfer, and a read blocked in the kernel does not see an abort event)."""

    def __init__(self) -> None:
        self._open: set[Transfer] = set()
        self._lock = threading.Lock()
        self._running = False

    @contextlib.contextmanager
    def watching(self, transfer: Transfer) -> Iterator[Transfer]:
        with self._lock:
            self._open.add(transfer)
            if not self._running:
                self._running = True
                threading.Thread(target=self._loop, name="transfer-watch", daemon=True).start()
        try:
            yield transfer
        finally:
            transfer.done = True
            with self._lock:
                self._open.discard(transfer)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._open:
                    self._running = False
                    return
                transfers = list(self._open)
            now = time.monotonic()
            for transfer in transfers:
                transfer.check(now)
            time.sleep(WATCH_INTERVAL)


WATCH = TransferWatch()


def redirect_target(current: str, location: str) -> str:
    """Where a redirect from `current` leads, if the client goes there: http(s) only, never from https
    down to http, never with credentials in the URL."""
    target = urljoin(current, location.strip())
    parts = urlsplit(target)
    if parts.scheme not in REDIRECT_SCHEMES:
        raise RefusedRedirect(f"redirect to a {parts.scheme or 'relative'}: URL refused (only http and https)")
    if urlsplit(current).scheme == "https" and parts.scheme == "http":
        raise RefusedRedirect("redirect from https to plain http refused")
    if parts.username is not None or parts.password is not None or not parts.hostname:
        raise RefusedRedirect("redirect to a URL with credentials or without a host refused")
    return target


class HttpClient:
    """GET whole bodies over per-thread keep-alive connections (one per host and thread).  `timeout`
    bounds the connect and each read; `deadline` (default `DEADLINE_PER_TIMEOUT` x `timeout`) a whole answer."""

    def __init__(self, headers: dict[str, str] | None = None, timeout: float = 30.0, deadline: float | None = None):
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else timeout * DEADLINE_PER_TIMEOUT
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

    def get(self, url: str, abort: threading.Event | None = None, limits: BodyLimits | None = None) -> bytes:
        """The whole body of `url` (following redirects).  Raises HttpStatusError for a non-200 answer,
        OSError (ConnectionError, TimeoutError, AnswerDeadline) for a broken or overdue transfer,
        RefusedAnswer (a body over `limits`, a redirect off http(s)), FetchAborted."""
        if abort is not None and abort.is_set():
            raise FetchAborted()
        with WATCH.watching(Transfer(self.deadline, abort)) as transfer:
            try:
                return self._follow(url, transfer, limits or BodyLimits())
            except OSError as exc:
                transfer.raise_if_cut(exc)
                raise

    def _follow(self, url: str, transfer: Transfer, limits: BodyLimits) -> bytes:
        host = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            conn = self._connection(parts.scheme, parts.netloc)
            try:
                if conn.sock is None:
                    conn.connect()
                transfer.sock = conn.sock
                conn.request("GET", path or "/", headers=self._headers_for(parts.netloc == host))
                resp = conn.getresponse()
                if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                    resp.read(ERROR_BODY_LIMIT)
                    url = redirect_target(url, resp.getheader("Location") or "")
                    if not resp.isclosed():  # a redirect's body left unread: the connection cannot be reused
                        self._forget(parts.scheme, parts.netloc)
                    continue
                if resp.status != 200:
                    raise HttpStatusError(resp.status, url, resp.read(ERROR_BODY_LIMIT))
                body = self._read_body(resp, transfer, limits)
                if transfer.cut_for is not None:  # complete, but the connection was shut down under it
                    self._forget(parts.scheme, parts.netloc)
                return body
            except http.client.HTTPException as exc:
                self._forget(parts.scheme, parts.netloc)
                raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:
                self._forget(parts.scheme, parts.netloc)  # also after an error answer: its body may be unread
                raise
        raise HttpStatusError(310, url)

    def _headers_for(self, same_host: bool) -> dict[str, str]:
        if same_host:
            return self.headers
        return {k: v for k, v in self.headers.items() if k.lower() not in CROSS_HOST_DROPPED}

    @staticmethod
    def _read_body(resp: http.client.HTTPResponse, transfer: Transfer, limits: BodyLimits) -> bytes:
        if transfer.abort is not None and transfer.abort.is_set():
            raise FetchAborted()
        length = resp.length  # None for a chunked body or one that ends with the connection
        if length is not None:
            if length > limits.max_bytes:
                raise BodyTooLarge(f"an answer of {length} bytes, more than the {limits.max_bytes} allowed")
            _reserve(limits, transfer, length)
            body = resp.read()  # one C-level read loop into one buffer: the fastest way through http.client
            if len(body) != length:
                raise ConnectionError(f"body cut short: {len(body)} of {length} bytes")
            return body
        chunks: list[bytes] = []
        held = 0
        while True:
            _reserve(limits, transfer, READ_CHUNK)
            chunk = resp.read(READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            held += len(chunk)
            if held > limits.max_bytes:
                raise BodyTooLarge(f"an answer of more than the {limits.max_bytes} bytes allowed")
            chunks.append(chunk)


def _reserve(limits: BodyLimits, transfer: Transfer, size: int) -> None:
    if limits.reserve is not None:
        with transfer.paused():
            limits.reserve(size)
