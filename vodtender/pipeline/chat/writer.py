"""Batched chat writes: a bounded queue, one writer thread, one transaction per batch.

The IRC reader only puts events on the queue; this thread writes them every
CHAT_BATCH_INTERVAL or CHAT_BATCH_SIZE rows, whichever comes first, in one transaction
(deletion marks, gap records and the binding of earlier offline rows to a newly seen live
placeholder included).  A slow or busy database never blocks the reader until the queue
(CHAT_QUEUE_MAX items) is full; then the reader waits (counted in
`vodtender_chat_queue_full_total`), which pushes back on the socket instead of growing memory
or dropping rows.  A failed write keeps its batch and retries with backoff.  The SQL of each
write is `pipeline.chat.rows`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from vodtender.pipeline.chat.events import ChatEvent, ChatItem, GapEnd, GapStart
from vodtender.pipeline.chat.rows import (
    MessageRow,
    bind_offline_messages,
    close_gap,
    insert_messages,
    mark_deleted,
    open_gap,
)
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

PLACEHOLDER_REFRESH = 2.0
FIRST_RETRY_DELAY = 0.25  # a failed batch write; doubles per attempt, with jitter
MAX_RETRY_DELAY = 10.0


class _Stop:
    """The last item: everything before it has been written when the writer exits."""


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
        self._thread = threading.Thread(target=self._run, name="chat-writer", daemon=True)
        self._failing_since: float | None = None
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

    def _write_until_done(self, batch: list[ChatItem], give_up: bool) -> None:
        attempt = 0
        while True:
            try:
                self._write(batch)
            except Exception as exc:  # DB down, disk full, ...: keep the batch, retry
                attempt += 1
                WRITE_ERRORS.inc()
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    log.error(
                        "chat batch not written, retrying",
                        rows=len(batch),
                        error=f"{type(exc).__name__}: {exc}",
                        queued=self._queue.qsize(),
                    )
                if give_up and time.monotonic() - self._failing_since > 30:
                    log.error("chat rows lost: database unavailable at shutdown", rows=len(batch))
                    return
                time.sleep(backoff_delay(FIRST_RETRY_DELAY, attempt, cap=MAX_RETRY_DELAY))
                continue
            if self._failing_since is not None:
                log.info("chat writes recovered", after=f"{time.monotonic() - self._failing_since:.1f}s")
                self._failing_since = None
            return

    def _write(self, batch: list[ChatItem]) -> None:
        started = time.monotonic()
        events = [item for item in batch if isinstance(item, ChatEvent)]
        new_live = self._binder.refresh()
        bind = self._binder.bind
        rows: list[MessageRow] = []
        for e in events:
            vod_id, rel = bind(e.channel, e.abs_timestamp)
            rows.append((e.msg_id, e.channel, vod_id, rel, e.abs_timestamp, 0, *e.details))
        deletions = [e.deletes for e in events if e.deletes]

        def transaction() -> None:
            for channel, (vod_id, start) in new_live.items():
                bind_offline_messages(channel, vod_id, start)
            insert_messages(rows)
            mark_deleted(deletions)
            for item in batch:
                if isinstance(item, GapStart):
                    open_gap(item.channel, item.started_at, item.reason)
                elif isinstance(item, GapEnd):
                    close_gap(item.channel, item.ended_at)

        try:
            dbmod.write(transaction)
        except Exception:
            self._binder.invalidate()  # the backfill of new placeholders must run again
            raise
        committed = time.time()
        BATCH_SECONDS.observe(time.monotonic() - started)
        if events:
            COMMIT_LATENCY.observe(committed - min(e.received_at for e in events))
            ROWS_WRITTEN.inc(len(events))
            self.rows_committed += len(events)
        LAST_COMMIT.set(committed)
