"""The live side of the Twitch stand-in, proven through yt-dlp's real Twitch extractors (TwitchStreamIE for
the channel, TwitchVodIE for the in-progress VOD) and real ffmpeg: what they make of its GraphQL, usher
and live edge is what they make of Twitch's, and what a recorder must drop is really there."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yt_dlp

from tests.helpers.clock import ManualClock
from tests.standins.twitch import LiveSpec, LiveStream, Rendition, TwitchStandin, point_ytdlp_at
from tests.standins.twitch_live import ad_frames

CHANNEL = "somechannel"
SMALL = Rendition("1080p60", "h264", "ts", size="160x90")


@pytest.fixture
def site(tmp_path: Path, twitch_media: Path) -> Iterator[TwitchStandin]:
    with TwitchStandin(tmp_path / "site", media_cache=twitch_media) as started:
        yield started


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


def extract(site: TwitchStandin, url: str) -> dict[str, Any]:
    with point_ytdlp_at(site.base_url), yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
        info = ydl.extract_info(url, download=False)
    assert info is not None
    return dict(info)


def extraction_error(site: TwitchStandin, channel: str) -> str:
    with pytest.raises(yt_dlp.utils.DownloadError) as caught:
        extract(site, f"https://www.twitch.tv/{channel}")
    return str(caught.value)


def stream_token(site: TwitchStandin, channel: str) -> dict[str, str]:
    """The token and sig query parameters, asked as yt-dlp asks (_download_access_token)."""
    query = (
        f'{{ streamPlaybackAccessToken(channelName: "{channel}", params: {{platform: "web"}}) {{ value signature }} }}'
    )
    request = urllib.request.Request(
        f"{site.base_url}/gql", json.dumps({"query": query}).encode(), {"Client-ID": "kimne78kx3ncx6brgo4mv6wki5h1ko"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        token = json.loads(answer.read())["data"]["streamPlaybackAccessToken"]
    return {"token": token["value"], "sig": token["signature"]}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def playlist(stream: LiveStream) -> list[str]:
    status, body = get(stream.playlist_url())
    assert status == 200
    return body.decode().splitlines()


def listed(lines: list[str]) -> list[tuple[str, str, str]]:
    """(program date time, EXTINF title, URL) of each segment."""
    segments, date, title = [], "", ""
    for line in lines:
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date = line.partition(":")[2]
        elif line.startswith("#EXTINF:"):
            title = line.partition(",")[2]
        elif line and not line.startswith("#"):
            segments.append((date, title, line))
    return segments


def tag(lines: list[str], name: str) -> list[str]:
    return [line.partition(":")[2] for line in lines if line.startswith(f"#{name}:")]


def iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def video_packets(path: Path) -> int:
    answer = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
         "-show_entries", "stream=nb_read_packets", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(json.loads(answer.stdout)["streams"][0]["nb_read_packets"])


def test_yt_dlp_extracts_a_live_channel_as_live_with_the_source_rendition(
    site: TwitchStandin, clock: ManualClock
) -> None:
    stream = site.go_live(CHANNEL, LiveSpec(SMALL, total_segments=20), title="Speedrun later", clock=clock)
    clock.advance(1.0)

    info = extract(site, f"https://www.twitch.tv/{CHANNEL.title()}")

    assert info["is_live"] is True
    assert (info["id"], info["display_id"], info["uploader_id"]) == (stream.stream_id, CHANNEL, CHANNEL)
    assert info["title"].startswith("Somechannel (live)")  # yt-dlp adds the date to a live title
    assert info["description"] == "Speedrun later"
    assert info["timestamp"] == int(stream.started_at.timestamp())
    (source,) = info["formats"]
    assert source["url"] == stream.playlist_url()
    assert (source["vcodec"].split(".")[0], source["height"], source["fps"]) == ("avc1", 90, 10)
    usher = [query for path, query in site.requests if path == f"usher/api/channel/hls/{CHANNEL}.m3u8"]
    assert usher and json.loads(usher[0]["token"])["channel"] == CHANNEL  # the signed stream token was checked


def test_a_channel_is_offline_before_its_first_segment_and_after_its_end(
    site: TwitchStandin, clock: ManualClock
) -> None:
    assert "does not exist" in extraction_error(site, "nobody")
    site.go_live(CHANNEL, LiveSpec(SMALL, total_segments=20), clock=clock)
    assert "not currently live" in extraction_error(site, CHANNEL)  # no segment yet: not live on Twitch either
    clock.advance(1.0)
    assert extract(site, f"https://www.twitch.tv/{CHANNEL}")["is_live"] is True

    site.end_stream(CHANNEL)

    assert "not currently live" in extraction_error(site, CHANNEL)
    usher = f"{site.base_url}/usher/api/channel/hls/{CHANNEL}.m3u8?"
    status, body = get(usher + urllib.parse.urlencode(stream_token(site, CHANNEL)))
    assert status == 404
    assert json.loads(body)[0]["error_code"] == "transcode_does_not_exist"
    status, body = get(usher + urllib.parse.urlencode({"token": '{"channel":"somechannel"}', "sig": "forged"}))
    assert status == 403


def test_the_live_playlist_slides_with_the_stream_clock(
    site: TwitchStandin, clock: ManualClock, tmp_path: Path
) -> None:
    stream = site.go_live(CHANNEL, LiveSpec(SMALL, window=5, speed=4.0, total_segments=20), clock=clock)
    seen: dict[str, bytes] = {}
    for step in range(1, 9):
        clock.advance(0.5)  # one 2 s segment at speed 4
        lines = playlist(stream)
        edge, first = step - 1, max(0, step - 5)
        assert stream.live_edge() == edge
        assert tag(lines, "EXT-X-MEDIA-SEQUENCE") == [str(first)]
        assert tag(lines, "EXT-X-TWITCH-ELAPSED-SECS") == [f"{first * 2:.3f}"]
        assert tag(lines, "EXT-X-TWITCH-TOTAL-SECS") == [f"{(edge + 1) * 2:.3f}"]
        segments = listed(lines)
        assert [date for date, _, _ in segments] == [iso(stream.segment_at(i)) for i in range(first, edge + 1)]
        assert {title for _, title, _ in segments} == {"live"}
        assert [url for _, _, url in segments] == [stream.segment_url(i) for i in range(first, edge + 1)]
        assert tag(lines, "EXT-X-TWITCH-PREFETCH") == [stream.segment_url(edge + 1), stream.segment_url(edge + 2)]
        assert "#EXT-X-ENDLIST" not in lines
        for _, _, url in segments:
            seen.setdefault(url, get(url)[1])
    # what a recorder that kept up holds: every segment once, one continuous, decodable stream
    (stream_file := tmp_path / "followed.ts").write_bytes(b"".join(seen[stream.segment_url(i)] for i in range(8)))
    assert video_packets(stream_file) == stream.expected_recording(0, 7).video_packets
    clock.advance(3.0)  # six more segments: 9..13 listed
    assert get(stream.segment_url(4))[0] == 200  # left the playlist less than a window ago
    assert get(stream.segment_url(3))[0] == 404  # left it more than a window ago
    assert get(stream.segment_url(stream.live_edge() + 3))[0] == 404  # not even announced yet


def test_stitched_ads_are_marked_as_twitch_marks_them_and_show_the_break_picture(
    site: TwitchStandin, clock: ManualClock, tmp_path: Path
) -> None:
    spec = LiveSpec(SMALL, window=15, ad_breaks=((3, 2),), total_segments=20)
    stream = site.go_live(CHANNEL, spec, clock=clock)
    clock.advance(4.0)  # segments 0..7 at 4 stream seconds per second

    lines = playlist(stream)
    segments = listed(lines)
    assert [title.partition("|")[0] for _, title, _ in segments] == ["live"] * 3 + ["Amazon"] * 2 + ["live"] * 3
    (stitched,) = [r for r in tag(lines, "EXT-X-DATERANGE") if 'CLASS="twitch-stitched-ad"' in r]
    assert f'START-DATE="{iso(stream.segment_at(3))}"' in stitched
    assert "DURATION=4.000" in stitched and 'X-TV-TWITCH-AD-ROLL-TYPE="MIDROLL"' in stitched
    # the ad is fenced by discontinuities: before its first segment and before the content that follows
    fences = [listed(lines[:n]) for n, line in enumerate(lines) if line == "#EXT-X-DISCONTINUITY"]
    assert [len(before) for before in fences] == [3, 5]
    media = {i: get(url)[1] for i, (_, _, url) in enumerate(segments)}
    assert [site.is_ad(media[i]) for i in range(8)] == [False] * 3 + [True] * 2 + [False] * 3

    expected = stream.expected_recording(0, 7)
    assert expected.segments == (0, 1, 2, 5, 6, 7)
    assert expected.ad_gaps == ((stream.segment_at(3), stream.segment_at(5)),)
    assert (expected.duration, expected.started_at) == (12.0, stream.segment_at(0))
    naive = tmp_path / "naive.ts"  # everything the playlist listed, as a recorder that keeps ads writes it
    naive.write_bytes(b"".join(media[i] for i in range(8)))
    assert ad_frames(naive) == 2 * 2 * SMALL.fps
    dropped = tmp_path / "dropped.ts"
    dropped.write_bytes(b"".join(media[i] for i in expected.segments))
    assert ad_frames(dropped) == 0
    assert video_packets(dropped) == expected.video_packets


def test_no_prefetch_hint_while_an_ad_plays(site: TwitchStandin, clock: ManualClock) -> None:
    stream = site.go_live(CHANNEL, LiveSpec(SMALL, ad_breaks=((2, 2),), total_segments=20), clock=clock)
    clock.advance(0.5)
    assert tag(playlist(stream), "EXT-X-TWITCH-PREFETCH") == [stream.segment_url(1)]  # up to the break
    clock.advance(0.5)
    assert tag(playlist(stream), "EXT-X-TWITCH-PREFETCH") == []  # the next segment is an ad
    clock.advance(1.0)
    assert tag(playlist(stream), "EXT-X-TWITCH-PREFETCH") == []  # the last listed is an ad
    clock.advance(0.5)
    assert tag(playlist(stream), "EXT-X-TWITCH-PREFETCH") == [stream.segment_url(5), stream.segment_url(6)]


def test_an_fmp4_hevc_stream_switches_init_sections_around_its_ads(site: TwitchStandin, clock: ManualClock) -> None:
    rendition = Rendition("1080p60", "h265", "fmp4", size="160x90")
    stream = site.go_live(CHANNEL, LiveSpec(rendition, ad_breaks=((2, 1),), total_segments=6), clock=clock)
    clock.advance(2.0)  # segments 0..3
    (source,) = extract(site, f"https://www.twitch.tv/{CHANNEL}")["formats"]
    assert source["vcodec"].startswith("hvc1")
    clock.advance(1.0)  # segments 0..5: the stream's end

    lines = playlist(stream)
    assert tag(lines, "EXT-X-VERSION") == ["6"]
    maps = [line for line in lines if line.startswith("#EXT-X-MAP:")]
    assert [m.rsplit("/", 2)[-2] for m in maps] == ["chunked", "ad", "chunked"]
    assert lines[-1] == "#EXT-X-ENDLIST"
    init = get(maps[0].split('"')[1])[1]
    ad_init = get(maps[1].split('"')[1])[1]
    urls = [url for _, _, url in listed(lines)]
    assert not site.is_ad(init + get(urls[1])[1])
    assert site.is_ad(ad_init + get(urls[2])[1])


def test_the_stream_ends_with_endlist_and_stops_growing(site: TwitchStandin, clock: ManualClock) -> None:
    stream = site.go_live(CHANNEL, LiveSpec(SMALL, window=4, total_segments=20), clock=clock)
    clock.advance(3.2)  # six whole segments and part of the seventh

    ended = site.end_stream(CHANNEL)
    clock.advance(10.0)

    assert ended is stream and stream.ended and not stream.is_live
    lines = playlist(stream)
    assert stream.live_edge() == 5  # the partial segment never appears
    assert [url for _, _, url in listed(lines)] == [stream.segment_url(i) for i in range(2, 6)]
    assert lines[-1] == "#EXT-X-ENDLIST"
    assert tag(lines, "EXT-X-TWITCH-PREFETCH") == []
    assert stream.expected_recording(0, 100).segments == tuple(range(6))

    natural = site.go_live(CHANNEL, LiveSpec(SMALL, total_segments=3), clock=clock)  # a new stream, same channel
    assert natural.stream_id != stream.stream_id
    clock.advance(5.0)
    assert natural.ended and natural.live_edge() == 2 and playlist(natural)[-1] == "#EXT-X-ENDLIST"


def test_the_in_progress_vod_grows_with_the_live_edge_and_has_the_content_where_ads_played(
    site: TwitchStandin, clock: ManualClock
) -> None:
    spec = LiveSpec(SMALL, ad_breaks=((2, 2),), vod_id="3001", total_segments=20)
    stream = site.go_live(CHANNEL, spec, title="Marathon", clock=clock)
    clock.advance(4.0)  # segments 0..7

    info = extract(site, "https://www.twitch.tv/videos/3001")
    assert info["is_live"] is True  # the 404_processing preview: still recording
    assert info["title"].startswith("Marathon")
    assert (info["uploader_id"], info["timestamp"]) == (
        CHANNEL,
        int(stream.started_at.timestamp()),
    )
    (vod_format,) = [f for f in info["formats"] if f.get("vcodec") != "none" and f["protocol"].startswith("m3u8")]
    assert f"_{CHANNEL}_{stream.stream_id}_" in vod_format["url"]  # the VOD folder names its stream
    status, body = get(vod_format["url"])
    assert status == 200
    vod_lines = body.decode().splitlines()
    names = [line for line in vod_lines if line and not line.startswith("#")]
    assert names == [f"{i}.ts" for i in range(8)] and "#EXT-X-ENDLIST" not in vod_lines
    base = vod_format["url"].rsplit("/", 1)[0]
    assert not any(site.is_ad(get(f"{base}/{name}")[1]) for name in names[2:4])  # content where the ad played
    assert stream.expected_recording(0, 7, source="vod").segments == tuple(range(8))

    clock.advance(2.0)  # segments 0..11
    site.end_stream(CHANNEL)
    vod_lines = get(vod_format["url"])[1].decode().splitlines()
    assert [line for line in vod_lines if line and not line.startswith("#")] == [f"{i}.ts" for i in range(12)]
    assert vod_lines[-1] == "#EXT-X-ENDLIST"
    assert extract(site, "https://www.twitch.tv/videos/3001")["is_live"] is False


def test_yt_dlp_follows_the_live_stream_through_ffmpeg_until_it_ends(site: TwitchStandin, tmp_path: Path) -> None:
    """Real time: the playlist grows as ffmpeg's HLS demuxer reloads it, and ENDLIST ends the download.
    yt-dlp keeps the stitched ads: the break's picture is in its file, which is why the recorder drops them."""
    spec = LiveSpec(SMALL, window=20, speed=8.0, ad_breaks=((8, 2),), total_segments=16)  # the window holds it all
    stream = site.go_live(CHANNEL, spec)
    while not stream.is_live:
        time.sleep(0.02)
    options = {
        "quiet": True,
        "no_warnings": True,
        "outtmpl": str(tmp_path / "live.%(ext)s"),
        "external_downloader_args": {"ffmpeg_i": ["-live_start_index", "0"]},  # from the oldest segment listed
    }
    with point_ytdlp_at(site.base_url), yt_dlp.YoutubeDL(options) as ydl:  # type: ignore[arg-type]
        ydl.download([f"https://www.twitch.tv/{CHANNEL}"])

    assert stream.ended
    (recorded,) = tmp_path.glob("live.*")
    assert video_packets(recorded) == 16 * 2 * SMALL.fps  # every segment, ads included
    assert ad_frames(recorded) == 2 * 2 * SMALL.fps


def test_a_prefetch_hint_answers_once_its_segment_is_complete(site: TwitchStandin) -> None:
    stream = site.go_live(CHANNEL, LiveSpec(SMALL, speed=4.0, total_segments=20))
    while not stream.is_live:
        time.sleep(0.02)
    hinted = tag(playlist(stream), "EXT-X-TWITCH-PREFETCH")[0]
    index = int(hinted.rsplit("/", 1)[1].split(".")[0])

    status, body = get(hinted)

    assert status == 200 and stream.live_edge() >= index
    assert body == get(stream.segment_url(index))[1]


def test_the_control_api_starts_and_ends_a_stream(site: TwitchStandin) -> None:
    """What a harness that runs the stand-in as a process uses."""

    def control(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{site.base_url}/_control/{path}", data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    spec = {
        "rendition": {"name": "1080p60", "size": "160x90"},
        "speed": 8.0,
        "total_segments": 20,
        "ad_breaks": [[4, 2]],
    }
    status, started = control("POST", "live", {"channel": CHANNEL, "spec": spec, "stream_id": "41000000001"})
    assert (status, started["stream_id"], started["ended"]) == (200, "41000000001", False)
    assert control("POST", "live", {"channel": CHANNEL, "spec": spec})[0] == 400  # already live
    assert (
        control("POST", "live", {"channel": "other", "spec": {**spec, "ad_breaks": [[19, 5]]}})[0] == 400
    )  # past the end

    status, ended = control("POST", f"live/{CHANNEL}/end")
    assert (status, ended["ended"]) == (200, True)
    assert control("GET", f"live/{CHANNEL}")[1] == ended
    assert site.live.current(CHANNEL).spec.ad_breaks == ((4, 2),)
