"""Which error class a download failure belongs to (see `pipeline/errors.py` for what each means)."""

from __future__ import annotations

import errno
import re
import socket

from vodtender.clients.hls import HttpStatusError
from vodtender.clients.ytdlp import YtDlpError
from vodtender.pipeline.errors import FatalError, PipelineError, SystemicError, TransientError

# yt-dlp reports everything as error text (`YtDlpError`); these parts of it decide the class.
_FATAL_TEXT = re.compile(
    r"HTTP Error (404|410)|Unsupported URL|does not exist|has been deleted|is not available|"
    r"subscriber|sub-only|only available to|private video|video is private",
    re.IGNORECASE,
)
_TOKEN_REFUSED_TEXT = re.compile(r"HTTP Error 401|invalid oauth token|token is invalid", re.IGNORECASE)
_FORBIDDEN_TEXT = re.compile(r"HTTP Error 403", re.IGNORECASE)
_NETWORK_DOWN_TEXT = re.compile(
    r"Name or service not known|Temporary failure in name resolution|Network is unreachable|"
    r"No route to host|Connection refused|getaddrinfo failed|nodename nor servname",
    re.IGNORECASE,
)
_DISK_FULL_TEXT = re.compile(r"No space left on device|Errno 28|Disk quota exceeded", re.IGNORECASE)
_NETWORK_DOWN_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN}
_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def classify_resolve_error(exc: BaseException, has_token: bool) -> PipelineError:
    """A failure to resolve the VOD's playlist (yt-dlp extraction)."""
    text = str(exc)
    if _NETWORK_DOWN_TEXT.search(text):
        return SystemicError(f"network down: {_short(text)}")
    if _TOKEN_REFUSED_TEXT.search(text) and has_token:  # a refused token fails every VOD alike
        return SystemicError(f"auth refused (check TWITCH_OAUTH_TOKEN): {_short(text)}")
    if _FATAL_TEXT.search(text):
        return FatalError(_short(text))
    if _DISK_FULL_TEXT.search(text):
        return SystemicError(f"disk full: {_short(text)}", certain=True)
    if _FORBIDDEN_TEXT.search(text) and not has_token:
        return FatalError(f"forbidden (sub-only? set TWITCH_OAUTH_TOKEN): {_short(text)}")
    return TransientError(_short(text))  # a 403 with a token too: this VOD's, counted like any other


def classify_playlist_error(exc: HttpStatusError | OSError, has_token: bool) -> PipelineError:
    """A failure to fetch the chosen media playlist from the CDN."""
    if isinstance(exc, HttpStatusError):
        if exc.object_gone:
            return FatalError(
                f"Twitch no longer has this VOD's files (HTTP {exc.status} on its playlist"
                + (", S3 AccessDenied" if exc.status == 403 else "")
                + ")"
            )
        return classify_resolve_error(Exception(f"HTTP Error {exc.status}: {exc}"), has_token)
    return classify_fetch_error(exc)


def classify_fetch_error(exc: BaseException) -> PipelineError:
    """A failure while fetching or writing the VOD's fragments (after per-fragment retries)."""
    if isinstance(exc, PipelineError):
        return exc
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
        return SystemicError(f"disk full: {exc}", certain=True)
    if isinstance(exc, socket.gaierror) or (isinstance(exc, OSError) and exc.errno in _NETWORK_DOWN_ERRNOS):
        return SystemicError(f"network down: {exc}")
    if isinstance(exc, YtDlpError):
        text = str(exc)
        if _DISK_FULL_TEXT.search(text):
            return SystemicError(f"disk full: {_short(text)}", certain=True)
        if _NETWORK_DOWN_TEXT.search(text):
            return SystemicError(f"network down: {_short(text)}")
        return TransientError(_short(text))
    if isinstance(exc, HttpStatusError):
        return TransientError(str(exc))
    return TransientError(f"{type(exc).__name__}: {exc}")


def _short(text: str) -> str:
    return text.removeprefix("ERROR: ").strip().splitlines()[0][:300] if text.strip() else "unknown error"
