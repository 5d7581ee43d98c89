"""The own HLS fetcher: fragments fetched concurrently, written once, in order, into one file.

The playlist becomes a plan of pieces: each run's init section (fMP4's EXT-X-MAP, written once
at the start of its run) and every media segment.  Workers fetch pieces into memory (a bounded
number of bytes ahead of the writer); the writer appends each piece to the part file and then
records it in the journal (`<part>.frags`, one `position size kind` line per piece).  The journal
line is written only after the piece's bytes, so after a SIGKILL at any instant the journal
describes a prefix of the part file: resume truncates the part file to that prefix and continues
with the next piece.  Nothing is ever skipped or appended twice.

A segment Twitch lost (refused in every form, `N.ts`, `N-muted.ts`, `N-unmuted.ts`, again after
a pause) is journaled as lost with no bytes: the VOD keeps its timeline with a gap there, and the
caller decides whether the gaps are small enough (`max_lost_seconds`).

Memory is bounded: every byte a worker holds (being read, or waiting for its turn) is taken from one
`MemoryBudget` of `buffer_bytes` first.  A worker that finds it spent waits, except the one fetching
the piece the writer waits for, which always goes on (so the writer can never be starved): at most
`buffer_bytes` + one fragment in memory.  No fragment is held larger than `fragment_cap`.
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

from vodtender.clients.hls import (
    MAX_BODY_BYTES,
    BodyLimits,
    FetchAborted,
    HttpClient,
    HttpStatusError,
    MediaPlaylist,
    RefusedAnswer,
    Segment,
)
from vodtender.pipeline.errors import SystemicError, TransientError
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.logs import get_logger

log = get_logger("downloader")

JOURNAL_MAGIC = "vodtender-fragments 2"
TICK_SECONDS = 0.25
MAX_WINDOW = 256
_SEGMENT_NAME = re.compile(r"(?:^|/)(\d+)(-unmuted|-muted)?\.(ts|mp4)$")  # a file name N.ts, N-muted.mp4, ...
LOST_AFTER_ROUNDS = 3  # a segment refused in every form this many times (with pauses between) is lost
M_ARENA_MAX = -8  # mallopt(3)
FRAGMENT_SIZE_MARGIN = 4  # a fragment may be this many times its share of the bitrate ...
FRAGMENT_SIZE_FLOOR = 8 * 2**20  # ... or this large, whichever is more (but never over MAX_BODY_BYTES)
INIT_SECTION_MAX = 4 * 2**20  # an fMP4 init section is a few kB


def share_malloc_arenas() -> None:
    """Fragment buffers are a few MiB each, allocated by one worker thread and freed by another.
    With glibc's default of one arena per thread, freed buffers stay cached in eight arenas that
    never shrink (peak RSS +40%); two shared arenas keep memory near what is really in use.
    Called once per process, before the first fetch."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)


NORMAL, MUTED, INIT, LOST = "-", "m", "i", "l"  # journal kinds


@dataclasses.dataclass(frozen=True)
class Piece:
    """One thing to fetch and write, in file order: a run's init section or a media segment."""

    position: int
    url: str
    segment: Segment | None  # None: the init section of the next segment's run


def plan(playlist: MediaPlaylist) -> list[Piece]:
    """The pieces of `playlist` in file order: each run's init section (if any) before its first segment."""
    pieces: list[Piece] = []
    previous: Segment | None = None
    for segment in playlist.segments:
        new_run = previous is None or segment.run != previous.run
        if segment.init_url and new_run:
            pieces.append(Piece(len(pieces), segment.init_url, None))
        pieces.append(Piece(len(pieces), segment.url, segment))
        previous = segment
    return pieces


@dataclasses.dataclass(frozen=True)
class Written:
    position: int
    size: int
    kind: str = NORMAL

    @property
    def muted(self) -> bool:
        return self.kind == MUTED

    @property
    def lost(self) -> bool:
        return self.kind == LOST


class FragmentJournal:
    """Which pieces the part file holds, in order.  Survives SIGKILL at any instant."""

    def __init__(self, path: Path, pieces: list[Piece]):
        self.path = path
        uris = "\n".join(p.url.split("?", 1)[0] for p in pieces)
        self.header = f"{JOURNAL_MAGIC} {len(pieces)} {hashlib.sha1(uris.encode()).hexdigest()[:16]}"
        self._fd: int | None = None

    def load(self) -> list[Written]:
        """The valid prefix: the header must match this plan, then pieces 0, 1, 2, ... in order."""
        try:
            lines = self.path.read_text(errors="replace").split("\n")
        except FileNotFoundError:
            return []
        if not lines or lines[0] != self.header:
            return []
        entries: list[Written] = []
        for line in lines[1:-1]:  # the last element is empty or an unfinished line
            parts = line.split(" ")
            if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or parts[2] not in _KINDS:
                break
            if int(parts[0]) != len(entries):
                break
            entries.append(Written(int(parts[0]), int(parts[1]), parts[2]))
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
        return f"{entry.position} {entry.size} {entry.kind}\n"


_KINDS = (NORMAL, MUTED, INIT, LOST)


def segment_forms(url: str) -> list[tuple[str, bool]]:
    """Every name Twitch may serve a segment under, the listed one first, as (url, muted): a muted
    segment is `N-muted.ts`/`.mp4` while the playlist may list `N-unmuted.*` (403) or `N.*`."""
    path, sep, query = url.partition("?")
    match = _SEGMENT_NAME.search(path)
    if not match:
        return [(url, False)]
    stem, ext = path[: match.start(1)] + match.group(1), match.group(3)
    forms = [(url, match.group(2) == "-muted")]
    for suffix, muted in (("-muted", True), ("", False)):
        candidate = f"{stem}{suffix}.{ext}{sep}{query}"
        if all(candidate != known for known, _ in forms):
            forms.append((candidate, muted))
    return forms


@dataclasses.dataclass
class Progress:
    """What the fetch has done so far; read by the tick callback."""

    fragment_count: int
    total_duration: float
    fragments_done: int = 0
    bytes_done: int = 0
    duration_done: float = 0.0  # seconds of video fetched (lost segments not included)
    lost_seconds: float = 0.0
    bitrate_estimate: float = 0.0  # bytes per second of video, before any fragment is in

    @property
    def total_estimate(self) -> int:
        if self.fragments_done == self.fragment_count:
            return self.bytes_done
        if self.duration_done > 0:
            return int(self.bytes_done / self.duration_done * (self.total_duration - self.lost_seconds))
        return int(self.bitrate_estimate * self.total_duration)


class MemoryBudget:
    """Bytes the workers hold in memory.  `take` waits while they would exceed `limit`, except for the
    piece at `head` (the one the writer waits for): it always may, so the fetch always moves on."""

    def __init__(self, limit: int, abort: threading.Event):
        self.limit = limit
        self.abort = abort
        self.held = 0
        self.peak = 0  # the most ever held
        self.head = 0
        self._changed = threading.Condition()

    def take(self, position: int, size: int) -> None:
        with self._changed:
            while self.held + size > self.limit and position != self.head:
                if self.abort.is_set():
                    raise FetchAborted()
                self._changed.wait(TICK_SECONDS)
            self.held += size
            self.peak = max(self.peak, self.held)

    def give(self, size: int) -> None:
        with self._changed:
            self.held -= size
            self._changed.notify_all()

    def advance(self, head: int) -> None:
        with self._changed:
            self.head = head
            self._changed.notify_all()


class Hold:
    """What one piece's fetch has taken from the budget, given back once the piece is written or failed."""

    def __init__(self, budget: MemoryBudget, position: int):
        self.budget = budget
        self.position = position
        self.size = 0

    def take(self, size: int) -> None:
        self.budget.take(self.position, size)
        self.size += size

    def release(self) -> None:
        self.budget.give(self.size)
        self.size = 0


class TooMuchLost(TransientError):
    """More of the VOD is lost than the caller allows; a later attempt may find it served again."""


class HlsFetch:
    """Fetch every piece of `playlist` into `part` (resuming from its journal)."""

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
        max_lost_seconds: float | None = None,
        on_written: Callable[[Written], None] | None = None,
        sink: Callable[[bytes | memoryview], None] | None = None,
    ):
        self.playlist = playlist
        self.pieces = plan(playlist)
        self.part = part
        self.journal = FragmentJournal(part.with_name(part.name + ".frags"), self.pieces)
        self.client = client
        self.concurrency = max(1, concurrency)
        self.buffer_bytes = buffer_bytes
        self.fragment_retries = fragment_retries
        self.min_free = min_free
        self.max_lost_seconds = max_lost_seconds  # None: any amount may be lost
        self.on_written = on_written
        self.sink = sink  # sees every piece written to the part file once, in order (the packet counter)
        self.progress = Progress(
            len(playlist.segments), playlist.duration, bitrate_estimate=(bitrate_kbps or 0) * 1000 / 8
        )
        self.written: list[Written] = []
        self.abort = threading.Event()
        self.budget = MemoryBudget(buffer_bytes, self.abort)
        self._last_space_check = 0.0
        self._estimate_known = bool(bitrate_kbps)

    def resume_point(self) -> int:
        """Make the part file match the journal's valid prefix; returns the first piece to fetch."""
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
                for entry in entries:  # piece by piece: the sink may rely on fragment boundaries
                    if entry.size:
                        self.sink(fh.read(entry.size))
        return len(entries)

    def run(self, tick: Callable[[], bool]) -> list[Written]:
        """Fetch the rest.  `tick()` runs every ~0.25 s; returning False stops the fetch (raises FetchAborted)."""
        start = self.resume_point()
        self.budget.advance(start)
        self.check_space()
        fd = os.open(self.part, os.O_WRONLY)
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="fragment")
        pending: deque[tuple[Piece, Future]] = deque()
        queue = iter(self.pieces[start:])
        try:
            self._top_up(pending, queue, pool)
            offset = sum(e.size for e in self.written)
            while pending:
                piece, future = pending[0]
                try:
                    data, kind, hold = future.result(timeout=TICK_SECONDS)
                except FutureTimeout:
                    if not tick():
                        raise FetchAborted() from None
                    self.check_space(throttle=True)
                    continue
                pending.popleft()
                offset = self._write(fd, offset, piece, data, kind)
                del data, future  # the bytes are on disk: not held any more
                hold.release()
                self.budget.advance(piece.position + 1)
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
        """Pieces queued ahead of the writer: about as many as `buffer_bytes` holds (pieces complete out
        of order, and the writer must not stall the workers), at least a few per worker.  What is really
        held is bounded by the budget, not by this count."""
        done = self.progress.fragments_done
        average = self.progress.bytes_done / done if done else 0
        by_memory = int(self.buffer_bytes / average) if average else 0
        return min(MAX_WINDOW, max(self.concurrency + 2, by_memory))

    def _top_up(self, pending: deque[tuple[Piece, Future]], queue: Iterator[Piece], pool: ThreadPoolExecutor) -> None:
        while len(pending) < self.window():
            piece = next(queue, None)
            if piece is None:
                return
            pending.append((piece, pool.submit(self._fetch, piece)))

    def _write(self, fd: int, offset: int, piece: Piece, data: bytes, kind: str) -> int:
        view = memoryview(data)
        done = 0
        while done < len(data):  # pwrite may write less than asked (disk full)
            done += os.pwrite(fd, view[done:], offset + done)
        entry = Written(piece.position, len(data), kind)
        self.journal.append(entry)  # only after the bytes: the journal never vouches for unwritten data
        if self.sink is not None and data:
            self.sink(view)
        self.written.append(entry)
        self._count(entry)
        if self.on_written is not None:
            self.on_written(entry)
        if entry.lost:
            self._check_lost()
        elif not self._estimate_known and piece.segment is not None:  # the first fragment sizes the VOD
            self._estimate_known = True
            self.check_space()
        return offset + len(data)

    def _count(self, entry: Written) -> None:
        self.progress.bytes_done += entry.size
        segment = self.pieces[entry.position].segment
        if segment is None:
            return
        self.progress.fragments_done += 1
        if entry.lost:
            self.progress.lost_seconds += segment.duration
        else:
            self.progress.duration_done += segment.duration

    def _check_lost(self) -> None:
        lost = self.progress.lost_seconds
        if self.max_lost_seconds is not None and lost > self.max_lost_seconds:
            raise TooMuchLost(
                f"{lost:.0f} s of the VOD lost by Twitch so far, more than DOWNLOAD_MAX_GAP allows "
                f"({self.max_lost_seconds:.0f} s)"
            )

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
                f"disk full: {free // 2**20} MiB free in {self.part.parent}, need {(remaining + margin) // 2**20} MiB",
                certain=True,
            )

    def fragment_cap(self, piece: Piece) -> int:
        """The largest body accepted for `piece`: its duration at the bitrate (the rendition's, else what
        the fragments so far averaged) times FRAGMENT_SIZE_MARGIN, at least FRAGMENT_SIZE_FLOOR, at most
        MAX_BODY_BYTES (all a fragment gets while no bitrate is known)."""
        if piece.segment is None:
            return INIT_SECTION_MAX
        progress = self.progress
        rate = progress.bitrate_estimate or (
            progress.bytes_done / progress.duration_done if progress.duration_done else 0
        )
        if not rate:
            return MAX_BODY_BYTES
        by_rate = int(rate * piece.segment.duration * FRAGMENT_SIZE_MARGIN)
        return min(MAX_BODY_BYTES, max(FRAGMENT_SIZE_FLOOR, by_rate))

    def _fetch(self, piece: Piece) -> tuple[bytes, str, Hold]:
        """One piece, retried on network errors and 5xx.  A segment refused (403/404/410) in its listed
        form is tried in its other forms; refused in all of them, round after round, it is lost.
        An answer too large or redirected off http(s) fails the fetch at once (TransientError)."""
        hold = Hold(self.budget, piece.position)
        try:
            data, kind = self._fetch_held(piece, hold)
        except BaseException:
            hold.release()
            raise
        return data, kind, hold

    def _fetch_held(self, piece: Piece, hold: Hold) -> tuple[bytes, str]:
        forms = segment_forms(piece.url) if piece.segment is not None else [(piece.url, False)]
        limits = BodyLimits(self.fragment_cap(piece), hold.take)
        failures = refusals = 0
        while True:
            error: Exception | None = None
            for url, muted in forms:
                if self.abort.is_set():
                    raise FetchAborted()
                hold.release()  # what a failed try held
                try:
                    data = self.client.get(url, self.abort, limits)
                except RefusedAnswer as exc:
                    what = f"segment {piece.segment.index}" if piece.segment is not None else "init section"
                    raise TransientError(f"{what} ({url.split('?', 1)[0]}) refused: {exc}") from exc
                except HttpStatusError as exc:
                    error = exc
                    if exc.status in (403, 404, 410):
                        continue  # this form is not there: the next one may be
                    break
                except OSError as exc:
                    error = exc
                    break
                return data, (INIT if piece.segment is None else MUTED if muted else NORMAL)
            assert error is not None
            refused_everywhere = isinstance(error, HttpStatusError) and error.status in (403, 404, 410)
            if refused_everywhere:
                refusals += 1
                if refusals >= LOST_AFTER_ROUNDS:
                    if piece.segment is None:  # without its init section a run cannot be decoded
                        raise error
                    log.warning("segment lost by Twitch", segment=piece.segment.index, url=piece.url.split("?")[0])
                    return b"", LOST
            else:
                failures += 1
                if failures > self.fragment_retries:
                    raise error
            log.debug("fragment failed, retrying", piece=piece.position, attempt=failures + refusals, error=str(error))
            self.abort.wait(backoff_delay(0.25, failures + refusals, cap=10.0))
