"""Following a live playlist: each new segment once, ads dropped, and every gap with its wall-clock span.

The playlist is re-read every `poll_seconds`, by default every half of its newest segment's duration
(streamlink's HLS worker reloads at the target duration, which Twitch sets to three segments; half a
segment keeps us within a segment of the live edge).  A segment is new when its
media sequence number is past the last one handled, so a segment seen in many reads is taken once.
What the recording cannot hold is reported as `Dropped`, in sequence order with the segments:
- an ad break Twitch stitched in (`why="ad"`; the stitched segments are never fetched);
- segments that left the window before a read saw them: after a restart (`"restart"`: the journal's
  last sequence against the window's first), after the playlist was unreachable (`"outage"`), or
  because we fell behind (`"missed"`).
The end: `#EXT-X-ENDLIST`, or, once the poller no longer has the stream live (`is_live()`), the
playlist refused (usher's 404 for an offline channel) or no new segment for `end_grace` seconds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

import peewee

from vodtender.clients.hls import MAX_PLAYLIST_BYTES, BodyLimits, HttpStatusError, RefusedAnswer
from vodtender.clients.hls_live import LivePlaylist, LiveSegment, parse_live_playlist, with_origin
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.clock import Clock, SystemClock, from_unix
from vodtender.runtime.logs import get_logger

log = get_logger("recorder")

OUTAGE_RETRY_CAP = 10.0  # seconds between reads of an unreachable playlist, at most
REFRESH_INTERVAL = 30.0  # a refused playlist URL is resolved anew (a new token) at most this often
REFUSED = (403, 404, 410)
DEFAULT_TARGET = 2.0  # seconds: Twitch's live segments, until a playlist lists one


class PlaylistClient(Protocol):
    def get(self, url: str, abort: threading.Event | None = None, limits: BodyLimits | None = None) -> bytes: ...


@dataclasses.dataclass(frozen=True)
class Dropped:
    """A stretch of the stream the recording does not hold."""

    why: str  # "ad" | "missed" | "outage" | "restart"
    start: dt.datetime
    end: dt.datetime
    seconds: float  # media seconds it spans
    first: int  # media sequence numbers it covers
    last: int

    def joined(self, other: Dropped) -> Dropped:
        return dataclasses.replace(self, end=other.end, seconds=self.seconds + other.seconds, last=other.last)


Item = LiveSegment | Dropped


@dataclasses.dataclass(frozen=True)
class ResumePoint:
    """Where an earlier attempt stopped: its last segment and that segment's end."""

    sequence: int
    end_time: dt.datetime | None


class LiveFollower:
    """Yields, read after read, the batch of what is new: content segments and what was dropped."""

    def __init__(
        self,
        url: str,
        client: PlaylistClient,
        *,
        poll_seconds: float,
        end_grace: float,
        is_live: Callable[[], bool],
        stopping: threading.Event,
        resume: ResumePoint | None = None,
        refresh_url: Callable[[], str] | None = None,
        origin: dt.datetime | None = None,
        clock: Clock | None = None,
        stream_id: str | None = None,
    ):
        self.url = url
        self.client = client
        self.poll_seconds = poll_seconds  # <= 0: half the newest segment's duration
        self.end_grace = end_grace
        self.is_live = is_live
        self.stopping = stopping
        self.refresh_url = refresh_url
        self.origin = origin  # the stream's start, for a playlist without program times (a VOD's)
        self.clock: Clock = clock or SystemClock()
        self.next_sequence = resume.sequence + 1 if resume else None
        self.last_end = resume.end_time if resume else None  # wall-clock end of the last segment handled
        self.end_reason: str | None = None  # "endlist" | "gone" | "stalled" | "stopped"
        self.edge_end: dt.datetime | None = None  # the newest segment's end in the last read: the live edge
        self._why_unseen = "restart" if resume else "missed"
        self._open_ad: Dropped | None = None
        self._last_new = self.clock.monotonic()
        self._segment_seconds = DEFAULT_TARGET
        self._failures = 0
        self._refused = False  # the last failed read was refused (403/404/410), not a broken connection
        self._outage_started: float | None = None
        self._last_refresh = float("-inf")
        self._warned: set[str] = set()
        self.stream_id = stream_id  # on every log line: which recording it is about

    def batches(self) -> Iterator[list[Item]]:
        """Until the stream ends (`end_reason` says how) or `stopping` is set."""
        while True:
            started = self.clock.monotonic()
            playlist = self._read()
            if playlist is not None:
                batch = self._new_items(playlist)
                if batch:
                    yield batch
                if playlist.ended:
                    self._finish("endlist")
                    yield from self._closing()
                    return
            if self._over():
                yield from self._closing()
                return
            wait = self._next_wait(playlist) - (self.clock.monotonic() - started)
            if self.stopping.wait(max(0.0, wait)):
                self.end_reason = "stopped"
                return

    # -- reading --------------------------------------------------------------------------------------
    def _read(self) -> LivePlaylist | None:
        try:
            body = self.client.get(self.url, self.stopping, BodyLimits(MAX_PLAYLIST_BYTES))
            text = body.decode("utf-8", errors="replace")
        except HttpStatusError as exc:
            self._failed(exc, refused=exc.status in REFUSED)
            return None
        except (OSError, RefusedAnswer) as exc:  # unreachable, or an answer too large / redirected off http(s)
            self._failed(exc, refused=False)
            return None
        playlist = parse_live_playlist(text, self.url)
        if self.origin is not None:
            playlist = with_origin(playlist, self.origin)
        for problem in playlist.problems:
            self._warn_once(f"live playlist line skipped: {problem}")
        if playlist.is_master:
            self._warn_once("the live playlist is a variant list, not segments")
            return None
        if self._failures:
            down = self.clock.monotonic() - (self._outage_started or 0.0)
            log.info("live playlist reachable again", stream_id=self.stream_id, seconds=round(down, 1))
            self._why_unseen, self._failures, self._outage_started = "outage", 0, None
        return playlist

    def _failed(self, exc: Exception, refused: bool) -> None:
        if not self._failures:
            self._outage_started = self.clock.monotonic()
            log.warning("live playlist unreachable, retrying", stream_id=self.stream_id, error=str(exc))
        self._failures += 1
        self._refused = refused
        now = self.clock.monotonic()
        if refused and self.refresh_url is not None and now - self._last_refresh >= REFRESH_INTERVAL:
            self._last_refresh = now  # the playback token may have run out: ask for the playlist anew
            try:
                self.url = self.refresh_url()
            except Exception as error:  # a failed refresh is one more failed read
                log.warning("live playlist not resolved anew", stream_id=self.stream_id, error=str(error))

    def _next_wait(self, playlist: LivePlaylist | None) -> float:
        if playlist is not None and playlist.segments:
            self._segment_seconds = playlist.segments[-1].duration or playlist.target_duration or DEFAULT_TARGET
        interval = self.poll_seconds if self.poll_seconds > 0 else self._segment_seconds / 2
        if self._failures:  # an unreachable playlist: read less often the longer it lasts
            return min(OUTAGE_RETRY_CAP, backoff_delay(interval, self._failures))
        return interval

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning(message, stream_id=self.stream_id, url=self.url.split("?", 1)[0])

    # -- what is new ----------------------------------------------------------------------------------
    def _new_items(self, playlist: LivePlaylist) -> list[Item]:
        segments = playlist.segments
        if not segments:
            return []
        if self.next_sequence is not None and segments[-1].sequence < self.next_sequence - 1:
            self._restarted_numbering(playlist)
        items: list[Item] = []
        fresh = False
        first = segments[0]
        if self.next_sequence is not None and first.sequence > self.next_sequence:
            items.extend(self._flush_ad())
            items.append(self._unseen(first, playlist.target_duration))
        for segment in segments:
            if self.next_sequence is not None and segment.sequence < self.next_sequence:
                continue
            if segment.is_ad:
                self._add_ad(segment)
            else:
                items.extend(self._flush_ad())
                items.append(segment)
            self.next_sequence = segment.sequence + 1
            self.last_end = segment.end_time or self.last_end
            fresh = True
        self._why_unseen = "missed"
        if fresh:
            self._last_new = self.clock.monotonic()
        self.edge_end = segments[-1].end_time
        return items

    def _restarted_numbering(self, playlist: LivePlaylist) -> None:
        """The window's numbers are behind ours.  Newer segments by program time: the stream's numbering
        started again, follow it.  None: a stale copy of the playlist, nothing in it is new."""
        after = self.last_end
        newer = [s for s in playlist.segments if after and s.program_time and s.program_time >= after]
        if newer:
            self._warn_once("the live playlist's sequence numbers went back; following its new numbering")
            self.next_sequence = newer[0].sequence

    def _unseen(self, first: LiveSegment, target: float) -> Dropped:
        """The segments between the last one handled and the window's first, which no read saw."""
        assert self.next_sequence is not None
        count = first.sequence - self.next_sequence
        end = first.program_time or self._now()
        start = self.last_end or end - dt.timedelta(seconds=count * (target or DEFAULT_TARGET))
        seconds = max(0.0, (end - start).total_seconds())
        log.warning(
            "segments left the live window before they were read",
            stream_id=self.stream_id,
            why=self._why_unseen,
            segments=count,
            seconds=round(seconds, 1),
        )
        return Dropped(self._why_unseen, start, end, seconds, self.next_sequence, first.sequence - 1)

    def _add_ad(self, segment: LiveSegment) -> None:
        start = segment.program_time or self.last_end or self._now()
        ad = Dropped(
            "ad",
            start,
            start + dt.timedelta(seconds=segment.duration),
            segment.duration,
            segment.sequence,
            segment.sequence,
        )
        self._open_ad = self._open_ad.joined(ad) if self._open_ad is not None else ad

    def _flush_ad(self) -> list[Item]:
        ad, self._open_ad = self._open_ad, None
        if ad is not None:
            log.info(
                "stitched ad break dropped",
                stream_id=self.stream_id,
                seconds=round(ad.seconds, 1),
                start=ad.start.isoformat(),
            )
        return [ad] if ad is not None else []

    def _closing(self) -> Iterator[list[Item]]:
        """An ad break the stream ended in."""
        tail = self._flush_ad()
        if tail:
            yield tail

    # -- the end --------------------------------------------------------------------------------------
    def _over(self) -> bool:
        quiet = self.clock.monotonic() - self._last_new
        refused = self._failures > 0 and self._refused
        if not refused and quiet < self.end_grace:
            return False
        if self._stream_live():
            return False
        self._finish("gone" if refused else "stalled")
        return True

    def _stream_live(self) -> bool:
        try:
            return self.is_live()
        except peewee.PeeweeException as exc:  # the database is briefly away: the stream counts as live
            self._warn_once(f"could not ask the database whether the stream is live: {exc}")
            return True

    def _finish(self, reason: str) -> None:
        self.end_reason = reason
        log.info("live playlist ended", stream_id=self.stream_id, reason=reason, url=self.url.split("?", 1)[0])

    def _now(self) -> dt.datetime:
        return from_unix(self.clock.time())
