"""Playlist parsing (MPEG-TS and fMP4), segment forms, lost segments, the fragment journal, runs and gaps,
file names, error classes."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest

from vodtender.clients.hls import MAX_BODY_BYTES, FetchAborted, HttpStatusError, MediaPlaylist, parse_media_playlist
from vodtender.clients.ytdlp import YtDlpError
from vodtender.pipeline.download.assemble import layout
from vodtender.pipeline.download.classify import classify_fetch_error, classify_playlist_error, classify_resolve_error
from vodtender.pipeline.download.fetcher import (
    FRAGMENT_SIZE_FLOOR,
    INIT,
    LOST,
    LOST_AFTER_ROUNDS,
    MUTED,
    NORMAL,
    FragmentJournal,
    HlsFetch,
    MemoryBudget,
    TooMuchLost,
    Written,
    plan,
    segment_forms,
)
from vodtender.pipeline.download.gaps import Gap
from vodtender.pipeline.download.paths import sanitise, target_path
from vodtender.pipeline.errors import ErrorClass
from vodtender.runtime.models import Vod

TWITCH_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:10
#ID3-EQUIV-TDTG:2026-11-01T10:00:00
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-TWITCH-ELAPSED-SECS:0.000
#EXTINF:10.000,
0.ts
#EXTINF:10.000,
1-unmuted.ts
#EXTINF:4.500,
2.ts?start=1
#EXT-X-ENDLIST
"""


def _playlist(count: int = 3) -> MediaPlaylist:
    body = "".join(f"#EXTINF:10.0,\n{i}.ts\n" for i in range(count))
    return parse_media_playlist("#EXTM3U\n" + body + "#EXT-X-ENDLIST\n", "http://h/v/index-dvr.m3u8")


FMP4_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-MAP:URI="init-0.mp4"
#EXTINF:2.000,
0.mp4
#EXTINF:2.000,
1-muted.mp4
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-1.mp4"
#EXTINF:2.000,
2.mp4
#EXTINF:1.500,
https://other.example/x/3.mp4?sig=1
#EXT-X-ENDLIST
"""


def test_twitch_playlist_parses_into_absolute_segments() -> None:
    playlist = parse_media_playlist(TWITCH_PLAYLIST, "https://cdn.example/abc/chunked/index-dvr.m3u8?token=x")
    assert [s.url for s in playlist.segments] == [
        "https://cdn.example/abc/chunked/0.ts",
        "https://cdn.example/abc/chunked/1-unmuted.ts",
        "https://cdn.example/abc/chunked/2.ts?start=1",
    ]
    assert playlist.duration == 24.5 and playlist.ended and playlist.container == "ts" and playlist.run_count == 1
    assert not playlist.unsupported


def test_fmp4_playlist_gives_each_segment_its_init_section_and_run() -> None:
    playlist = parse_media_playlist(FMP4_PLAYLIST, "https://cdn.example/abc/chunked/index-dvr.m3u8")
    base = "https://cdn.example/abc/chunked/"
    assert [(s.init_url, s.run) for s in playlist.segments] == [
        (base + "init-0.mp4", 0),
        (base + "init-0.mp4", 0),
        (base + "init-1.mp4", 1),
        (base + "init-1.mp4", 1),
    ]
    assert playlist.segments[3].url == "https://other.example/x/3.mp4?sig=1"
    assert playlist.container == "mp4" and playlist.run_count == 2
    pieces = plan(playlist)  # each run's init section once, before its first fragment
    assert [(p.url.rsplit("/", 1)[1], p.segment is None) for p in pieces] == [
        ("init-0.mp4", True),
        ("0.mp4", False),
        ("1-muted.mp4", False),
        ("init-1.mp4", True),
        ("2.mp4", False),
        ("3.mp4?sig=1", False),
    ]


def test_a_new_init_section_starts_a_run_even_without_a_discontinuity_tag() -> None:
    text = FMP4_PLAYLIST.replace("#EXT-X-DISCONTINUITY\n", "")
    assert [s.run for s in parse_media_playlist(text, "http://h/").segments] == [0, 0, 1, 1]


def test_a_discontinuity_in_mpeg_ts_starts_a_run() -> None:
    text = TWITCH_PLAYLIST.replace("#EXTINF:4.500,", "#EXT-X-DISCONTINUITY\n#EXTINF:4.500,")
    playlist = parse_media_playlist(text, "http://h/")
    assert [s.run for s in playlist.segments] == [0, 0, 1] and [p.segment is None for p in plan(playlist)] == [
        False
    ] * 3


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ('#EXT-X-KEY:METHOD=AES-128,URI="k"', "EXT-X-KEY"),
        ("#EXT-X-BYTERANGE:1000@0", "EXT-X-BYTERANGE"),
        ('#EXT-X-MAP:URI="init.mp4",BYTERANGE="800@0"', "EXT-X-MAP with BYTERANGE"),
    ],
)
def test_byte_ranges_and_encryption_are_named_as_unsupported(extra: str, named: str) -> None:
    playlist = parse_media_playlist(
        TWITCH_PLAYLIST.replace("#EXTINF:10.000,\n0.ts", extra + "\n#EXTINF:10,\n0.ts"), "http://h/"
    )
    assert any(feature.startswith(named) for feature in playlist.unsupported)
    assert not parse_media_playlist(
        TWITCH_PLAYLIST.replace("#EXT-X-VERSION:3", "#EXT-X-KEY:METHOD=NONE"), "http://h/"
    ).unsupported


def test_unfinished_and_master_playlists_are_told_apart() -> None:
    assert not parse_media_playlist(TWITCH_PLAYLIST.replace("#EXT-X-ENDLIST\n", ""), "http://h/").ended
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nchunked/index.m3u8\n"
    assert parse_media_playlist(master, "http://h/").is_master


def test_every_form_twitch_serves_a_segment_under_is_tried_listed_first() -> None:
    assert segment_forms("https://c/x/12-unmuted.ts") == [
        ("https://c/x/12-unmuted.ts", False),
        ("https://c/x/12-muted.ts", True),
        ("https://c/x/12.ts", False),
    ]
    assert segment_forms("https://c/x/12.mp4?a=b") == [
        ("https://c/x/12.mp4?a=b", False),
        ("https://c/x/12-muted.mp4?a=b", True),
    ]
    assert segment_forms("https://c/x/12-muted.ts") == [("https://c/x/12-muted.ts", True), ("https://c/x/12.ts", False)]
    assert segment_forms("https://c/x/init-0.mp4") == [("https://c/x/init-0.mp4", False)]


class _Cdn:
    """An in-memory CDN for the fetcher's own logic (the real HTTP path is the integration tier's)."""

    def __init__(self, bodies: dict[str, bytes], gone: set[str], flaky: dict[str, int] | None = None):
        self.bodies, self.gone, self.flaky = bodies, gone, dict(flaky or {})
        self.requests: list[str] = []

    def get(self, url: str, abort: object = None, limits: object = None) -> bytes:
        name = url.rsplit("/", 1)[1]
        self.requests.append(name)
        if self.flaky.get(name, 0) > 0:
            self.flaky[name] -= 1
            raise HttpStatusError(503, url)
        if name in self.gone or name not in self.bodies:
            raise HttpStatusError(403, url, b"<Error><Code>AccessDenied</Code></Error>")
        return self.bodies[name]


def _fmp4(tmp_path: Path, cdn: _Cdn, max_lost: float | None = None) -> HlsFetch:
    playlist = parse_media_playlist(FMP4_PLAYLIST, "http://h/v/index-dvr.m3u8")
    return HlsFetch(
        playlist,
        tmp_path / "v.part",
        cdn,
        concurrency=3,
        fragment_retries=2,
        min_free=0,
        max_lost_seconds=max_lost,  # type: ignore[arg-type]
    )


FMP4_BODIES = {
    "init-0.mp4": b"I0",
    "0.mp4": b"a0",
    "1-muted.mp4": b"b1",
    "init-1.mp4": b"I1",
    "2.mp4": b"c2",
    "3.mp4?sig=1": b"d3",
}


def test_fmp4_pieces_land_in_order_with_each_init_section_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vodtender.pipeline.download.fetcher.backoff_delay", lambda *a, **k: 0.0)
    fetch = _fmp4(tmp_path, _Cdn(FMP4_BODIES, set(), flaky={"2.mp4": 2}))
    written = fetch.run(lambda: True)
    assert (tmp_path / "v.part").read_bytes() == b"I0a0b1I1c2d3"
    assert [w.kind for w in written] == [INIT, NORMAL, MUTED, INIT, NORMAL, NORMAL]


def test_a_segment_gone_in_every_form_is_journaled_as_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vodtender.pipeline.download.fetcher.backoff_delay", lambda *a, **k: 0.0)
    cdn = _Cdn(FMP4_BODIES, {"2.mp4"})
    fetch = _fmp4(tmp_path, cdn)
    written = fetch.run(lambda: True)
    assert (tmp_path / "v.part").read_bytes() == b"I0a0b1I1d3"
    assert written[4] == Written(4, 0, LOST) and fetch.progress.lost_seconds == 2.0
    assert cdn.requests.count("2.mp4") == LOST_AFTER_ROUNDS and cdn.requests.count("2-muted.mp4") == LOST_AFTER_ROUNDS
    assert FragmentJournal(fetch.journal.path, fetch.pieces).load() == written  # a resume keeps the gap


def test_more_lost_than_allowed_stops_the_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vodtender.pipeline.download.fetcher.backoff_delay", lambda *a, **k: 0.0)
    with pytest.raises(TooMuchLost, match="DOWNLOAD_MAX_GAP"):
        _fmp4(tmp_path, _Cdn(FMP4_BODIES, {"0.mp4", "2.mp4"}), max_lost=3.0).run(lambda: True)


def test_a_lost_init_section_fails_the_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vodtender.pipeline.download.fetcher.backoff_delay", lambda *a, **k: 0.0)
    with pytest.raises(HttpStatusError):
        _fmp4(tmp_path, _Cdn(FMP4_BODIES, {"init-1.mp4"})).run(lambda: True)


def test_layout_of_a_restarted_stream_with_a_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vodtender.pipeline.download.fetcher.backoff_delay", lambda *a, **k: 0.0)
    fetch = _fmp4(tmp_path, _Cdn(FMP4_BODIES, {"2.mp4"}))
    plan_ = layout(fetch.pieces, fetch.run(lambda: True), "mp4")
    assert [(r.start, r.end, r.duration, r.leading_lost) for r in plan_.runs] == [(0, 6, 4.0, 0.0), (6, 10, 3.5, 2.0)]
    assert plan_.gaps == [Gap(4.0, 2.0, (2,))] and plan_.joined and plan_.ext == "mp4"
    assert plan_.content_seconds == 5.5 and plan_.expected_duration == 5.5  # a run's leading gap has no timestamps


def test_layout_of_one_run_keeps_a_middle_gap_in_its_timeline() -> None:
    playlist = _playlist(4)
    pieces = plan(playlist)
    written = [Written(0, 5), Written(1, 0, LOST), Written(2, 0, LOST), Written(3, 5)]
    plan_ = layout(pieces, written, "ts")
    assert not plan_.joined and plan_.ext == "ts"
    assert plan_.gaps == [Gap(10.0, 20.0, (1, 2))]
    assert plan_.expected_duration == 40.0 and plan_.content_seconds == 20.0


def test_journal_keeps_only_a_contiguous_prefix_of_whole_lines(tmp_path: Path) -> None:
    journal = FragmentJournal(tmp_path / "v.part.frags", plan(_playlist(5)))
    journal.rewrite([])
    for entry in (Written(0, 100), Written(1, 50, MUTED), Written(2, 0, LOST)):
        journal.append(entry)
    journal.close()
    with open(journal.path, "a") as fh:
        fh.write("3 12")  # a kill in the middle of a line
    assert journal.load() == [Written(0, 100), Written(1, 50, MUTED), Written(2, 0, LOST)]
    journal.path.write_text(journal.header + "\n0 100 -\n2 70 -\n")  # a gap ends the valid prefix
    assert journal.load() == [Written(0, 100)]


def test_journal_of_another_playlist_is_ignored(tmp_path: Path) -> None:
    FragmentJournal(tmp_path / "j", plan(_playlist(5))).rewrite([Written(0, 1)])
    assert FragmentJournal(tmp_path / "j", plan(_playlist(6))).load() == []


def test_resume_cuts_the_part_file_back_to_what_the_journal_vouches_for(tmp_path: Path) -> None:
    part = tmp_path / "v.part"
    fetch = HlsFetch(_playlist(4), part, None, concurrency=2, fragment_retries=0, min_free=0)  # type: ignore[arg-type]
    fetch.journal.rewrite([Written(0, 3), Written(1, 2)])
    fetch.journal.close()
    part.write_bytes(b"aaabbXXXX")  # fragment 2 half-written when the process died
    assert fetch.resume_point() == 2
    assert part.read_bytes() == b"aaabb"
    fetch.journal.close()


def test_resume_starts_over_when_the_part_file_is_shorter_than_its_journal(tmp_path: Path) -> None:
    part = tmp_path / "v.part"
    fetch = HlsFetch(_playlist(4), part, None, concurrency=2, fragment_retries=0, min_free=0)  # type: ignore[arg-type]
    fetch.journal.rewrite([Written(0, 3), Written(1, 2)])
    part.write_bytes(b"aa")
    assert fetch.resume_point() == 0 and part.read_bytes() == b""
    assert fetch.journal.load() == []
    fetch.journal.close()


@pytest.mark.parametrize("title", ["../../etc/passwd", "a/b\\c\x00\x1b[31m\u202e", "🎮" * 500, " . ", ""])
def test_hostile_titles_give_one_safe_file_name(tmp_path: Path, title: str) -> None:
    vod = Vod(twitch_vod_id="123", channel="chan", title=title)
    path = target_path(tmp_path, "{channel}/{date}_{id}_{title}.mp4", vod, "ts")
    assert path.parent == tmp_path / "chan"
    assert path.suffix == ".ts" and len(path.name.encode()) <= 255
    assert not any(ch in path.name for ch in "/\\\x00\x1b\u202e")
    assert path.name.startswith("undated_123_")


def test_sanitise_bounds_length_in_bytes_without_splitting_characters() -> None:
    assert len(sanitise("é" * 300, 101).encode()) <= 101
    assert sanitise("é" * 300, 101).encode().decode() == "é" * 50


@pytest.mark.parametrize(
    ("message", "has_token", "expected"),
    [
        ("ERROR: Unable to download webpage: HTTP Error 404: Not Found", False, ErrorClass.FATAL),
        ("ERROR: [twitch:vod] 123: This video is only available to subscribers", False, ErrorClass.FATAL),
        ("ERROR: Unable to download webpage: HTTP Error 403: Forbidden", False, ErrorClass.FATAL),
        ("ERROR: Unable to download webpage: HTTP Error 403: Forbidden", True, ErrorClass.TRANSIENT),
        ("ERROR: Unable to download JSON metadata: HTTP Error 401: Unauthorized", True, ErrorClass.SYSTEMIC),
        (
            "ERROR: [twitch:vod] 123: You must be logged into an account that has access to this "
            "subscriber-only content. Use --cookies ...",
            False,
            ErrorClass.FATAL,
        ),
        (
            "ERROR: Unable to download webpage: <urlopen error [Errno 111] Connection refused>",
            False,
            ErrorClass.SYSTEMIC,
        ),
        (
            "ERROR: Unable to download webpage: <urlopen error [Errno -3] Temporary failure in name resolution>",
            False,
            ErrorClass.SYSTEMIC,
        ),
        ("ERROR: Unable to download webpage: HTTP Error 503: Service Unavailable", False, ErrorClass.TRANSIENT),
        ("ERROR: Unable to download webpage: The read operation timed out", False, ErrorClass.TRANSIENT),
    ],
)
def test_resolve_errors_are_classified(message: str, has_token: bool, expected: ErrorClass) -> None:
    assert classify_resolve_error(YtDlpError(message), has_token).error_class == expected


def test_fetch_errors_are_classified() -> None:
    disk_full = classify_fetch_error(OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full.error_class == ErrorClass.SYSTEMIC and getattr(disk_full, "certain", False)
    refused = classify_fetch_error(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert not getattr(refused, "certain", True)  # a repeat by the same VOD is not counted: it may be the VOD's
    assert (
        classify_fetch_error(ConnectionRefusedError(errno.ECONNREFUSED, "refused")).error_class == ErrorClass.SYSTEMIC
    )
    assert classify_fetch_error(ConnectionResetError(errno.ECONNRESET, "reset")).error_class == ErrorClass.TRANSIENT
    assert classify_fetch_error(TimeoutError("timed out")).error_class == ErrorClass.TRANSIENT
    assert classify_fetch_error(HttpStatusError(503, "http://h/1.ts")).error_class == ErrorClass.TRANSIENT
    disk = YtDlpError("ERROR: unable to write data: [Errno 28] No space left on device")
    assert classify_fetch_error(disk).error_class == ErrorClass.SYSTEMIC


def test_playlist_errors_tell_a_gone_vod_from_a_refused_request() -> None:
    denied = HttpStatusError(
        403, "http://cdn/x/index-dvr.m3u8", b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>"
    )
    gone = classify_playlist_error(denied, has_token=True)
    assert gone.error_class == ErrorClass.FATAL and "no longer has" in str(gone)
    assert classify_playlist_error(HttpStatusError(404, "http://cdn/x"), True).error_class == ErrorClass.FATAL
    assert classify_playlist_error(HttpStatusError(403, "http://cdn/x"), True).error_class == ErrorClass.TRANSIENT
    assert classify_playlist_error(HttpStatusError(401, "http://cdn/x"), True).error_class == ErrorClass.SYSTEMIC
    assert classify_playlist_error(HttpStatusError(503, "http://cdn/x"), True).error_class == ErrorClass.TRANSIENT


def test_the_memory_budget_makes_a_worker_wait_but_never_the_one_the_writer_waits_for() -> None:
    abort = threading.Event()
    budget = MemoryBudget(10, abort)
    budget.take(1, 8)  # not the head, but it fits
    budget.take(0, 8)  # the head: always, over the limit
    assert budget.held == 16
    taken = threading.Event()
    waiter = threading.Thread(target=lambda: (budget.take(2, 4), taken.set()))
    waiter.start()
    assert not taken.wait(0.3)  # 16 + 4 > 10: it waits
    budget.give(8)
    budget.advance(1)
    assert not taken.wait(0.3)  # 8 + 4 > 10 still
    budget.advance(2)  # now the writer waits for it: it goes on
    assert taken.wait(2)
    waiter.join()
    assert budget.peak == 16


def test_a_worker_waiting_for_memory_stops_on_abort() -> None:
    abort = threading.Event()
    budget = MemoryBudget(1, abort)
    budget.take(0, 1)
    abort.set()
    with pytest.raises(FetchAborted):
        budget.take(1, 1)


def test_a_fragment_may_be_four_times_its_share_of_the_bitrate_within_floor_and_hard_cap(tmp_path: Path) -> None:
    playlist = _playlist(2)
    pieces = plan(playlist)
    unknown = HlsFetch(playlist, tmp_path / "a.part", _Cdn({}, set()), concurrency=1, fragment_retries=0, min_free=0)
    assert unknown.fragment_cap(pieces[0]) == MAX_BODY_BYTES  # no bitrate and nothing fetched yet
    known = HlsFetch(
        playlist, tmp_path / "b.part", _Cdn({}, set()), concurrency=1, fragment_retries=0, min_free=0, bitrate_kbps=8000
    )
    assert known.fragment_cap(pieces[0]) == 4 * 1_000_000 * 10  # 8 Mbit/s x 10 s x 4
    low = HlsFetch(
        playlist, tmp_path / "c.part", _Cdn({}, set()), concurrency=1, fragment_retries=0, min_free=0, bitrate_kbps=100
    )
    assert low.fragment_cap(pieces[0]) == FRAGMENT_SIZE_FLOOR
    unknown.progress.bytes_done, unknown.progress.duration_done = 10 * 2**20, 10.0  # 1 MiB/s seen so far
    assert unknown.fragment_cap(pieces[1]) == 40 * 2**20
