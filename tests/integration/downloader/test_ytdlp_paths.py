"""yt-dlp as a library: its options, and its own downloader for a single progressive file.  The Twitch
path (yt-dlp's real Twitch extractor against the Twitch stand-in) is in test_twitch_vods.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yt_dlp

from tests.integration.downloader.conftest import Site
from tests.standins.hls import PLAYLIST
from vodtender.clients.ytdlp import YtDlp, YtDlpError


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
