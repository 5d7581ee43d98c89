"""yt-dlp as a library: resolve a VOD (formats, playlist URL, headers, auth) and, for anything
that is not plain HLS, download it.

yt-dlp's library defaults differ from its CLI (no retries, failed fragments skipped
silently); options start from the CLI's and the dangerous ones are set explicitly.
"""

from __future__ import annotations

import dataclasses
import http.cookiejar
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yt_dlp

HLS_PROTOCOLS = ("m3u8_native", "m3u8")


@dataclasses.dataclass(frozen=True)
class Resolved:
    """The chosen format of a VOD."""

    url: str
    protocol: str
    headers: dict[str, str]
    ext: str
    duration: float | None
    bitrate_kbps: float | None  # total bitrate, when the site states it
    format_id: str
    info: dict[str, Any]  # the full info dict, for a yt-dlp download

    @property
    def is_hls(self) -> bool:
        return self.protocol in HLS_PROTOCOLS and not self.info.get("requested_formats")


class YtDlp:
    def __init__(self, quality: str = "best", twitch_token: str | None = None, fragment_retries: int = 10,
                 timeout: float = 30.0):
        self.quality = quality
        self.twitch_token = twitch_token
        self.fragment_retries = fragment_retries
        self.timeout = timeout

    def options(self, **extra: Any) -> dict[str, Any]:
        opts = yt_dlp.parse_options([]).ydl_opts
        opts.update(
            format=self.quality,
            quiet=True,
            no_warnings=True,
            noprogress=True,
            noplaylist=True,
            retries=self.fragment_retries,
            fragment_retries=self.fragment_retries,
            skip_unavailable_fragments=False,  # a missing fragment must fail, never shorten the VOD
            ignoreerrors=False,  # the CLI's default swallows extraction errors: extract_info would return None
            socket_timeout=self.timeout,
            logger=_QuietLogger(),
        )
        opts.update(extra)
        return opts

    def _open(self, **extra: Any) -> yt_dlp.YoutubeDL:
        ydl = yt_dlp.YoutubeDL(self.options(**extra))
        if self.twitch_token:  # what Twitch's site sends for a logged-in (subscribed) viewer
            token = self.twitch_token.removeprefix("oauth:")
            ydl.cookiejar.set_cookie(http.cookiejar.Cookie(
                0, "auth-token", token, None, False, ".twitch.tv", True, True, "/", True, True,
                None, False, None, None, {}))
        return ydl

    def resolve(self, url: str) -> Resolved:
        """Extract the VOD at `url` and pick the configured quality.  Raises yt_dlp's DownloadError."""
        with self._open() as ydl:
            return _resolved(ydl.extract_info(url, download=False))

    def resolve_info(self, info: dict[str, Any]) -> Resolved:
        """Pick the quality from an info dict an extractor (or a test) already produced."""
        with self._open() as ydl:
            return _resolved(ydl.process_ie_result(dict(info), download=False))

    def download(self, resolved: Resolved, target: Path, hook: Callable[[dict[str, Any]], None]) -> Path:
        """Download with yt-dlp itself into `target` (no resume: its resume state is not trusted)."""
        opts = {"outtmpl": {"default": str(target.with_suffix("")) + ".%(ext)s"}, "continuedl": False,
                "progress_hooks": [hook], "overwrites": True}
        with self._open(**opts) as ydl:
            info = ydl.process_ie_result(dict(resolved.info), download=True)
        downloads = info.get("requested_downloads") or [{}]
        return Path(downloads[0].get("filepath") or target)


def _resolved(info: dict[str, Any]) -> Resolved:
    if info.get("_type") == "playlist":
        raise yt_dlp.utils.DownloadError("ERROR: the URL is a playlist, not one VOD")
    return Resolved(
        url=info.get("url") or "",
        protocol=info.get("protocol") or "",
        headers={k: str(v) for k, v in (info.get("http_headers") or {}).items()},
        ext=info.get("ext") or "mp4",
        duration=float(info["duration"]) if info.get("duration") else None,
        bitrate_kbps=float(info["tbr"]) if info.get("tbr") else None,
        format_id=str(info.get("format_id") or ""),
        info=info,
    )


class _QuietLogger:
    """yt-dlp's messages go nowhere: its errors arrive as exceptions, which the caller logs."""

    def debug(self, msg: str) -> None:
        pass

    info = warning = error = debug
