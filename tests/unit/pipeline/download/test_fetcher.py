"""Playlist parsing, muted names, the fragment journal, file names, error classes."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from vodtender.clients.hls import HttpStatusError, MediaPlaylist, parse_media_playlist
from vodtender.clients.ytdlp import YtDlpError
from vodtender.pipeline.download.classify import classify_fetch_error, classify_resolve_error
from vodtender.pipeline.download.fetcher import FragmentJournal, HlsFetch, Written, muted_url
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


def test_twitch_playlist_parses_into_absolute_segments() -> None:
    playlist = parse_media_playlist(TWITCH_PLAYLIST, "https://cdn.example/abc/chunked/index-dvr.m3u8?token=x")
    assert [s.url for s in playlist.segments] == [
        "https://cdn.example/abc/chunked/0.ts",
        "https://cdn.example/abc/chunked/1-unmuted.ts",
        "https://cdn.example/abc/chunked/2.ts?start=1",
    ]
    assert playlist.duration == 24.5 and playlist.is_plain


@pytest.mark.parametrize("extra", ['#EXT-X-KEY:METHOD=AES-128,URI="k"', '#EXT-X-MAP:URI="init.mp4"'])
def test_encrypted_or_fmp4_playlists_are_left_to_ytdlp(extra: str) -> None:
    playlist = parse_media_playlist(
        TWITCH_PLAYLIST.replace("#EXTINF:10.000,\n0.ts", extra + "\n#EXTINF:10,\n0.ts"), "http://h/"
    )
    assert not playlist.is_plain


def test_unfinished_or_master_playlists_are_not_plain() -> None:
    assert not parse_media_playlist(TWITCH_PLAYLIST.replace("#EXT-X-ENDLIST\n", ""), "http://h/").is_plain
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nchunked/index.m3u8\n"
    assert not parse_media_playlist(master, "http://h/").is_plain


def test_muted_names_follow_twitch() -> None:
    assert muted_url("https://c/x/12-unmuted.ts") == "https://c/x/12-muted.ts"
    assert muted_url("https://c/x/12.ts?a=b") == "https://c/x/12-muted.ts?a=b"
    assert muted_url("https://c/x/12-muted.ts") is None
    assert muted_url("https://c/x/init.mp4") is None


def test_journal_keeps_only_a_contiguous_prefix_of_whole_lines(tmp_path: Path) -> None:
    journal = FragmentJournal(tmp_path / "v.part.frags", _playlist(5))
    journal.rewrite([])
    for entry in (Written(0, 100, False), Written(1, 50, True), Written(2, 70, False)):
        journal.append(entry)
    journal.close()
    with open(journal.path, "a") as fh:
        fh.write("3 12")  # a kill in the middle of a line
    assert journal.load() == [Written(0, 100, False), Written(1, 50, True), Written(2, 70, False)]
    journal.path.write_text(journal.header + "\n0 100 -\n2 70 -\n")  # a gap ends the valid prefix
    assert journal.load() == [Written(0, 100, False)]


def test_journal_of_another_playlist_is_ignored(tmp_path: Path) -> None:
    FragmentJournal(tmp_path / "j", _playlist(5)).rewrite([Written(0, 1, False)])
    assert FragmentJournal(tmp_path / "j", _playlist(6)).load() == []


def test_resume_cuts_the_part_file_back_to_what_the_journal_vouches_for(tmp_path: Path) -> None:
    part = tmp_path / "v.part"
    fetch = HlsFetch(_playlist(4), part, None, concurrency=2, fragment_retries=0, min_free=0)  # type: ignore[arg-type]
    fetch.journal.rewrite([Written(0, 3, False), Written(1, 2, False)])
    fetch.journal.close()
    part.write_bytes(b"aaabbXXXX")  # fragment 2 half-written when the process died
    assert fetch.resume_point() == 2
    assert part.read_bytes() == b"aaabb"
    fetch.journal.close()


def test_resume_starts_over_when_the_part_file_is_shorter_than_its_journal(tmp_path: Path) -> None:
    part = tmp_path / "v.part"
    fetch = HlsFetch(_playlist(4), part, None, concurrency=2, fragment_retries=0, min_free=0)  # type: ignore[arg-type]
    fetch.journal.rewrite([Written(0, 3, False), Written(1, 2, False)])
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
        ("ERROR: Unable to download webpage: HTTP Error 403: Forbidden", True, ErrorClass.SYSTEMIC),
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
    assert classify_fetch_error(OSError(errno.ENOSPC, "No space left on device")).error_class == ErrorClass.SYSTEMIC
    assert (
        classify_fetch_error(ConnectionRefusedError(errno.ECONNREFUSED, "refused")).error_class == ErrorClass.SYSTEMIC
    )
    assert classify_fetch_error(ConnectionResetError(errno.ECONNRESET, "reset")).error_class == ErrorClass.TRANSIENT
    assert classify_fetch_error(TimeoutError("timed out")).error_class == ErrorClass.TRANSIENT
    assert classify_fetch_error(HttpStatusError(503, "http://h/1.ts")).error_class == ErrorClass.TRANSIENT
    disk = YtDlpError("ERROR: unable to write data: [Errno 28] No space left on device")
    assert classify_fetch_error(disk).error_class == ErrorClass.SYSTEMIC
