"""The Twitch thumbnail of a VOD, set on its YouTube video with `thumbnails.set` once the bytes are in.

Helix gives `thumbnail_url` as a template (`%{width}x%{height}`); the largest size YouTube takes is
asked for (1280x720, at most 2 MB, JPEG or PNG).  The fetch is bounded (size, time, http(s) only).
A channel that may not set custom thumbnails gets 403 `forbidden` ("The authenticated user doesn't
have permissions to upload and set custom video thumbnails", YouTube Data API reference, Thumbnails:
set): that is said once and remembered in `kv` (`youtube_thumbnails_refused`), so no later video
tries again; delete the key once the channel is verified.  Any other problem is one warning: the
video stays uploaded.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from googleapiclient.errors import HttpError

from vodtender.clients.hls import BodyLimits, HttpClient
from vodtender.clients.youtube import YouTubeClient, error_reason
from vodtender.pipeline import vods
from vodtender.pipeline.kv import kv_get, kv_set
from vodtender.pipeline.upload.quota import Quota
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod

THUMBNAIL_SET_COST = 50
THUMBNAIL_MAX_BYTES = 2 * 2**20
THUMBNAIL_SIZE = ("1280", "720")
THUMBNAIL_FETCH_TIMEOUT = 15.0
THUMBNAILS_REFUSED_KEY = "youtube_thumbnails_refused"
_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))

log = get_logger("uploader")


class ThumbnailError(Exception):
    """The Twitch thumbnail cannot be used; the message says why."""


def thumbnail_url(template: str | None) -> str | None:
    """The largest size YouTube takes, from Helix's template; None without a usable http(s) URL."""
    if not template:
        return None
    url = template.replace("%{width}", THUMBNAIL_SIZE[0]).replace("%{height}", THUMBNAIL_SIZE[1])
    url = url.replace("{width}", THUMBNAIL_SIZE[0]).replace("{height}", THUMBNAIL_SIZE[1])
    return url if urlsplit(url).scheme in ("http", "https") else None


def image_type(data: bytes) -> str:
    for signature, mimetype in _SIGNATURES:
        if data.startswith(signature):
            return mimetype
    raise ThumbnailError("not a JPEG or PNG image")


def fetch_thumbnail(url: str) -> tuple[bytes, str]:
    """The image and its type, at most THUMBNAIL_MAX_BYTES, within THUMBNAIL_FETCH_TIMEOUT."""
    client = HttpClient(timeout=THUMBNAIL_FETCH_TIMEOUT, deadline=THUMBNAIL_FETCH_TIMEOUT)
    data = client.get(url, limits=BodyLimits(max_bytes=THUMBNAIL_MAX_BYTES))
    return data, image_type(data)


def set_thumbnail(client: YouTubeClient, quota: Quota, vod: Vod, video_id: str) -> None:
    """Set the VOD's Twitch thumbnail on its video, if the channel may; never raises."""
    url = thumbnail_url(vod.thumbnail_url)
    if url is None or not video_id or kv_get(THUMBNAILS_REFUSED_KEY):
        return
    try:
        image, mimetype = fetch_thumbnail(url)
        client.set_thumbnail(video_id, image, mimetype)
    except HttpError as exc:
        quota.spend(THUMBNAIL_SET_COST)  # a refused call costs its units too
        if exc.resp.status == 403 and error_reason(exc) == "forbidden":
            kv_set(THUMBNAILS_REFUSED_KEY, video_id)
            log.warning(
                "YouTube refuses custom thumbnails for this channel (403 forbidden): not trying again; verify "
                f"the channel, then DELETE FROM kv WHERE key='{THUMBNAILS_REFUSED_KEY}'",
                vod_id=vod.twitch_vod_id,
            )
            return
        _warn(vod, f"HTTP {exc.resp.status} {error_reason(exc)}")
    except Exception as exc:  # the video is uploaded; a thumbnail problem must not undo that
        _warn(vod, f"{type(exc).__name__}: {exc}")
    else:
        quota.spend(THUMBNAIL_SET_COST)
        log.info("thumbnail set", vod_id=vod.twitch_vod_id, video_id=video_id, size=len(image))


def _warn(vod: Vod, error: str) -> None:
    log.warning("could not set the thumbnail; the video stays uploaded", vod_id=vod.twitch_vod_id, error=error)
    vods.record_event(vod.id, vods.UPLOAD_STAGE, "warning", f"thumbnail: {error}")
