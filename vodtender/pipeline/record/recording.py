"""One stream's recording on disk: the part file and its journal, which survive SIGKILL at any instant.

`DATA_DIR/.recording/<stream_id>.part` grows segment by segment, in media sequence order, each
segment once; `<part>.frags` says what it holds, one line per event, each written only after the
bytes it vouches for (the downloader's fragment journal, fetcher.py, for a stream with no end known):

    vodtender-recording 1 <source>                        header: "live" or "vod" playlist
    r <size> <init section path | ->                      a run starts: its fMP4 init section's bytes
    s <sequence> <size> <seconds> <program time | ->      a segment's bytes
    d <why> <start> <end> <seconds> <first> <last>        segments not recorded (ads, missed, ...)

A run is a stretch of segments that play on from each other; a new one starts after anything dropped,
at an `#EXT-X-DISCONTINUITY` and at a new init section.  Each fMP4 run begins with its init section,
so each run decodes on its own and the finished file joins them (assemble.py) without holes.
Resume truncates the part file to the journal's valid prefix and continues after its last sequence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from vodtender.clients.hls import FetchAborted, HttpStatusError, RefusedAnswer
from vodtender.clients.hls_live import LiveSegment
from vodtender.pipeline.download.assemble import Layout, Run
from vodtender.pipeline.download.paths import sanitise
from vodtender.pipeline.errors import SystemicError
from vodtender.pipeline.record.follow import Dropped, Item, PlaylistClient, ResumePoint
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.clock import utcnow
from vodtender.runtime.logs import get_logger

log = get_logger("recorder")

RECORDING_DIR = ".recording"
JOURNAL_MAGIC = "vodtender-recording 1"
SOURCES = ("live", "vod")
TICK_SECONDS = 0.25
REFUSED_ROUNDS = 2  # a live segment refused this often is gone from the CDN: recorded as missed
RETRY_CAP = 2.0  # seconds between a segment's retries, at most: the live window moves on meanwhile
SPACE_CHECK_INTERVAL = 1.0
ABSENT = "-"  # a journal field with no value: no program time, no init section


def part_path(data_dir: Path, stream_id: str) -> Path:
    return data_dir / RECORDING_DIR / f"{sanitise(stream_id, 60)}.part"


@dataclasses.dataclass(frozen=True)
class RunStart:
    size: int
    init: str  # the init section's URL path; ABSENT for MPEG-TS


@dataclasses.dataclass(frozen=True)
class SegmentWritten:
    sequence: int
    size: int
    seconds: float
    program_time: dt.datetime | None

    @property
    def end_time(self) -> dt.datetime | None:
        return self.program_time + dt.timedelta(seconds=self.seconds) if self.program_time else None


Entry = RunStart | SegmentWritten | Dropped


@dataclasses.dataclass(frozen=True)
class RecordedGap:
    """A gap inside the recording, as `recordings.gaps` stores it."""

    why: str
    start: dt.datetime
    end: dt.datetime
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seconds": round(self.seconds, 3),
            "why": self.why,
        }


def gaps_to_json(gaps: Sequence[RecordedGap]) -> str | None:
    return json.dumps([gap.as_dict() for gap in gaps]) if gaps else None


class RecordingJournal:
    """The `.frags` file beside the part file."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def load(self) -> tuple[str | None, list[Entry]]:
        """The source named in the header and the valid prefix of entries (sequences only ever grow)."""
        try:
            lines = self.path.read_text(errors="replace").split("\n")
        except FileNotFoundError:
            return None, []
        magic, _, source = lines[0].rpartition(" ")
        if magic != JOURNAL_MAGIC or source not in SOURCES:
            return None, []
        entries: list[Entry] = []
        last = -1
        for line in lines[1:-1]:  # the last element is empty or an unfinished line
            entry = _parse(line)
            if entry is None:
                break
            if not isinstance(entry, RunStart):
                first = entry.sequence if isinstance(entry, SegmentWritten) else entry.first
                if first <= last:
                    break
                last = entry.sequence if isinstance(entry, SegmentWritten) else entry.last
            entries.append(entry)
        return source, entries

    def rewrite(self, source: str, entries: list[Entry]) -> None:
        """Replace the journal (atomic: a kill leaves the old or the new one) and open it for appending."""
        self.close()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(f"{JOURNAL_MAGIC} {source}\n" + "".join(_line(e) for e in entries))
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def append(self, entry: Entry) -> None:
        assert self._fd is not None, "rewrite() opens the journal"
        os.write(self._fd, _line(entry).encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _line(entry: Entry) -> str:
    if isinstance(entry, RunStart):
        return f"r {entry.size} {entry.init}\n"
    if isinstance(entry, SegmentWritten):
        return f"s {entry.sequence} {entry.size} {entry.seconds:.3f} {_time_text(entry.program_time)}\n"
    return (
        f"d {entry.why} {_time_text(entry.start)} {_time_text(entry.end)} {entry.seconds:.3f} "
        f"{entry.first} {entry.last}\n"
    )


def _parse(line: str) -> Entry | None:
    parts = line.split(" ")
    try:
        if parts[0] == "r" and len(parts) == 3:
            return RunStart(_natural(parts[1]), parts[2])
        if parts[0] == "s" and len(parts) == 5:
            return SegmentWritten(_natural(parts[1]), _natural(parts[2]), float(parts[3]), _time_of(parts[4]))
        if parts[0] == "d" and len(parts) == 7:
            start, end = _time_of(parts[2]), _time_of(parts[3])
            if start is None or end is None:
                return None
            return Dropped(parts[1], start, end, float(parts[4]), _natural(parts[5]), _natural(parts[6]))
    except ValueError:
        return None
    return None


def _natural(text: str) -> int:
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def _time_text(moment: dt.datetime | None) -> str:
    return moment.isoformat() if moment is not None else ABSENT


def _time_of(text: str) -> dt.datetime | None:
    return None if text == ABSENT else dt.datetime.fromisoformat(text)


def _path_of(url: str) -> str:
    return url.split("?", 1)[0]


class RecordingFile:
    """Appends what the follower finds to the part file: segments fetched (concurrently when catching
    up a window, one at a time at the live edge), written once, in order, journaled after their bytes."""

    def __init__(self, part: Path, client: PlaylistClient, *, concurrency: int, fragment_retries: int, min_free: int):
        self.part = part
        self.client = client
        self.concurrency = max(1, concurrency)
        self.fragment_retries = fragment_retries
        self.min_free = min_free
        self.journal = RecordingJournal(part.with_name(part.name + ".frags"))
        self.source: str | None = None  # of what the part file holds; None while it holds nothing
        self.entries: list[Entry] = []
        self.bytes = 0
        self.segment_count = 0
        self.seconds = 0.0  # media seconds recorded
        self.ads_seconds = 0.0  # stitched ads left out
        self.started_at: dt.datetime | None = None  # program time of the first segment recorded
        self.last_end: dt.datetime | None = None  # wall-clock end of the last segment recorded
        self.gaps: list[RecordedGap] = []  # what was dropped between the first and the last segment
        self._pending: list[RecordedGap] = []  # dropped after the last segment: a gap once another follows
        self._run_init: str | None = None  # the init section of the run being written (None: no run yet)
        self.abort = threading.Event()
        self._fd: int | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._last_space_check = 0.0

    # -- what the journal says ---------------------------------------------------------------------
    def load(self) -> None:
        """Make the part file match the journal's valid prefix (after SIGKILL: all it vouches for)."""
        self.part.parent.mkdir(parents=True, exist_ok=True)
        source, entries = self.journal.load()
        size = self.part.stat().st_size if self.part.exists() else 0
        kept, offset = _fitting(entries, size)
        if len(kept) < len(entries) and sum(_size(e) for e in entries) > size:
            log.warning("recording shorter than its journal: keeping what it holds", part=str(self.part))
        with open(self.part, "ab") as fh:
            fh.truncate(offset)
        self.entries, self.bytes = kept, offset
        for entry in kept:
            self._count(entry)
        self.source = source if self.segment_count else None

    def begin(self, source: str) -> None:
        """Start appending, for the `source` playlist (the journal is rewritten to its valid prefix)."""
        self.journal.rewrite(source, self.entries)
        self.source = self.source or source
        self._fd = os.open(self.part, os.O_WRONLY | os.O_APPEND)
        self.abort.clear()

    def close(self) -> None:
        self.abort.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)  # a fetch in flight sees `abort`
            self._pool = None
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        self.journal.close()

    def discard(self) -> None:
        """The part file and its journal are no longer needed (published)."""
        self.close()
        for path in (self.part, self.journal.path):
            path.unlink(missing_ok=True)

    @property
    def segments(self) -> list[SegmentWritten]:
        return [e for e in self.entries if isinstance(e, SegmentWritten)]

    def _count(self, entry: Entry) -> None:
        """Keep the totals the lease keeper reads every second (without walking a long journal)."""
        if isinstance(entry, RunStart):
            self._run_init = entry.init
        elif isinstance(entry, Dropped):
            self.ads_seconds += entry.seconds if entry.why == "ad" else 0.0
            if self.segment_count:  # only what lies between two segments is a gap
                self._pending.append(RecordedGap(entry.why, entry.start, entry.end, entry.seconds))
        elif isinstance(entry, SegmentWritten):
            if not self.segment_count:
                self.started_at = entry.program_time
            self.segment_count += 1
            self.seconds += entry.seconds
            self.last_end = entry.end_time or self.last_end
            self.gaps.extend(self._pending)
            self._pending = []

    @property
    def resume_point(self) -> ResumePoint | None:
        for entry in reversed(self.entries):
            if isinstance(entry, SegmentWritten):
                return ResumePoint(entry.sequence, entry.end_time)
            if isinstance(entry, Dropped):
                return ResumePoint(entry.last, entry.end)
        return None

    @property
    def container(self) -> str:
        return "mp4" if any(isinstance(e, RunStart) and e.init != ABSENT for e in self.entries) else "ts"

    def layout(self) -> Layout:
        """The runs of the part file, for the finished file (one run: the part file as it is)."""
        runs: list[Run] = []
        offset = 0
        for entry in self.entries:
            if isinstance(entry, RunStart):
                runs.append(Run(offset, offset + entry.size))
            elif isinstance(entry, SegmentWritten):
                runs[-1].add(entry.seconds, offset + entry.size, lost=False)
            offset += _size(entry)
        return Layout([run for run in runs if run.has_media], self.container, [], self.seconds)

    # -- appending -----------------------------------------------------------------------------------
    def write(self, items: Sequence[Item], keep_going: Callable[[], bool]) -> None:
        """Append `items` in order (raises FetchAborted when `keep_going()` says stop)."""
        for item, data in self._fetched(items, keep_going):
            if isinstance(item, Dropped):
                self._record(item)
            elif data is None:
                self._record(_missed(item))
            else:
                self._append(item, data)

    def _fetched(self, items: Sequence[Item], keep_going: Callable[[], bool]) -> Iterator[tuple[Item, bytes | None]]:
        """Each item with its segment's bytes (None: not fetched), in order; up to `concurrency` fetches
        run ahead of the writer."""
        pool = self._pool or ThreadPoolExecutor(self.concurrency, thread_name_prefix="segment")
        self._pool = pool
        queue = iter(items)
        pending: deque[tuple[Item, Future[bytes | None] | None]] = deque()
        while True:
            while len(pending) < self.concurrency + 2:
                item = next(queue, None)
                if item is None:
                    break
                pending.append((item, pool.submit(self._fetch, item.url) if isinstance(item, LiveSegment) else None))
            if not pending:
                return
            item, future = pending.popleft()
            yield item, self._wait(future, keep_going) if future is not None else None

    def _wait(self, future: Future[bytes | None], keep_going: Callable[[], bool]) -> bytes | None:
        while True:
            try:
                return future.result(timeout=TICK_SECONDS)
            except FutureTimeout:
                if not keep_going():
                    self.abort.set()
                    raise FetchAborted() from None

    def _fetch(self, url: str) -> bytes | None:
        """A segment or init section, retried on network errors and 5xx; None when it cannot be had (an
        answer the client refuses, too large or redirected off http(s), is not asked for again)."""
        failures = refusals = 0
        while not self.abort.is_set():
            try:
                return self.client.get(url, self.abort)
            except RefusedAnswer as exc:
                log.warning(
                    "segment refused: recorded as missed", part=self.part.name, url=_path_of(url), error=str(exc)
                )
                return None
            except HttpStatusError as exc:
                error: Exception = exc
                refused = exc.status in (403, 404, 410)
            except OSError as exc:
                error, refused = exc, False
            refusals += refused
            failures += not refused
            if refusals >= REFUSED_ROUNDS or failures > self.fragment_retries:
                log.warning(
                    "segment not fetched: recorded as missed", part=self.part.name, url=_path_of(url), error=str(error)
                )
                return None
            self.abort.wait(backoff_delay(0.25, failures + refusals, cap=RETRY_CAP))
        raise FetchAborted()

    def _append(self, segment: LiveSegment, data: bytes) -> None:
        init = _path_of(segment.init_url) if segment.init_url else ABSENT
        if self._new_run(segment, init):
            head = b""
            if segment.init_url:
                fetched = self._fetch(segment.init_url)
                if fetched is None:
                    self._record(_missed(segment))
                    return
                head = fetched
            self._write_bytes(head)
            self._record(RunStart(len(head), init))
        self._write_bytes(data)
        self._record(SegmentWritten(segment.sequence, len(data), segment.duration, segment.program_time))
        self._check_space()

    def _new_run(self, segment: LiveSegment, init: str) -> bool:
        return self._run_init != init or bool(self._pending) or segment.discontinuity

    def _record(self, entry: Entry) -> None:
        self.journal.append(entry)  # only after the bytes it vouches for
        self.entries.append(entry)
        self._count(entry)

    def _write_bytes(self, data: bytes) -> None:
        assert self._fd is not None, "begin() opens the part file"
        view = memoryview(data)
        done = 0
        while done < len(data):  # write may write less than asked (disk full)
            done += os.write(self._fd, view[done:])
        self.bytes += len(data)

    def _check_space(self) -> None:
        now = time.monotonic()
        if now - self._last_space_check < SPACE_CHECK_INTERVAL:
            return
        self._last_space_check = now
        free = shutil.disk_usage(self.part.parent).free
        if free < self.min_free:
            raise SystemicError(
                f"disk full: {free // 2**20} MiB free in {self.part.parent}, "
                f"DOWNLOAD_MIN_FREE keeps {self.min_free // 2**20} MiB",
                certain=True,
            )


def _missed(segment: LiveSegment) -> Dropped:
    start = segment.program_time or utcnow()
    end = start + dt.timedelta(seconds=segment.duration)
    return Dropped("missed", start, end, segment.duration, segment.sequence, segment.sequence)


def _size(entry: Entry) -> int:
    return 0 if isinstance(entry, Dropped) else entry.size


def _fitting(entries: list[Entry], size: int) -> tuple[list[Entry], int]:
    """The entries whose bytes the part file holds (`size` of them), less a run that holds no segment."""
    kept: list[Entry] = []
    offset = 0
    for entry in entries:
        if offset + _size(entry) > size:
            break
        kept.append(entry)
        offset += _size(entry)
    while kept and isinstance(kept[-1], RunStart):  # its segment never made it: the run starts again
        offset -= _size(kept.pop())
    return kept, offset
