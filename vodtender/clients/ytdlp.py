"""yt-dlp as a library: resolve a VOD (formats, playlist URL, headers, auth) and, for anything
that is not plain HLS, download it.

yt-dlp's library defaults differ from its CLI (no retries, failed fragments skipped
silently); options start from the CLI's and the dangerous ones are set explicitly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.cookiejar
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Unpack, cast

from vodtender.runtime.options import Settings

if TYPE_CHECKING:
    import yt_dlp
    from yt_dlp import _YoutubeDLOptions
    from yt_dlp.extractor.common import _InfoDict

HLS_PROTOCOLS = ("m3u8_native", "m3u8")
PLAIN_PROTOCOLS = ("http", "https")  # one progressive file: yt-dlp's downloader, cancellable by its hook
# A format's vcodec (RFC 6381 name, as the playlist's CODECS attribute gives it) -> the codec family.
CODEC_FAMILIES = {"avc1": "h264", "avc3": "h264", "hvc1": "h265", "hev1": "h265", "av01": "av1"}


def codec_family(vcodec: str | None) -> str | None:
    """ "h264", "h265" or "av1" for a format's vcodec; None when unknown or not video."""
    if not vcodec or vcodec == "none":
        return None
    return CODEC_FAMILIES.get(vcodec.split(".", 1)[0].lower())


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
    codec: str | None = None  # "h264" | "h265" | "av1", when the site says
    resolution: str | None = None  # "1920x1080"

    @property
    def is_hls(self) -> bool:
        return self.protocol in HLS_PROTOCOLS and not self.info.get("requested_formats")

    @property
    def is_plain_file(self) -> bool:
        return self.protocol in PLAIN_PROTOCOLS and not self.info.get("requested_formats")

    @property
    def is_live(self) -> bool:
        """yt-dlp sees a stream still going on (for a Twitch VOD: its thumbnail is still "processing")."""
        return bool(self.info.get("is_live")) or self.info.get("live_status") == "is_live"


class YtDlpError(Exception):
    """yt-dlp failed; the message is yt-dlp's own (`ERROR: ...`), `cause` what it wrapped, if anything."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause


@functools.cache
def _library() -> ModuleType:
    """yt-dlp itself, imported at the first VOD (≈25 MB and 0.2 s a process that never downloads saves)."""
    import yt_dlp

    return yt_dlp


@contextlib.contextmanager
def _errors_as_ours() -> Iterator[None]:
    """yt-dlp's errors as `YtDlpError`, so the pipeline never imports yt-dlp to catch them."""
    utils = _library().utils
    try:
        yield
    except (utils.DownloadError, utils.UnavailableVideoError) as exc:
        wrapped = exc.exc_info[1] if isinstance(exc, utils.DownloadError) and exc.exc_info else None
        raise YtDlpError(str(exc), wrapped) from exc


class YtDlp:
    def __init__(
        self,
        quality: str = "best",
        twitch_token: str | None = None,
        fragment_retries: int = 10,
        timeout: float = 30.0,
        codecs: tuple[str, ...] = ("av1", "h265", "h264"),
    ):
        self.quality = quality
        self.codecs = codecs
        self.twitch_token = twitch_token
        self.fragment_retries = fragment_retries
        self.timeout = timeout

    @classmethod
    def from_settings(cls, s: Settings) -> YtDlp:
        """As the downloader and the recorder configure it: quality, codecs, token, retries, timeout."""
        return cls(
            s.download_quality, s.twitch_oauth_token, s.download_fragment_retries, s.download_timeout, s.download_codecs
        )

    def options(self, **extra: Unpack[_YoutubeDLOptions]) -> _YoutubeDLOptions:
        opts = _library().parse_options([]).ydl_opts
        opts.update(
            {
                "format": self.quality,
                "quiet": True,
                "no_warnings": True,
                "noprogress": True,
                "noplaylist": True,
                "retries": self.fragment_retries,
                "fragment_retries": self.fragment_retries,
                "skip_unavailable_fragments": False,  # a missing fragment must fail, never shorten the VOD
                "ignoreerrors": False,  # the CLI's default swallows extraction errors: extract_info would return None
                "socket_timeout": cast(int, self.timeout),  # the stubs say int; yt-dlp's own CLI passes a float
                "logger": _QuietLogger(),
            }
        )
        opts.update(extra)
        return opts

    def _open(self, **extra: Unpack[_YoutubeDLOptions]) -> yt_dlp.YoutubeDL:
        ydl = _library().YoutubeDL(self.options(**extra))
        if self.twitch_token:  # what Twitch's site sends for a logged-in (subscribed) viewer
            token = self.twitch_token.removeprefix("oauth:")
            ydl.cookiejar.set_cookie(
                http.cookiejar.Cookie(
                    0,
                    "auth-token",
                    token,
                    None,
                    False,
                    ".twitch.tv",
                    True,
                    True,
                    "/",
                    True,
                    True,
                    None,
                    False,
                    None,
                    None,
                    {},
                )
            )
        return ydl

    def resolve(self, url: str) -> Resolved:
        """Extract the VOD at `url` and pick the configured quality among the formats of an
        acceptable codec.  Raises `YtDlpError`."""
        with _errors_as_ours(), self._open() as ydl:
            info = _from_ytdlp(ydl.extract_info(url, download=False, process=False))
            return self._pick(ydl, info)

    def resolve_info(self, info: dict[str, Any]) -> Resolved:
        """Pick the quality from an info dict an extractor (or a test) already produced."""
        with _errors_as_ours(), self._open() as ydl:
            return self._pick(ydl, dict(info))

    def _pick(self, ydl: yt_dlp.YoutubeDL, info: dict[str, Any]) -> Resolved:
        formats = info.get("formats")
        if formats:
            # Twitch lists HEVC/AV1 renditions beside H.264 ones: the codec filter comes before the
            # quality choice, so the best rendition among the acceptable codecs wins.
            acceptable = [f for f in formats if codec_family(f.get("vcodec")) in (*self.codecs, None)]
            if not acceptable:
                offered = sorted({codec_family(f.get("vcodec")) or "?" for f in formats})
                raise YtDlpError(
                    f"ERROR: no rendition in an acceptable codec (DOWNLOAD_CODECS={','.join(self.codecs)}; "
                    f"offered: {','.join(offered)})"
                )
            info = {**info, "formats": acceptable}
        return _resolved(_from_ytdlp(ydl.process_ie_result(_to_ytdlp(info), download=False)))

    def download(self, resolved: Resolved, target: Path, hook: Callable[[Mapping[str, Any]], None]) -> Path:
        """Download with yt-dlp itself into `target` (no resume: its resume state is not trusted)."""
        opts: _YoutubeDLOptions = {
            "outtmpl": {"default": str(target.with_suffix("")) + ".%(ext)s"},
            "continuedl": False,
            "progress_hooks": [hook],
            "overwrites": True,
        }
        with _errors_as_ours(), self._open(**opts) as ydl:
            info = _from_ytdlp(ydl.process_ie_result(_to_ytdlp(dict(resolved.info)), download=True))
        downloads = info.get("requested_downloads") or [{}]
        return Path(downloads[0].get("filepath") or target)


# The stubs' _InfoDict names only some of the keys yt-dlp fills (no _type, protocol, tbr, http_headers,
# requested_downloads, ...): this module reads the info dict as the plain dict it is at runtime.
def _from_ytdlp(info: _InfoDict) -> dict[str, Any]:
    return cast(dict[str, Any], info)


def _to_ytdlp(info: dict[str, Any]) -> _InfoDict:
    return cast("_InfoDict", info)


def _resolved(info: dict[str, Any]) -> Resolved:
    if info.get("_type") == "playlist":
        raise YtDlpError("ERROR: the URL is a playlist, not one VOD")
    return Resolved(
        url=info.get("url") or "",
        protocol=info.get("protocol") or "",
        headers={k: str(v) for k, v in (info.get("http_headers") or {}).items()},
        ext=info.get("ext") or "mp4",
        duration=float(info["duration"]) if info.get("duration") else None,
        bitrate_kbps=float(info["tbr"]) if info.get("tbr") else None,
        format_id=str(info.get("format_id") or ""),
        info=info,
        codec=codec_family(info.get("vcodec")),
        resolution=f"{info['width']}x{info['height']}" if info.get("width") and info.get("height") else None,
    )


class _QuietLogger:
    """yt-dlp's messages go nowhere: its errors arrive as exceptions, which the caller logs."""

    def debug(self, message: str) -> None:
        pass

    def warning(self, message: str, *, once: bool = False, only_once: bool = False) -> None:
        pass

    info = error = stdout = stderr = debug
