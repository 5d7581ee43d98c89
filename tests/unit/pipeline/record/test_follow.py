"""The live follower: each segment once as the window slides, ads dropped with their span, what left the
window unseen (restart, outage) as gaps, and the end of the stream."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

from tests.helpers.clock import ManualClock
from vodtender.clients.hls import HttpStatusError
from vodtender.clients.hls_live import LiveSegment
from vodtender.pipeline.record.follow import Dropped, Item, LiveFollower, ResumePoint

T0 = dt.datetime(2026, 7, 1, 12)
SEGMENT = 2.0


def at(index: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=SEGMENT * index)


class LiveCdn:
    """A Twitch-like live playlist in memory: a window of `window` segments that moves on by `step`
    segments at every read (the clock with it); ad segments marked as Twitch marks them."""

    def __init__(self, count: int, window: int = 3, step: int = 1, ads: range = range(0)):
        self.count, self.window, self.step, self.ads = count, window, step, ads
        self.clock = ManualClock()
        self.edge = window  # segments [edge - window, edge) are listed
        self.down: set[int] = set()  # playlist reads (1-based) that fail
        self.gone = False  # the playlist answers 404 (usher, channel offline)
        self.ended = True  # ENDLIST once every segment is out
        self.reads = 0
        self.on_read: Callable[[int], None] = lambda read: None  # what else happens at read number N

    def get(self, url: str, abort: threading.Event | None = None, limits: object = None) -> bytes:
        assert url.endswith(".m3u8"), "the follower reads only the playlist"
        self.reads += 1
        self.on_read(self.reads)
        self.clock.advance(1.0)
        try:
            if self.gone:
                raise HttpStatusError(404, url, b"not live")
            if self.reads in self.down:
                raise ConnectionError("connection reset")
            return self.playlist().encode()
        finally:
            self.edge = min(self.count, self.edge + self.step)

    def playlist(self) -> str:
        first = max(0, self.edge - self.window)
        lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        if self.ads:
            start, seconds = at(self.ads.start).isoformat() + "Z", SEGMENT * len(self.ads)
            lines.append(
                f'#EXT-X-DATERANGE:ID="stitched-ad-1",CLASS="twitch-stitched-ad",START-DATE="{start}",'
                f"DURATION={seconds:.3f}"
            )
        for index in range(first, self.edge):
            lines += [f"#EXT-X-PROGRAM-DATE-TIME:{at(index).isoformat()}Z", "#EXTINF:2.000,live", f"{index}.ts"]
        lines.append(f"#EXT-X-TWITCH-PREFETCH:{self.edge}.ts")
        if self.ended and self.edge == self.count:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def follower(
    cdn: LiveCdn,
    *,
    live: bool = False,
    resume: ResumePoint | None = None,
    grace: float = 5.0,
    stopping: threading.Event | None = None,
) -> LiveFollower:
    return LiveFollower(
        "https://edge.example/v1/playlist/x.m3u8",
        cdn,
        poll_seconds=0.001,
        end_grace=grace,
        is_live=lambda: live,
        stopping=stopping or threading.Event(),
        resume=resume,
        clock=cdn.clock,
    )


def everything(follow: LiveFollower) -> list[Item]:
    return [item for batch in follow.batches() for item in batch]


def sequences(items: list[Item]) -> list[int]:
    return [item.sequence for item in items if isinstance(item, LiveSegment)]


def test_every_segment_once_in_order_as_the_window_slides_past_it() -> None:
    cdn = LiveCdn(12, window=4, step=1)
    follow = follower(cdn)
    items = everything(follow)
    assert sequences(items) == list(range(12)) and all(isinstance(i, LiveSegment) for i in items)
    assert follow.end_reason == "endlist" and follow.edge_end == at(12)


def test_a_window_read_twice_yields_nothing_new() -> None:
    cdn = LiveCdn(6, window=6, step=0)  # the whole stream in one window that never moves
    follow = follower(cdn)
    batches = follow.batches()
    assert sequences(next(batches)) == list(range(6))
    assert next(batches, None) is None and follow.end_reason == "endlist" and cdn.reads == 1


def test_an_ad_break_is_dropped_as_one_gap_spanning_its_wall_clock_time() -> None:
    cdn = LiveCdn(12, window=3, step=2, ads=range(4, 8))  # the break spans several reads
    items = everything(follower(cdn))
    assert sequences(items) == [0, 1, 2, 3, 8, 9, 10, 11]
    dropped = [i for i in items if isinstance(i, Dropped)]
    assert dropped == [Dropped("ad", at(4), at(8), 8.0, 4, 7)]
    assert items.index(dropped[0]) == 4  # between segment 3 and segment 8


def test_after_a_restart_what_left_the_window_is_a_restart_gap_from_the_last_segment_recorded() -> None:
    cdn = LiveCdn(12, window=3, step=1)
    cdn.edge = 9  # the window holds 6, 7, 8: segments 3-5 were never read
    items = everything(follower(cdn, resume=ResumePoint(2, at(3))))
    assert items[0] == Dropped("restart", at(3), at(6), 6.0, 3, 5)
    assert sequences(items) == list(range(6, 12))


def test_a_restart_within_the_window_loses_nothing() -> None:
    cdn = LiveCdn(8, window=4, step=1)
    cdn.edge = 6  # the window holds 2-5; segment 3 is the next to take
    items = everything(follower(cdn, resume=ResumePoint(2, at(3))))
    assert sequences(items) == list(range(3, 8)) and not [i for i in items if isinstance(i, Dropped)]


def test_segments_that_slid_out_while_the_playlist_was_unreachable_are_an_outage_gap() -> None:
    cdn = LiveCdn(14, window=2, step=1)
    cdn.down = {3, 4, 5, 6}
    items = everything(follower(cdn, live=True))
    outage = [i for i in items if isinstance(i, Dropped)]
    assert outage == [Dropped("outage", at(3), at(6), 6.0, 3, 5)]  # read 2 saw segment 2 last, read 7 saw 6 first
    assert sequences(items) == [0, 1, 2, *range(6, 14)]


def test_a_refused_playlist_ends_the_stream_once_the_poller_says_it_is_over() -> None:
    cdn = LiveCdn(20, window=3, step=1)
    cdn.ended = False
    live = [True]
    follow = LiveFollower(
        "https://e.example/p.m3u8",
        cdn,
        poll_seconds=0.001,
        end_grace=5.0,
        is_live=lambda: live[0],
        stopping=threading.Event(),
        clock=cdn.clock,
    )
    batches = follow.batches()
    assert sequences(next(batches)) == [0, 1, 2]
    cdn.gone = True
    cdn.on_read = lambda read: live.__setitem__(0, read < 6)  # the poller closes the placeholder later
    assert next(batches, None) is None
    assert follow.end_reason == "gone" and cdn.reads == 6


def test_a_playlist_that_stops_growing_ends_after_the_grace_once_the_stream_is_not_live() -> None:
    cdn = LiveCdn(5, window=5, step=0)
    cdn.ended = False  # Twitch never wrote ENDLIST
    follow = follower(cdn, grace=10.0)
    assert sequences(everything(follow)) == list(range(5))
    assert follow.end_reason == "stalled" and 10 <= cdn.reads <= 12  # one read a clock second


def test_a_quiet_playlist_of_a_live_stream_is_followed_on_until_stopped() -> None:
    cdn = LiveCdn(3, window=3, step=0)
    cdn.ended = False
    stopping = threading.Event()
    follow = follower(cdn, live=True, grace=1.0, stopping=stopping)
    cdn.on_read = lambda read: stopping.set() if read == 20 else None
    assert sequences(everything(follow)) == [0, 1, 2]
    assert follow.end_reason == "stopped" and cdn.reads == 20


def test_numbering_that_starts_again_is_followed_by_program_time() -> None:
    cdn = LiveCdn(12, window=3, step=1)
    follow = follower(cdn, resume=ResumePoint(500, at(2)))  # numbers far ahead of the window's
    cdn.edge = 5  # the window holds 2, 3, 4 (by time: 2 starts where the last one recorded ended)
    assert sequences(everything(follow))[:3] == [2, 3, 4]


def test_a_stale_copy_of_the_playlist_never_takes_a_segment_twice() -> None:
    cdn = LiveCdn(10, window=3, step=1)
    follow = follower(cdn, resume=ResumePoint(6, at(7)))
    cdn.edge = 5  # an edge cache still serves the window of 2, 3, 4
    assert sequences(everything(follow)) == [7, 8, 9]
