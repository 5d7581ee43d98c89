"""yt-dlp as a library: quality selection on a Twitch-shaped info dict, and its own downloader for
anything that is not plain HLS."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yt_dlp

from tests.integration.downloader.conftest import SEGMENTS, Site
from tests.standins.hls import PLAYLIST, concatenated
from vodtender.clients.hls import HttpClient, parse_media_playlist
from vodtender.clients.ytdlp import YtDlp, YtDlpError
from vodtender.pipeline.download.fetcher import HlsFetch
from vodtender.pipeline.download.verify import media_problems


def _twitch_info(site: Site, vod_id: str) -> dict:
    """What yt-dlp's Twitch extractor hands over for a VOD: one HLS format per quality."""
    url = site.server.url(f"{vod_id}/{PLAYLIST}")
    low = site.server.url(f"{vod_id}-low/{PLAYLIST}")
    formats = [
        {"format_id": "160p30", "url": low, "protocol": "m3u8_native", "ext": "mp4", "tbr": 230, "height": 160},
        {
            "format_id": "1080p60",
            "url": url,
            "protocol": "m3u8_native",
            "ext": "mp4",
            "tbr": 6000,
            "height": 1080,
            "http_headers": {"Client-ID": "kimne78kx3ncx6brgo4mv6wki5h1ko"},
        },
        {"format_id": "audio_only", "url": low, "protocol": "m3u8_native", "ext": "mp4", "tbr": 160, "vcodec": "none"},
    ]
    return {
        "id": f"v{vod_id}",
        "title": "Stream",
        "duration": SEGMENTS * 10,
        "extractor": "twitch:vod",
        "extractor_key": "TwitchVod",
        "webpage_url": f"https://www.twitch.tv/videos/{vod_id}",
        "formats": formats,
    }


def test_best_quality_of_a_twitch_info_dict_is_fetched_byte_identical(site: Site, tmp_path: Path) -> None:
    site.add_vod("6001")
    resolved = YtDlp("best").resolve_info(_twitch_info(site, "6001"))
    assert (resolved.format_id, resolved.is_hls, resolved.bitrate_kbps) == ("1080p60", True, 6000)
    assert {k.lower(): v for k, v in resolved.headers.items()}["client-id"] == "kimne78kx3ncx6brgo4mv6wki5h1ko"
    assert YtDlp("worst").resolve_info(_twitch_info(site, "6001")).format_id in ("160p30", "audio_only")

    client = HttpClient(resolved.headers)
    playlist = parse_media_playlist(client.get(resolved.url).decode(), resolved.url)
    part = tmp_path / "v.part"
    written = HlsFetch(
        playlist, part, client, concurrency=4, fragment_retries=2, min_free=0, bitrate_kbps=resolved.bitrate_kbps
    ).run(lambda: True)
    assert part.read_bytes() == concatenated(site.source / PLAYLIST)
    assert [w.index for w in written] == list(range(SEGMENTS)) and [w.index for w in written if w.muted] == [5]
    assert media_problems(part, playlist.duration) == []


def test_library_options_never_skip_fragments_or_swallow_errors() -> None:
    opts = YtDlp().options()
    assert opts["skip_unavailable_fragments"] is False and opts["ignoreerrors"] is False
    assert opts["fragment_retries"] > 0 and opts["retries"] > 0


def test_a_progressive_file_is_downloaded_by_ytdlp_and_verified(site: Site, vod_source: Path) -> None:
    folder = site.root / "7001"
    folder.mkdir()
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(vod_source / PLAYLIST),
            "-c",
            "copy",
            "-bsf:a",
            "aac_adtstoasc",
            str(folder / "video.mp4"),
        ],
        check=True,
    )
    site.add_vod("7001", served=False)
    with site.downloader(TWITCH_VOD_URL_TEMPLATE=site.server.base_url + "{id}/video.mp4"):
        row = site.wait_state("7001", ("downloaded",))
    path = Path(row["downloaded_path"])
    assert path.suffix == ".mp4" and path.read_bytes() == (folder / "video.mp4").read_bytes()
    assert row["download_bytes"] == path.stat().st_size
    assert not list((site.data_dir / ".partial").glob("*"))


def test_a_missing_vod_is_a_download_error_yt_dlp_reports() -> None:
    try:
        YtDlp().resolve("http://127.0.0.1:9/nothing/index-dvr.m3u8")
    except YtDlpError as exc:
        assert "Connection refused" in str(exc) and isinstance(exc.__cause__, yt_dlp.utils.DownloadError)
    else:
        raise AssertionError("resolving an unreachable URL must fail")
