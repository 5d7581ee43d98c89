"""The HLS client's bounds that need no server: redirect targets, playlist caps (the HTTP side is the
integration tier's, tests/integration/downloader/test_bounded_fetch.py)."""

from __future__ import annotations

import pytest

from vodtender.clients.hls import (
    MAX_PLAYLIST_SEGMENTS,
    PlaylistTooLarge,
    RefusedRedirect,
    parse_media_playlist,
    redirect_target,
)
from vodtender.clients.hls_live import parse_live_playlist


def _segments(count: int) -> str:
    return "#EXTM3U\n" + "".join(f"#EXTINF:2.0,\n{i}.ts\n" for i in range(count))


@pytest.mark.parametrize(
    ("current", "location", "target"),
    [
        ("http://h/v/a.ts", "b.ts", "http://h/v/b.ts"),
        ("http://h/v/a.ts", "https://cdn/v/a.ts?sig=1", "https://cdn/v/a.ts?sig=1"),
        ("https://h/v/a.ts", "//cdn/v/a.ts", "https://cdn/v/a.ts"),
    ],
)
def test_redirects_to_http_urls_are_followed(current: str, location: str, target: str) -> None:
    assert redirect_target(current, location) == target


@pytest.mark.parametrize(
    ("current", "location", "why"),
    [
        ("http://h/a.ts", "file:///etc/passwd", "file: URL refused"),
        ("http://h/a.ts", "ftp://h/a.ts", "ftp: URL refused"),
        ("http://h/a.ts", "data:video/mp2t;base64,AAAA", "data: URL refused"),
        ("https://h/a.ts", "http://h/a.ts", "https to plain http"),
        ("http://h/a.ts", "http://user:pw@h/a.ts", "credentials"),
        ("http://h/a.ts", "http://:8080/a.ts", "without a host"),
    ],
)
def test_redirects_elsewhere_are_refused(current: str, location: str, why: str) -> None:
    with pytest.raises(RefusedRedirect, match=why):
        redirect_target(current, location)


def test_a_media_playlist_past_the_segment_cap_is_refused() -> None:
    assert len(parse_media_playlist(_segments(MAX_PLAYLIST_SEGMENTS), "http://h/v/i.m3u8").segments) == (
        MAX_PLAYLIST_SEGMENTS
    )
    with pytest.raises(PlaylistTooLarge, match=f"more than {MAX_PLAYLIST_SEGMENTS} segments"):
        parse_media_playlist(_segments(MAX_PLAYLIST_SEGMENTS + 1), "http://h/v/i.m3u8")


def test_a_live_playlist_past_the_segment_cap_lists_no_more_and_says_so_once() -> None:
    playlist = parse_live_playlist(_segments(MAX_PLAYLIST_SEGMENTS + 500), "http://h/v/i.m3u8")
    assert len(playlist.segments) == MAX_PLAYLIST_SEGMENTS
    assert playlist.problems == (f"more than {MAX_PLAYLIST_SEGMENTS} segments: the rest not listed",)
