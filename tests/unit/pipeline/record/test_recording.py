"""The recording's part file and journal: each segment once, in order; a kill at any instant resumes from
the journal's valid prefix with no duplicate and no hole; gaps only between recorded segments; fMP4 runs
each begin with their init section; catching up fetches in parallel, the live edge one at a time."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from vodtender.clients.hls import FetchAborted, HttpStatusError
from vodtender.clients.hls_live import LiveSegment
from vodtender.pipeline.record.follow import Dropped, Item, ResumePoint
from vodtender.pipeline.record.recording import RecordedGap, RecordingFile, gaps_to_json, part_path

T0 = dt.datetime(2026, 7, 1, 12)
BASE = "https://edge.example/v1/segment/"


def at(index: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=2 * index)


def segment(index: int, *, init: str | None = None, discontinuity: bool = False) -> LiveSegment:
    return LiveSegment(
        index,
        f"{BASE}{index}.ts?sig=1",
        2.0,
        at(index),
        "live",
        False,
        discontinuity,
        f"{BASE}{init}?sig=1" if init else None,
    )


def body(index: int) -> bytes:
    return f"<segment {index}>".encode()


def ad(first: int, last: int) -> Dropped:
    return Dropped("ad", at(first), at(last + 1), 2.0 * (last - first + 1), first, last)


class SegmentCdn:
    """Segments in memory; counts requests and how many were in flight at once."""

    def __init__(self, delay: float = 0.0, refused: frozenset[str] = frozenset()):
        self.delay, self.refused = delay, refused
        self.requests: list[str] = []
        self.in_flight = self.most_in_flight = 0
        self._lock = threading.Lock()

    def get(self, url: str, abort: threading.Event | None = None) -> bytes:
        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        with self._lock:
            self.requests.append(name)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            if name in self.refused:
                raise HttpStatusError(404, url)
            return name.encode() + b"|" if name.startswith("init") else body(int(name.split(".")[0]))
        finally:
            with self._lock:
                self.in_flight -= 1


def recording(tmp_path: Path, cdn: SegmentCdn, concurrency: int = 4) -> RecordingFile:
    rec = RecordingFile(part_path(tmp_path, "4711"), cdn, concurrency=concurrency, fragment_retries=1, min_free=0)
    rec.load()
    return rec


def always() -> bool:
    return True


@pytest.fixture(autouse=True)
def _no_retry_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vodtender.pipeline.record.recording.backoff_delay", lambda *a, **k: 0.0)


def test_segments_land_once_in_order_and_ads_become_a_gap_between_them(tmp_path: Path) -> None:
    rec = recording(tmp_path, SegmentCdn())
    rec.begin("live")
    items: list[Item] = [ad(0, 1), segment(2), segment(3), ad(4, 6), segment(7), ad(8, 8)]
    rec.write(items, always)
    rec.close()
    assert rec.part == tmp_path / ".recording" / "4711.part"
    assert rec.part.read_bytes() == body(2) + body(3) + body(7) and rec.bytes == rec.part.stat().st_size
    # the break before the first segment and the one after the last are no gap inside the recording
    assert rec.gaps == [RecordedGap("ad", at(4), at(7), 6.0)]
    assert rec.ads_seconds == 12.0 and rec.seconds == 6.0
    assert rec.started_at == at(2) and rec.last_end == at(8)
    assert gaps_to_json(rec.gaps) == (
        '[{"start": "2026-07-01T12:00:08", "end": "2026-07-01T12:00:14", "seconds": 6.0, "why": "ad"}]'
    )
    layout = rec.layout()  # the gap splits the file in two runs, so the join closes it
    assert [(r.start, r.end, r.duration) for r in layout.runs] == [
        (0, len(body(2) + body(3)), 4.0),
        (len(body(2) + body(3)), rec.bytes, 2.0),
    ]
    assert layout.joined and layout.ext == "mp4" and layout.expected_duration == 6.0


def test_a_recording_without_gaps_is_one_run_kept_as_it_is(tmp_path: Path) -> None:
    rec = recording(tmp_path, SegmentCdn())
    rec.begin("live")
    rec.write([segment(i) for i in range(4)], always)
    rec.close()
    layout = rec.layout()
    assert not layout.joined and layout.ext == "ts" and rec.gaps == []


def test_a_kill_mid_segment_resumes_from_the_journal_without_duplicates_or_holes(tmp_path: Path) -> None:
    cdn = SegmentCdn()
    rec = recording(tmp_path, cdn)
    rec.begin("live")
    rec.write([segment(0), segment(1), segment(2)], always)
    rec.close()
    with open(rec.part, "ab") as fh:  # SIGKILL: segment 3's bytes half written, its journal line not yet
        fh.write(body(3)[:5])
    with open(rec.journal.path, "a") as fh:
        fh.write("s 3 12")  # an unfinished line of an earlier kill is no entry either

    again = recording(tmp_path, cdn)
    assert again.source == "live" and again.resume_point == ResumePoint(2, at(3))
    assert again.part.read_bytes() == body(0) + body(1) + body(2)
    again.begin("live")
    again.write([segment(3), segment(4)], always)
    again.close()
    assert again.part.read_bytes() == b"".join(body(i) for i in range(5))
    assert [s.sequence for s in again.segments] == [0, 1, 2, 3, 4] and again.layout().runs[0].duration == 10.0


def test_what_a_restart_missed_is_a_gap_and_starts_a_new_run(tmp_path: Path) -> None:
    rec = recording(tmp_path, SegmentCdn())
    rec.begin("live")
    rec.write([segment(0), segment(1)], always)
    rec.close()
    again = recording(tmp_path, SegmentCdn())
    again.begin("live")
    again.write([Dropped("restart", at(2), at(5), 6.0, 2, 4), segment(5)], always)
    again.close()
    assert again.gaps == [RecordedGap("restart", at(2), at(5), 6.0)]
    assert len(again.layout().runs) == 2


def test_a_journal_line_out_of_order_ends_the_valid_prefix(tmp_path: Path) -> None:
    rec = recording(tmp_path, SegmentCdn())
    rec.begin("live")
    rec.write([segment(0), segment(1)], always)
    rec.close()
    with open(rec.journal.path, "a") as fh:
        fh.write(f"s 1 {len(body(1))} 2.000 -\n")  # segment 1 again: never appended twice
    assert [s.sequence for s in recording(tmp_path, SegmentCdn()).segments] == [0, 1]


def test_a_foreign_or_damaged_journal_starts_the_recording_afresh(tmp_path: Path) -> None:
    part = part_path(tmp_path, "4711")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"junk")
    part.with_name(part.name + ".frags").write_text("vodtender-fragments 2 3 abc\n0 4 -\n")
    rec = recording(tmp_path, SegmentCdn())
    assert rec.source is None and rec.entries == [] and part.stat().st_size == 0


def test_fmp4_runs_each_begin_with_their_init_section(tmp_path: Path) -> None:
    cdn = SegmentCdn()
    rec = recording(tmp_path, cdn)
    rec.begin("live")
    rec.write(
        [
            segment(0, init="init-0.mp4"),
            segment(1, init="init-0.mp4"),
            ad(2, 2),
            segment(3, init="init-0.mp4"),
            segment(4, init="init-1.mp4"),
        ],
        always,
    )
    rec.close()
    init0, init1 = b"init-0.mp4|", b"init-1.mp4|"
    assert rec.part.read_bytes() == init0 + body(0) + body(1) + init0 + body(3) + init1 + body(4)
    runs = rec.layout().runs
    assert [rec.part.read_bytes()[r.start : r.end] for r in runs] == [
        init0 + body(0) + body(1),
        init0 + body(3),
        init1 + body(4),
    ]
    assert rec.container == "mp4"


def test_a_kill_after_an_init_section_before_its_segment_writes_the_run_again(tmp_path: Path) -> None:
    rec = recording(tmp_path, SegmentCdn())
    rec.begin("live")
    rec.write([segment(0, init="init-0.mp4")], always)
    rec.close()
    with open(rec.part, "ab") as fh:
        fh.write(b"init-0.mp4|")
    with open(rec.journal.path, "a") as fh:
        fh.write("d ad 2026-07-01T12:00:02 2026-07-01T12:00:04 2.000 1 1\nr 11 https://edge.example/init-0.mp4\n")
    again = recording(tmp_path, SegmentCdn())
    assert again.part.read_bytes() == b"init-0.mp4|" + body(0)  # the run with no segment is gone
    assert again.resume_point == ResumePoint(1, at(2))  # the ad break journaled before it stays
    again.begin("live")
    again.write([segment(2, init="init-0.mp4")], always)
    again.close()
    assert again.part.read_bytes() == b"init-0.mp4|" + body(0) + b"init-0.mp4|" + body(2)


def test_a_segment_the_cdn_no_longer_has_is_a_missed_gap(tmp_path: Path) -> None:
    cdn = SegmentCdn(refused=frozenset({"1.ts"}))
    rec = recording(tmp_path, cdn)
    rec.begin("live")
    rec.write([segment(0), segment(1), segment(2)], always)
    rec.close()
    assert rec.part.read_bytes() == body(0) + body(2)
    assert rec.gaps == [RecordedGap("missed", at(1), at(2), 2.0)]
    assert cdn.requests.count("1.ts") == 2  # asked again once before it counts as gone


def test_catching_up_fetches_in_parallel_and_the_live_edge_one_at_a_time(tmp_path: Path) -> None:
    cdn = SegmentCdn(delay=0.02)
    rec = recording(tmp_path, cdn, concurrency=3)
    rec.begin("live")
    rec.write([segment(i) for i in range(9)], always)  # a window to catch up
    assert cdn.most_in_flight == 3
    cdn.most_in_flight = 0
    for index in range(9, 12):  # at the live edge each read brings one segment
        rec.write([segment(index)], always)
    rec.close()
    assert cdn.most_in_flight == 1
    assert rec.part.read_bytes() == b"".join(body(i) for i in range(12))


def test_stopping_mid_batch_leaves_a_journal_that_vouches_only_for_whole_segments(tmp_path: Path) -> None:
    cdn = SegmentCdn(delay=0.3)
    rec = recording(tmp_path, cdn, concurrency=1)
    rec.begin("live")
    with pytest.raises(FetchAborted):
        rec.write([segment(0), segment(1)], lambda: False)
    rec.close()
    again = recording(tmp_path, SegmentCdn())
    assert again.part.read_bytes() == b"" and again.resume_point is None
