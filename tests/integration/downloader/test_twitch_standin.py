"""The Twitch stand-in, proven through yt-dlp's real Twitch extractor (in-process and as the yt-dlp CLI):
what yt-dlp makes of its GraphQL, usher and CDN answers is what it makes of Twitch's."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yt_dlp
from yt_dlp.extractor.common import InfoExtractor

from tests.helpers.processes import REPO
from tests.standins.twitch import Rendition, TwitchStandin, VodSpec, point_ytdlp_at, ytdlp_hook_env

URL = "https://www.twitch.tv/videos/{}"
SEGMENTS = 6
# An "enhanced broadcasting" VOD: HEVC source, AV1 and h264 transcodes, all fMP4 as Twitch serves them.
ENHANCED = VodSpec(
    (
        Rendition("1080p60", "h265", "fmp4", size="320x180"),
        Rendition("720p60", "av1", "fmp4", size="256x144"),
        Rendition("480p30", "h264", "fmp4", size="160x90"),
        Rendition("audio_only", container="fmp4"),
    ),
    segments=SEGMENTS,
)
CLASSIC = VodSpec((Rendition("chunked", size="160x90"), Rendition("audio_only")), segments=SEGMENTS)


@pytest.fixture
def media_cache(twitch_media: Path) -> Path:
    return twitch_media  # the session's encodes, shared with the downloader's tests (conftest.py)


@pytest.fixture
def site(tmp_path: Path, media_cache: Path) -> Iterator[TwitchStandin]:
    with TwitchStandin(tmp_path / "site", media_cache=media_cache) as started:
        yield started


def extract(site: TwitchStandin, vod_id: str) -> dict[str, Any]:
    with point_ytdlp_at(site.base_url), yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
        info = ydl.extract_info(URL.format(vod_id), download=False)
    assert info is not None
    return dict(info)


def extraction_error(site: TwitchStandin, vod_id: str) -> str:
    with pytest.raises(yt_dlp.utils.DownloadError) as caught:
        extract(site, vod_id)
    return str(caught.value)


def download(site: TwitchStandin, vod_id: str, format_id: str, target: Path) -> Path:
    options = {"quiet": True, "no_warnings": True, "format": format_id, "outtmpl": str(target) + ".%(ext)s"}
    with point_ytdlp_at(site.base_url), yt_dlp.YoutubeDL(options) as ydl:  # type: ignore[arg-type]
        ydl.download([URL.format(vod_id)])
    return next(target.parent.glob(target.name + ".*"))


def video_packets(path: Path) -> int:
    answer = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
         "-show_entries", "stream=nb_read_packets,codec_name", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(json.loads(answer.stdout)["streams"][0]["nb_read_packets"])


def get(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body) of a plain request."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_formats_are_the_renditions_with_their_codecs_and_sizes(site: TwitchStandin) -> None:
    site.add_vod("1001", ENHANCED, channel="someone", title="Enhanced")
    info = extract(site, "1001")

    assert info["extractor_key"] == "TwitchVod" and info["id"] == "v1001" and info["title"] == "Enhanced"
    assert info["uploader_id"] == "someone" and info["is_live"] is False
    assert info["duration"] == round(site.expected("1001", "1080p60").duration)
    videos = {f["format_id"]: f for f in info["formats"] if f["format_id"] != "sb0"}
    assert {k: (f["vcodec"].split(".")[0], f.get("width"), f.get("height")) for k, f in videos.items()} == {
        "1080p60": ("hvc1", 320, 180),
        "720p60": ("av01", 256, 144),
        "480p30": ("avc1", 160, 90),
        "Audio_Only": ("none", None, None),
    }
    assert videos["1080p60"]["quality"] == 10  # yt-dlp knows the source by its chunked/ folder
    assert videos["1080p60"]["url"] == site.media_playlist_url("1001", "1080p60")
    usher = [query for path, query in site.requests if path == "usher/vod/1001.m3u8"]
    assert usher[0]["supported_codecs"] == "av1,h265,h264"  # what the real extractor asks for


def test_hevc_and_av1_renditions_are_absent_unless_supported_codecs_asks(site: TwitchStandin) -> None:
    site.add_vod("1002", ENHANCED)
    token_query = '{ videoPlaybackAccessToken(id: "1002", params: {platform: "web"}) { value signature } }'
    _, _, answer = get(site.base_url + "/gql", json.dumps({"query": token_query}).encode(), {"Client-ID": "x"})
    token = json.loads(answer)["data"]["videoPlaybackAccessToken"]
    parser = InfoExtractor(yt_dlp.YoutubeDL({"quiet": True}))

    def vcodecs(extra: dict[str, str]) -> set[str]:
        query = urllib.parse.urlencode({"token": token["value"], "sig": token["signature"], **extra})
        url = f"{site.base_url}/usher/vod/1002.m3u8?{query}"
        status, _, master = get(url)
        assert status == 200
        formats, _ = parser._parse_m3u8_formats_and_subtitles(master.decode(), url)
        return {f["vcodec"].split(".")[0] for f in formats}

    assert vcodecs({}) == {"avc1", "none"}  # Twitch's default is h264 only
    assert vcodecs({"supported_codecs": "h264"}) == {"avc1", "none"}
    assert vcodecs({"supported_codecs": "h265,h264"}) == {"hvc1", "avc1", "none"}
    assert vcodecs({"supported_codecs": "av1,h265,h264"}) == {"av01", "hvc1", "avc1", "none"}


def test_the_ivs_master_shape_gives_the_same_renditions(site: TwitchStandin) -> None:
    site.add_vod("1003", dataclasses.replace(ENHANCED, master_shape="ivs"))
    formats = [f for f in extract(site, "1003")["formats"] if f["format_id"] != "sb0"]

    # without EXT-X-MEDIA groups yt-dlp names the variants by bandwidth, but finds the same streams
    assert sorted((f["vcodec"].split(".")[0], f.get("height")) for f in formats) == sorted(
        [("hvc1", 180), ("av01", 144), ("avc1", 90), ("none", None)]
    )
    assert [f["quality"] for f in formats if f["vcodec"].startswith("hvc1")] == [10]


def test_sub_only_deleted_and_unknown_vods_give_yt_dlps_errors(site: TwitchStandin) -> None:
    site.add_vod("1004", dataclasses.replace(CLASSIC, state="sub_only"))
    site.add_vod("1005", dataclasses.replace(CLASSIC, state="deleted"))
    site.add_vod("1006", dataclasses.replace(CLASSIC, state="usher_404"))

    assert "You must be logged into an account that has access to this subscriber-only content" in (
        extraction_error(site, "1004")
    )
    assert "Video 1005 does not exist" in extraction_error(site, "1005")
    assert "Video 1099 does not exist" in extraction_error(site, "1099")
    assert "HTTP Error 404" in extraction_error(site, "1006")


def test_a_vod_still_recording_is_live_until_it_is_finished(site: TwitchStandin) -> None:
    site.add_vod("1007", dataclasses.replace(CLASSIC, recording=True))
    assert extract(site, "1007")["is_live"] is True
    _, _, recording = get(site.media_playlist_url("1007", "chunked"))
    assert b"#EXT-X-ENDLIST" not in recording and recording.count(b"#EXTINF") == SEGMENTS // 2

    site.finish_recording("1007")
    assert extract(site, "1007")["is_live"] is False
    _, _, finished = get(site.media_playlist_url("1007", "chunked"))
    assert finished.endswith(b"#EXT-X-ENDLIST\n") and finished.count(b"#EXTINF") == SEGMENTS


def test_muted_lost_and_withheld_files_answer_as_twitchs_cdn(site: TwitchStandin) -> None:
    site.add_vod("1008", dataclasses.replace(CLASSIC, muted=(1,), lost=(3,)))
    site.add_vod("1009", dataclasses.replace(CLASSIC, state="access_denied"))
    muted_index = site.media_playlist_url("1008", "chunked")
    folder = muted_index.rsplit("/", 1)[0]

    assert "index-muted-" in muted_index
    listed = get(muted_index)[2].decode().splitlines()
    assert "1-muted.ts" in listed and "3.ts" in listed and "0.ts" in listed
    assert "1-unmuted.ts" in get(site.dvr_playlist_url("1008", "chunked"))[2].decode().splitlines()
    assert get(f"{folder}/1-muted.ts")[0] == 200 and get(f"{folder}/0.ts?token=abc")[0] == 200
    for name in ("1-unmuted.ts", "1.ts", "3.ts", "3-muted.ts", "3-unmuted.ts", "99.ts"):
        status, content_type, body = get(f"{folder}/{name}")
        assert (status, content_type) == (403, "application/xml") and b"<Code>AccessDenied</Code>" in body
    assert get(site.media_playlist_url("1009", "chunked"))[0] == 403


def test_a_download_holds_every_video_packet_of_the_source(site: TwitchStandin, tmp_path: Path) -> None:
    site.add_vod("1010", ENHANCED)
    site.add_vod("1011", dataclasses.replace(CLASSIC, byterange=True))
    site.add_vod("1012", dataclasses.replace(CLASSIC, encrypted=True))

    hevc = download(site, "1010", "1080p60", tmp_path / "hevc")
    assert video_packets(hevc) == site.expected("1010", "1080p60").video_packets
    for vod_id in ("1011", "1012"):  # EXT-X-BYTERANGE, then AES-128
        made = download(site, vod_id, "90p10", tmp_path / vod_id)
        assert video_packets(made) == site.expected(vod_id, "chunked").video_packets
    assert any(path.endswith("/chunked/media-0.ts") for path in site.counts)  # fetched as byte ranges


def test_a_changed_init_section_stops_yt_dlps_own_hls_downloader(site: TwitchStandin, tmp_path: Path) -> None:
    """The shape of yt-dlp issue "Cannot download Twitch VOD with initialization fragments after media
    fragments": a second EXT-X-MAP after a discontinuity, at another resolution."""
    site.add_vod("1013", dataclasses.replace(ENHANCED, init_change_at=3))
    playlist = get(site.media_playlist_url("1013", "480p30"))[2].decode()
    assert '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init-1.mp4"\n' in playlist

    with pytest.raises(yt_dlp.utils.DownloadError, match="Initialization fragment found after media fragments"):
        download(site, "1013", "480p30", tmp_path / "changed")


def test_a_discontinuity_restarts_the_timestamps(site: TwitchStandin) -> None:
    site.add_vod("1014", dataclasses.replace(CLASSIC, discontinuity_at=3))
    folder = site.media_playlist_url("1014", "chunked").rsplit("/", 1)[0]

    def first_pts(name: str) -> float:
        answer = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
             "-read_intervals", "%+#1", "-of", "csv=p=0", f"{folder}/{name}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return float(answer.stdout.split()[0].rstrip(","))

    assert "#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n3.ts" in get(site.media_playlist_url("1014", "chunked"))[2].decode()
    assert first_pts("1.ts") > first_pts("0.ts")  # continuous within an encode
    assert first_pts("3.ts") < first_pts("2.ts")  # and back to the start after the break
    assert site.expected("1014", "chunked").discontinuities == (3,)


def test_the_yt_dlp_cli_reaches_the_standin_process_through_the_hook(tmp_path: Path, media_cache: Path) -> None:
    command = [sys.executable, "-m", "tests.standins.twitch", "--root", str(tmp_path / "site"),
               "--media-cache", str(media_cache)]  # fmt: skip
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as standin:
        try:
            assert standin.stdout is not None
            base = standin.stdout.readline().strip()
            spec = {"renditions": [{"name": "chunked", "size": "160x90"}, {"name": "audio_only"}],
                    "segments": SEGMENTS, "muted": [2]}  # fmt: skip
            assert get(f"{base}/_control/vods", json.dumps({"vod_id": "1015", "spec": spec}).encode())[0] == 200
            rule = {"pattern": "cdn/*/chunked/4.ts", "status": 503, "times": 1}
            assert get(f"{base}/_control/rules", json.dumps(rule).encode())[0] == 200
            env = {**os.environ, **ytdlp_hook_env(base)}

            probe = "import sys, sitecustomize; print(sitecustomize.__name__, 'yt_dlp' in sys.modules)"
            started = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
            assert started.stdout.split() == ["sitecustomize", "False"]  # hooked, yt-dlp not imported at start
            cli = [sys.executable, "-m", "yt_dlp", "-q", "-f", "90p10", "-o", str(tmp_path / "out.%(ext)s")]
            subprocess.run([*cli, URL.format(1015)], env=env, check=True, timeout=120, cwd=tmp_path)

            expected = json.loads(get(f"{base}/_control/expected?vod_id=1015&rendition=chunked")[2])
            assert video_packets(tmp_path / "out.mp4") == expected["video_packets"]
            counts = json.loads(get(f"{base}/_control/counts")[2])
            folder = next(p.rsplit("/", 1)[0] for p in counts if p.endswith("/chunked/0.ts"))
            assert counts[f"{folder}/4.ts"] == 2 and counts[f"{folder}/2-muted.ts"] == 1  # retried; muted form
        finally:
            standin.terminate()


def test_point_ytdlp_at_leaves_the_extractor_as_it_was() -> None:
    from yt_dlp.extractor import twitch  # type: ignore[attr-defined]

    with point_ytdlp_at("http://127.0.0.1:9"):
        assert twitch.TwitchBaseIE._USHER_BASE == "http://127.0.0.1:9/usher"
    assert twitch.TwitchBaseIE._USHER_BASE == "https://usher.ttvnw.net"
    assert "_download_json" not in twitch.TwitchBaseIE.__dict__


def test_specs_the_site_cannot_serve_are_refused_with_the_reason(site: TwitchStandin) -> None:
    with pytest.raises(ValueError, match="AV1 in MPEG-TS"):
        site.add_vod("1016", VodSpec((Rendition("chunked", "av1", "ts"),)))
    with pytest.raises(ValueError, match="init_change_at needs fMP4"):
        site.add_vod("1017", dataclasses.replace(CLASSIC, init_change_at=2))
    with pytest.raises(ValueError, match="unknown state"):
        site.add_vod("1018", dataclasses.replace(CLASSIC, state="gone"))
    status, _, body = get(f"{site.base_url}/_control/vods", json.dumps({"vod_id": "1019"}).encode())
    assert status == 400 and b"spec" in body
