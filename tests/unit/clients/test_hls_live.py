"""Live playlists as Twitch writes them: sequence numbers, program times, stitched ads, prefetch hints."""

from __future__ import annotations

import datetime as dt

from vodtender.clients.hls_live import parse_live_playlist, with_origin

# The shape of a Twitch live media playlist during a midroll (streamlink's Twitch plugin tests build the
# same: a daterange of class twitch-stitched-ad, ad segments titled "Amazon|...", content titled "live",
# discontinuities around the break, prefetch hints at the end).
LIVE = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:100
#EXT-X-TWITCH-ELAPSED-SECS:200.000
#EXT-X-TWITCH-TOTAL-SECS:230.000
#EXT-X-DATERANGE:ID="playlist-session-1",CLASS="twitch-session",START-DATE="2026-07-01T00:00:00.000Z",END-ON-NEXT=YES
#EXT-X-DATERANGE:ID="stitched-ad-1-4",CLASS="twitch-stitched-ad",START-DATE="2026-07-01T00:00:04.000Z",DURATION=4.000,X-TV-TWITCH-AD-ROLL-TYPE="MIDROLL"
#EXT-X-PROGRAM-DATE-TIME:2026-07-01T00:00:00.000Z
#EXTINF:2.000,live
https://edge.example/v1/segment/a.ts
#EXT-X-PROGRAM-DATE-TIME:2026-07-01T00:00:02.000Z
#EXTINF:2.000,live
https://edge.example/v1/segment/b.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2026-07-01T00:00:04.000Z
#EXTINF:2.000,
https://ads.example/c.ts
#EXT-X-PROGRAM-DATE-TIME:2026-07-01T00:00:06.000Z
#EXTINF:2.000,
https://ads.example/d.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2026-07-01T00:00:08.000Z
#EXTINF:2.000,live
https://edge.example/v1/segment/e.ts
#EXT-X-TWITCH-PREFETCH:https://edge.example/v1/segment/f.ts
#EXT-X-TWITCH-PREFETCH:https://edge.example/v1/segment/g.ts
"""

T0 = dt.datetime(2026, 7, 1)


def test_segments_carry_their_sequence_program_time_and_ad_flag_from_the_daterange() -> None:
    playlist = parse_live_playlist(LIVE, "https://edge.example/v1/playlist/x.m3u8")
    assert [(s.sequence, s.url.rsplit("/", 1)[1], s.is_ad) for s in playlist.segments] == [
        (100, "a.ts", False),
        (101, "b.ts", False),
        (102, "c.ts", True),
        (103, "d.ts", True),
        (104, "e.ts", False),
    ]
    assert [s.program_time for s in playlist.segments] == [T0 + dt.timedelta(seconds=2 * i) for i in range(5)]
    assert [s.discontinuity for s in playlist.segments] == [False, False, True, False, True]
    assert playlist.media_sequence == 100 and playlist.target_duration == 2.0 and not playlist.ended
    assert [(r.id, r.end) for r in playlist.ad_ranges] == [("stitched-ad-1-4", T0 + dt.timedelta(seconds=8))]
    assert not playlist.problems


def test_prefetch_hints_are_not_segments() -> None:
    playlist = parse_live_playlist(LIVE, "https://edge.example/p.m3u8")
    assert all(not s.url.endswith(("f.ts", "g.ts")) for s in playlist.segments)
    assert playlist.last_sequence == 104


def test_an_ad_is_known_by_its_title_without_any_daterange() -> None:
    text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.000,Amazon|482716\nad.ts\n#EXTINF:2.000,live\nc.ts\n"
    playlist = parse_live_playlist(text, "https://e.example/p.m3u8")
    assert [(s.sequence, s.is_ad, s.title) for s in playlist.segments] == [
        (7, True, "Amazon|482716"),
        (8, False, "live"),
    ]


def test_an_ad_range_by_id_or_ad_attribute_counts_and_ends_before_the_next_segment() -> None:
    text = (
        '#EXTM3U\n#EXT-X-DATERANGE:ID="stitched-ad-9",START-DATE="2026-07-01T00:00:00Z",END-DATE="2026-07-01T00:00:02Z"\n'
        '#EXT-X-DATERANGE:ID="other",START-DATE="2026-07-01T00:00:04+00:00",X-TV-TWITCH-AD-POD-LENGTH="1"\n'
        "#EXT-X-PROGRAM-DATE-TIME:2026-07-01T00:00:00.000Z\n#EXTINF:2.0,\n0.ts\n#EXTINF:2.0,\n1.ts\n"
        "#EXTINF:2.0,\n2.ts\n"
    )
    playlist = parse_live_playlist(text, "https://e.example/p.m3u8")
    # 0 starts in the first range; 1 starts where it ends (a range is half-open); 2 starts in the open-ended one
    assert [s.is_ad for s in playlist.segments] == [True, False, True]
    assert playlist.segments[2].program_time == T0 + dt.timedelta(seconds=4)  # extrapolated from the first


def test_fmp4_live_segments_name_their_init_section_and_a_new_one_is_a_discontinuity() -> None:
    text = (
        '#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-MAP:URI="init-0.mp4"\n#EXTINF:2.0,live\n3.mp4\n'
        '#EXT-X-MAP:URI="init-1.mp4"\n#EXTINF:2.0,live\n4.mp4\n#EXT-X-ENDLIST\n'
    )
    playlist = parse_live_playlist(text, "https://e.example/x/p.m3u8")
    assert [(s.init_url, s.discontinuity) for s in playlist.segments] == [
        ("https://e.example/x/init-0.mp4", False),
        ("https://e.example/x/init-1.mp4", True),
    ]
    assert playlist.ended and playlist.container == "mp4"


def test_odd_lines_are_named_and_skipped_never_raised() -> None:
    text = (
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:abc\n#EXT-X-TARGETDURATION:1e999\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n"
        '#EXT-X-DATERANGE:CLASS="twitch-stitched-ad",START-DATE="soon"\n#EXTINF:nan,live\n0.ts\n#EXTINF:2\n1.ts\n'
    )
    playlist = parse_live_playlist(text, "https://e.example/p.m3u8")
    assert [(s.sequence, s.duration, s.program_time, s.is_ad) for s in playlist.segments] == [
        (0, 0.0, None, False),
        (1, 2.0, None, False),
    ]
    assert len(playlist.problems) == 5 and any("PROGRAM-DATE-TIME" in p for p in playlist.problems)


def test_a_variant_list_is_no_media_playlist() -> None:
    text = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nchunked.m3u8\n"
    assert parse_live_playlist(text, "https://e.example/").is_master


def test_a_vod_playlist_without_program_times_is_timed_from_the_stream_start() -> None:
    text = "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\n0.ts\n#EXTINF:4.5,\n1.ts\n"
    playlist = with_origin(parse_live_playlist(text, "https://e.example/"), T0)
    assert [s.program_time for s in playlist.segments] == [T0, T0 + dt.timedelta(seconds=10)]
