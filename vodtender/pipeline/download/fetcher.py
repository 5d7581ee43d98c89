"""The own HLS fetcher: fragments fetched concurrently, written once, in order, into one file.

Workers fetch fragments into memory (a bounded number of bytes ahead of the writer); the writer
appends each fragment to the part file and then records it in the journal
(`<part>.frags`, one `index size muted` line per fragment).  The journal line is written
only after the fragment's bytes, so after a SIGKILL at any instant the journal describes a
prefix of the part file: resume truncates the part file to that prefix and continues with
the next fragment.  Nothing is ever skipped or appended twice.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import os
import re
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from vodtender.clients.hls import FetchAborted, HttpClient, HttpStatusError, MediaPlaylist, Segment
from vodtender.pipeline.errors import SystemicError
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.logs import get_logger

log = get_logger("downloader")

JOURNAL_MAGIC = "vodtender-fragments 1"
TICK_SECONDS = 0.25
MAX_WINDOW = 256
_MUTABLE_NAME = re.compile(r"(\d+)(-unmuted)?\.ts$")
M_ARENA_MAX = -8  # mallopt(3)


def share_malloc_arenas() -> None:
    """Fragment buffers are a few MiB each, allocated by one worker thread and freed by another.
    With glibc's default of one arena per thread, freed buffers stay cached in eight arenas that
    never shrink (peak RSS +40%); two shared arenas keep memory near what is really in use.
    Called once per process, before the first fetch."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)


@dataclasses.dataclass(frozen=True)
class Written:
    index: int
    size: int
    muted: bool


class FragmentJournal:
    """Which fragments the part file holds, in order.  Survives SIGKILL at any instant."""

    def __init__(self, path: Path, playlist: MediaPlaylist):
        self.path = path
        uris = "\n".join(s.url.split("?", 1)[0] for s in playlist.segments)
        self.header = f"{JOURNAL_MAGIC} {len(playlist.segments)} {hashlib.sha1(uris.encode()).hexdigest()[:16]}"
        self._fd: int | None = None

    def load(self) -> list[Written]:
        """The valid prefix: the header must match this playlist, then fragments 0, 1, 2, ... in order."""
        try:
            lines = self.path.read_text(errors="replace").split("\n")
        except FileNotFoundError:
            return []
        if not lines or lines[0] != self.header:
            return []
        entries: list[Written] = []
        for line in lines[1:-1]:  # the last element is empty or an unfinished line
            parts = line.split(" ")
            if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or parts[2] not in "m-":
                break
            if int(parts[0]) != len(entries):
                break
            entries.append(Written(int(parts[0]), int(parts[1]), parts[2] == "m"))
        return entries

    def rewrite(self, entries: list[Written]) -> None:
        """Replace the journal with `entries` (atomic: a kill leaves the old or the new one)."""
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(self.header + "\n" + "".join(self._line(e) for e in entries))
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def append(self, entry: Written) -> None:
        assert self._fd is not None
        os.write(self._fd, self._line(entry).encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def _line(entry: Written) -> str:
        return f"{entry.index} {entry.size} {'m' if entry.muted else '-'}\n"


def muted_url(url: str) -> str | None:
    """Twitch serves a muted segment as `N-muted.ts` while its playlist may list `N-unmuted.ts` or `N.ts`."""
    path, sep, query = url.partition("?")
    match = _MUTABLE_NAME.search(path)
    if not match:
        return None
    return path[: match.start()] + f"{match.group(1)}-muted.ts" + sep + query


@dataclasses.dataclass
class Progress:
    """What the fetch has done so far; read by the tick callback."""

    fragment_count: int
    total_duration: float
    fragments_done: int = 0
    bytes_done: int = 0
    duration_done: float = 0.0
    bitrate_estimate: float = 0.0  # bytes per second of video, before any fragment is in

    @property
    def total_estimate(self) -> int:
        if self.fragments_done == self.fragment_count:
            return self.bytes_done
        if self.duration_done > 0:
            return int(self.bytes_done / self.duration_done * self.total_duration)
        return int(self.bitrate_estimate * self.total_duration)


class HlsFetch:
    """Fetch every fragment of `playlist` into `part` (resuming from its journal)."""

    def __init__(
        self,
        playlist: MediaPlaylist,
        part: Path,
        client: HttpClient,
        *,
        concurrency: int,
        fragment_retries: int,
        min_free: int,
        buffer_bytes: int = 64 * 2**20,
        bitrate_kbps: float | None = None,
        on_written: Callable[[Written], None] | None = None,
        sink: Callable[[bytes | memoryview], None] | None = None,
    ):
        self.playlist = playlist
        self.part = part
        self.journal = FragmentJournal(part.with_name(part.name + ".frags"), playlist)
        self.client = client
        self.concurrency = max(1, concurrency)
        self.buffer_bytes = buffer_bytes
        self.fragment_retries = fragment_retries
        self.min_free = min_free
        self.on_written = on_written
        self.sink = sink  # sees every fragment written to the part file once, in order (the packet counter)
        self.progress = Progress(
            len(playlist.segments), playlist.duration, bitrate_estimate=(bitrate_kbps or 0) * 1000 / 8
        )
        self.written: list[Written] = []
        self.abort = threading.Event()
        self._last_space_check = 0.0
        self._estimate_known = bool(bitrate_kbps)

    def resume_point(self) -> int:
        """Make the part file match the journal's valid prefix; returns the first fragment to fetch."""
        self.part.parent.mkdir(parents=True, exist_ok=True)
        entries = self.journal.load()
        offset = sum(e.size for e in entries)
        size = self.part.stat().st_size if self.part.exists() else 0
        if size < offset:  # bytes the journal vouches for are gone (not a kill: a crash of the host)
            log.warning("partial download shorter than its journal, starting over", part=str(self.part))
            entries, offset = [], 0
        with open(self.part, "ab") as fh:
            fh.truncate(offset)
        self.journal.rewrite(entries)
        self.written = entries
        for entry in entries:
            self._count(entry)
        if self.sink is not None and offset:
            with open(self.part, "rb") as fh:
                for entry in entries:  # fragment by fragment: the sink may rely on fragment boundaries
                    self.sink(fh.read(entry.size))
        return len(entries)

    def run(self, tick: Callable[[], bool]) -> list[Written]:
        """Fetch the rest.  `tick()` runs every ~0.25 s; returning False stops the fetch (raises FetchAborted)."""
        start = self.resume_point()
        self.check_space()
        segments = self.playlist.segments[start:]
        fd = os.open(self.part, os.O_WRONLY)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="fragment")
        pending: deque[tuple[Segment, Future]] = deque()
        queue = iter(segments)
        try:
            self._top_up(pending, queue, pool)
            offset = sum(e.size for e in self.written)
            while pending:
                segment, future = pending[0]
                try:
                    data, muted = future.result(timeout=TICK_SECONDS)
                except FutureTimeout:
                    if not tick():
                        raise FetchAborted() from None
                    self.check_space(throttle=True)
                    continue
                pending.popleft()
                offset = self._write(fd, offset, segment, data, muted)
                self._top_up(pending, queue, pool)
                if not tick():
                    raise FetchAborted()
                self.check_space(throttle=True)
            os.fsync(fd)
        finally:
            self.abort.set()
            pool.shutdown(wait=False, cancel_futures=True)
            os.close(fd)
            self.journal.close()
        return self.written

    def window(self) -> int:
        """Fragments fetched or held ahead of the writer: as many as `buffer_bytes` holds (fragments
        complete out of order, and the writer must not stall the workers), at least a few per worker."""
        done = self.progress.fragments_done
        average = self.progress.bytes_done / done if done else 0
        by_memory = int(self.buffer_bytes / average) if average else 0
        return min(MAX_WINDOW, max(self.concurrency + 2, by_memory))

    def _top_up(
        self, pending: deque[tuple[Segment, Future]], queue: Iterator[Segment], pool: ThreadPoolExecutor
    ) -> None:
        while len(pending) < self.window():
            segment = next(queue, None)
            if segment is None:
                return
            pending.append((segment, pool.submit(self._fetch, segment)))

    def _write(self, fd: int, offset: int, segment: Segment, data: bytes, muted: bool) -> int:
        view = memoryview(data)
        done = 0
        while done < len(data):  # pwrite may write less than asked (disk full)
            done += os.pwrite(fd, view[done:], offset + done)
        entry = Written(segment.index, len(data), muted)
        self.journal.append(entry)  # only after the bytes: the journal never vouches for unwritten data
        if self.sink is not None:
            self.sink(view)
        self.written.append(entry)
        self._count(entry)
        if self.on_written is not None:
            self.on_written(entry)
        if not self._estimate_known:  # the first fragment gives the size estimate the start-up check lacked
            self._estimate_known = True
            self.check_space()
        return offset + len(data)

    def _count(self, entry: Written) -> None:
        self.progress.fragments_done += 1
        self.progress.bytes_done += entry.size
        self.progress.duration_done += self.playlist.segments[entry.index].duration

    def check_space(self, throttle: bool = False) -> None:
        """Systemic error when the rest of the VOD (estimated) would not fit, keeping `min_free`."""
        now = time.monotonic()
        if throttle and now - self._last_space_check < 1.0:
            return
        self._last_space_check = now
        remaining = max(0, self.progress.total_estimate - self.progress.bytes_done)
        free = shutil.disk_usage(self.part.parent).free
        margin = self.min_free if not throttle else 0  # the margin is for starting; while writing, just fit
        if free < remaining + margin:
            raise SystemicError(
                f"disk full: {free // 2**20} MiB free in {self.part.parent}, need {(remaining + margin) // 2**20} MiB"
            )

    def _fetch(self, segment: Segment) -> tuple[bytes, bool]:
        """One fragment, retried on network errors and 5xx; a refused segment in its muted form."""
        url, muted = segment.url, False
        for attempt in range(self.fragment_retries + 1):
            if self.abort.is_set():
                raise FetchAborted()
            try:
                return self.client.get(url, self.abort), muted
            except HttpStatusError as exc:
                alternative = muted_url(url)
                if exc.status in (403, 404, 410) and not muted and alternative and alternative != url:
                    url, muted = alternative, True
                    continue
                error: Exception = exc
            except OSError as exc:
                error = exc
            if attempt == self.fragment_retries:
                raise error
            log.debug("fragment failed, retrying", fragment=segment.index, attempt=attempt + 1, error=str(error))
            self.abort.wait(backoff_delay(0.25, attempt + 1, cap=10.0))
        raise AssertionError("unreachable")
