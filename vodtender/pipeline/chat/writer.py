"""Batched chat writes: a bounded queue, one writer thread, one transaction per batch.

The IRC reader only puts events on the queue; this thread writes them every
CHAT_BATCH_INTERVAL or CHAT_BATCH_SIZE rows, whichever comes first, in one transaction
(deletion marks, gap records and the binding of earlier offline rows to a newly seen live
placeholder included; so is the gap from a stream's start to the first join, known as soon as both
the join and the channel's live placeholder are).  A slow or busy database never blocks the reader until the queue
(CHAT_QUEUE_MAX items) is full; then the reader waits (counted in
`vodtender_chat_queue_full_total`), which pushes back on the socket instead of growing memory
or dropping rows.  A failed write keeps its batch and retries with backoff, unless the failure
belongs to the rows (a value no column holds): then the batch is split in halves until the refused
row is alone; that row goes to `chat_quarantine` as received, and every other row is stored.
The SQL of each write is `pipeline.chat.rows`.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from vodtender.pipeline.chat.events import ChatEvent, ChatItem, GapEnd, GapStart
from vodtender.pipeline.chat.rows import (
    bind_offline_messages,
    close_gap,
    insert_messages,
    mark_deleted,
    open_gap,
    quarantine,
    record_missed_start,
)
from vodtender.pipeline.chat.throttled_log import ThrottledWarning
from vodtender.runtime import db as dbmod
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod

log = get_logger("chat")

QUEUE_DEPTH = Gauge("vodtender_chat_queue_depth", "chat events waiting to be written")
QUEUE_FULL = Counter("vodtender_chat_queue_full_total", "times the IRC reader waited for room in the write queue")
QUEUE_WAIT = Counter("vodtender_chat_queue_wait_seconds_total", "time the IRC reader spent waiting for the queue")
BATCH_SECONDS = Histogram(
    "vodtender_chat_batch_write_seconds",
    "time to write one batch (one transaction)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
COMMIT_LATENCY = Histogram(
    "vodtender_chat_commit_latency_seconds",
    "from receiving the oldest event of a batch to its commit",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ROWS_WRITTEN = Counter("vodtender_chat_rows_written_total", "chat events handed to the database (duplicates ignored)")
WRITE_ERRORS = Counter("vodtender_chat_write_errors_total", "batch writes that failed and will be retried")
LAST_COMMIT = Gauge("vodtender_chat_last_commit_timestamp_seconds", "when the last batch was committed")
QUARANTINED = Counter(
    "vodtender_chat_quarantined_total", "chat lines the database refused as rows, kept as received in chat_quarantine"
)

PLACEHOLDER_REFRESH = 2.0
FIRST_RETRY_DELAY = 0.25  # a failed batch write; doubles per attempt, with jitter
MAX_RETRY_DELAY = 10.0
# Failures that belong to the rows, not to the database: the same rows fail the same way on every retry.
# SQLite: OverflowError (an int beyond 64 bits); PostgreSQL: DataError (beyond INTEGER), ValueError (NUL).
# Drivers raise their own DataError / IntegrityError (PEP 249 names them), peewee's only through execute_sql.
ROW_ERRORS = (OverflowError, ValueError, TypeError)
ROW_ERROR_NAMES = frozenset({"DataError", "IntegrityError"})
# Rows waiting this long without any commit make /readyz 503: above one SQLite busy timeout (30 s) plus
# the longest retry delay (10 s), so one long lock wait does not flap it; far below the ~200 s a busy
# channel (1000 msg/s) takes to fill the default queue, after which the reader stops reading.
STALL_AFTER = 60.0


def is_row_error(exc: Exception) -> bool:
    return isinstance(exc, ROW_ERRORS) or any(cls.__name__ in ROW_ERROR_NAMES for cls in type(exc).__mro__)


class _Stop:
    """The last item: everything before it has been written when the writer exits."""


@dataclass(slots=True)
class _Chunk:
    """Part of a batch still to be written; `refused` is its one row the database would not take."""

    items: list[ChatItem]
    refused: tuple[ChatEvent, str] | None = None

    def events(self) -> list[ChatEvent]:
        return [item for item in self.items if isinstance(item, ChatEvent)]

    def splittable(self) -> bool:
        return self.refused is None and bool(self.events())

    def split(self, error: str) -> list[_Chunk]:
        """Halves (each of which is tried again), or, for a single row, the rest with that row refused."""
        events = self.events()
        if len(events) > 1:
            pivot = events[len(events) // 2]  # by identity: a line seen twice makes equal events
            middle = next(place for place, item in enumerate(self.items) if item is pivot)
            return [_Chunk(self.items[:middle]), _Chunk(self.items[middle:])]
        return [_Chunk([item for item in self.items if item is not events[0]], (events[0], error))]


class PlaceholderBinder:
    """Channel -> its newest live placeholder (`live-<unix>`, live_ended_at NULL), refreshed every ~2 s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._refreshed = -PLACEHOLDER_REFRESH * 2
        self.live: dict[str, tuple[str, float]] = {}  # channel -> (twitch_vod_id, start unix seconds)

    def refresh(self) -> dict[str, tuple[str, float]]:
        """Re-read when due; returns the placeholders that are new since the last read."""
        if self._clock() - self._refreshed < PLACEHOLDER_REFRESH:
            return {}
        self._refreshed = self._clock()
        found: dict[str, tuple[str, float]] = {}
        query = (
            Vod.select(Vod.channel, Vod.twitch_vod_id, Vod.date)
            .where((Vod.is_placeholder == 1) & Vod.live_ended_at.is_null())
            .order_by(Vod.date)
        )
        for vod in query:
            if vod.date is not None:  # a placeholder without a start time cannot place chat
                found[vod.channel.lower()] = (vod.twitch_vod_id, unix_seconds(vod.date))
        new = {c: v for c, v in found.items() if self.live.get(c) != v}
        self.live = found
        return new

    def invalidate(self) -> None:
        self.live, self._refreshed = {}, self._clock() - PLACEHOLDER_REFRESH * 2

    def bind(self, channel: str, abs_timestamp: float) -> tuple[str | None, float | None]:
        live = self.live.get(channel)
        if live is None:
            return None, None
        return live[0], abs_timestamp - live[1]


class ChatWriter:
    """The writer thread.  `put()` from the reader; `close()` writes everything left, then stops."""

    def __init__(self, batch_interval: float, batch_size: int, queue_max: int):
        self.batch_interval = batch_interval
        self.batch_size = max(1, batch_size)
        self._queue: queue.Queue[ChatItem | _Stop] = queue.Queue(maxsize=max(1, queue_max))
        self._binder = PlaceholderBinder()
        self._first_joins: dict[str, float] = {}  # channel -> its first join of this run
        self._thread = threading.Thread(target=self._run, name="chat-writer", daemon=True)
        self._failing_since: float | None = None
        self._writing_since: float | None = None  # a batch is being written (rows wait) since then
        self._last_commit = -STALL_AFTER
        self._quarantine_warning = ThrottledWarning(
            "chat line quarantined: the database refused it as a row, the rest of its batch is stored"
        )
        self.rows_committed = 0
        QUEUE_DEPTH.set_function(self._queue.qsize)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def put(self, item: ChatItem) -> None:
        """Queue an item; waits while the queue is full (back-pressure on the socket, never a drop)."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            QUEUE_FULL.inc()
            started = time.monotonic()
            self._queue.put(item)
            QUEUE_WAIT.inc(time.monotonic() - started)

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float) -> bool:
        """Write everything queued, then stop the thread; False if that took longer than `timeout`."""
        if not self._thread.is_alive():
            return self._queue.empty()
        self._queue.put(_Stop())
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[ChatItem] = []
            first = self._queue.get()
            deadline = time.monotonic() + self.batch_interval
            while True:
                if isinstance(first, _Stop):
                    stopping = True
                    break
                batch.append(first)
                if len(batch) >= self.batch_size:
                    break
                try:
                    first = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            if batch:
                self._write_until_done(batch, give_up=stopping)

    def stalled_for(self) -> float:
        """Seconds rows have been waiting without any commit; 0 while writes go through."""
        since = self._writing_since
        return 0.0 if since is None else time.monotonic() - max(since, self._last_commit)

    def _write_until_done(self, batch: list[ChatItem], give_up: bool) -> None:
        self._writing_since = time.monotonic()
        pending = collections.deque([_Chunk(batch)])
        attempt = 0
        while pending:
            chunk = pending[0]
            try:
                self._write(chunk)
            except Exception as exc:
                if is_row_error(exc) and chunk.splittable():  # the same rows fail the same way
                    pending.popleft()
                    pending.extendleft(reversed(chunk.split(f"{type(exc).__name__}: {exc}")))
                    continue
                attempt += 1  # DB down, disk full, ...: keep what is left, retry
                if not self._wait_to_retry(pending, exc, attempt, give_up):
                    break
                continue
            pending.popleft()
            if self._failing_since is not None:
                log.info("chat writes recovered", after=f"{time.monotonic() - self._failing_since:.1f}s")
                self._failing_since = None
        self._writing_since = None

    def _wait_to_retry(self, pending: collections.deque[_Chunk], exc: Exception, attempt: int, give_up: bool) -> bool:
        """After a failed write: waits before the next attempt; False when shutting down gives up."""
        WRITE_ERRORS.inc()
        rows = sum(len(chunk.events()) for chunk in pending)
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.error(
                "chat batch not written, retrying",
                rows=rows,
                error=f"{type(exc).__name__}: {exc}",
                queued=self._queue.qsize(),
            )
        if give_up and time.monotonic() - self._failing_since > 30:
            log.error("chat rows lost: database unavailable at shutdown", rows=rows)
            return False
        time.sleep(backoff_delay(FIRST_RETRY_DELAY, attempt, cap=MAX_RETRY_DELAY))
        return True

    def _write(self, chunk: _Chunk) -> None:
        started = time.monotonic()
        events = chunk.events()
        new_live = self._binder.refresh()
        bind = self._binder.bind
        rows = [e.row(*bind(e.channel, e.abs_timestamp)) for e in events]
        deletions = [(e.channel, e.deletes) for e in events if e.deletes]
        late_joins = self._late_joins(chunk.items, new_live)

        def transaction() -> None:
            for channel, (vod_id, start) in new_live.items():
                bind_offline_messages(channel, vod_id, start)
            insert_messages(rows)
            mark_deleted(deletions)
            for item in chunk.items:
                if isinstance(item, GapStart):
                    open_gap(item.channel, item.started_at, item.reason)
                elif isinstance(item, GapEnd):
                    close_gap(item.channel, item.ended_at)
            for channel, stream_start, joined_at in late_joins:
                record_missed_start(channel, stream_start, joined_at)
            if chunk.refused is not None:
                quarantine(*chunk.refused)

        try:
            dbmod.write(transaction)
        except Exception:
            self._binder.invalidate()  # the backfill of new placeholders must run again
            raise
        committed = time.time()
        self._last_commit = time.monotonic()
        BATCH_SECONDS.observe(self._last_commit - started)
        if events:
            COMMIT_LATENCY.observe(committed - min(e.received_at for e in events))
            ROWS_WRITTEN.inc(len(events))
            self.rows_committed += len(events)
        LAST_COMMIT.set(committed)
        if chunk.refused is not None:
            self._quarantined(*chunk.refused)

    def _late_joins(
        self, items: list[ChatItem], new_live: dict[str, tuple[str, float]]
    ) -> list[tuple[str, float, float]]:
        """(channel, stream start, first join) for each channel first joined after its stream started,
        whose join or placeholder is new in this batch (the other may have come first)."""
        changed = set(new_live)
        for item in items:
            if isinstance(item, GapEnd) and item.first_of_run:
                self._first_joins.setdefault(item.channel, item.ended_at)
                changed.add(item.channel)
        found = []
        for channel in changed:
            live, joined_at = self._binder.live.get(channel), self._first_joins.get(channel)
            if live is not None and joined_at is not None and live[1] < joined_at:
                found.append((channel, live[1], joined_at))
        return found

    def _quarantined(self, event: ChatEvent, error: str) -> None:
        QUARANTINED.inc()
        self._quarantine_warning.warn(
            channel=event.channel, msg_id=event.msg_id, error=error, line=repr(event.raw_line[:200])
        )
