"""A thin YouTube Data API client: `videos.insert` as a resumable upload, `videos.list` (processing),
`playlistItems.insert`, `thumbnails.set`.

Built on google-api-python-client, with its traps avoided (see docs/uploader.md):
- the upload URL ignores `client_options.api_endpoint`, so the packaged discovery document is
  loaded with `rootUrl`/`mtlsRootUrl` replaced and given to `build_from_document`;
- httplib2 follows 308 as a redirect unless it is dropped from `redirect_codes`;
- `next_chunk(num_retries>0)` re-sends a consumed stream and stalls: retries are the caller's;
- `HttpRequest.from_json` does not restore the session URI: `resume()` sets it by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable
from typing import Any

import googleapiclient
import httplib2
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError, ResumableUploadError
from googleapiclient.http import HttpRequest, MediaFileUpload, MediaInMemoryUpload

DISCOVERY_DOCUMENT = os.path.join(
    os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents", "youtube.v3.json"
)
CHUNK_GRANULARITY = 256 * 1024  # resumable chunks must be multiples of 256 KiB
SEND_BLOCK = 1024 * 1024
LIST_MAX_IDS = 50  # videos.list takes up to 50 ids per call, for 1 unit


class BearerHttp(httplib2.Http):
    """httplib2 with the current access token on every request, and 308 left to the upload protocol."""

    def __init__(self, access_token: Callable[[], str], timeout: float):
        super().__init__(timeout=timeout)
        self.redirect_codes = self.redirect_codes - {308}
        self._access_token = access_token

    def _conn_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        conn.blocksize = SEND_BLOCK  # http.client sends a chunk stream 8 KiB per call otherwise
        return super()._conn_request(conn, *args, **kwargs)  # type: ignore[misc]  # private hook, not in the stubs

    def request(
        self, uri: str, method: str = "GET", body: Any = None, headers: dict | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        headers = dict(headers or {})
        headers["authorization"] = f"Bearer {self._access_token()}"
        return super().request(uri, method, body, headers, *args, **kwargs)


def error_reason(exc: HttpError) -> str:
    """The first `reason` of a Google API error (e.g. quotaExceeded), '' if none."""
    try:
        details = exc.error_details
        if isinstance(details, list) and details and isinstance(details[0], dict):
            return str(details[0].get("reason") or "")
        body = json.loads(exc.content or b"{}")
        return str(body["error"]["errors"][0].get("reason") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""


def chunk_size(requested: int) -> int:
    return max(CHUNK_GRANULARITY, requested - requested % CHUNK_GRANULARITY)


class YouTubeClient:
    def __init__(self, api_url: str, access_token: Callable[[], str], timeout: float = 60.0):
        with open(DISCOVERY_DOCUMENT) as f:
            document = json.load(f)
        root = api_url if api_url.endswith("/") else api_url + "/"
        document["rootUrl"] = document["mtlsRootUrl"] = root
        self._http = BearerHttp(access_token, timeout)
        self._service = build_from_document(document, http=self._http)

    def insert_request(self, path: str, body: dict[str, Any], chunk_bytes: int) -> HttpRequest:
        """A `videos.insert` resumable upload; call `next_chunk()` on it until it returns the video."""
        media = MediaFileUpload(path, mimetype="video/*", chunksize=chunk_size(chunk_bytes), resumable=True)
        return self._service.videos().insert(
            part="snippet,status", body=body, media_body=media, notifySubscribers=False
        )

    @staticmethod
    def start_session(request: HttpRequest) -> str:
        """Open the resumable session (what `next_chunk()` does before its first chunk) and return its URI."""
        headers = {
            **request.headers,
            "X-Upload-Content-Type": request.resumable.mimetype(),
            "X-Upload-Content-Length": str(request.resumable.size()),
            "content-length": str(request.body_size),
        }
        resp, content = request.http.request(request.uri, method=request.method, body=request.body, headers=headers)
        if resp.status != 200 or "location" not in resp:
            raise ResumableUploadError(resp, content)
        request.resumable_uri = resp["location"]
        return request.resumable_uri

    @staticmethod
    def resume(request: HttpRequest, session_uri: str, offset: int) -> None:
        """Point a new request at an existing session; its next chunk asks the server for the offset."""
        request.resumable_uri = session_uri
        request.resumable_progress = offset
        request._in_error_state = True  # next_chunk() then sends `bytes */N` first

    @staticmethod
    def close(request: HttpRequest) -> None:
        stream = request.resumable.stream() if request.resumable is not None else None
        if stream is not None:
            stream.close()

    def abort(self) -> None:
        """Break off a request in flight (from another thread): a stopping daemon need not wait for a chunk."""
        for conn in list(self._http.connections.values()):
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def add_to_playlist(self, playlist_id: str, video_id: str) -> None:
        body = {"snippet": {"playlistId": playlist_id, "resourceId": {"kind": "youtube#video", "videoId": video_id}}}
        self._service.playlistItems().insert(part="snippet", body=body).execute(num_retries=0)

    def video_statuses(self, video_ids: list[str]) -> list[dict[str, Any]]:
        """`videos.list` of up to 50 ids with their `status` and `processingDetails` (1 unit);
        a video YouTube no longer has is missing from the answer."""
        assert len(video_ids) <= LIST_MAX_IDS
        answer = (
            self._service.videos().list(part="status,processingDetails", id=",".join(video_ids)).execute(num_retries=0)
        )
        return list(answer.get("items") or [])

    def set_thumbnail(self, video_id: str, image: bytes, mimetype: str) -> None:
        """`thumbnails.set`: the image (JPEG or PNG, at most 2 MB) sent in one media request."""
        media = MediaInMemoryUpload(image, mimetype=mimetype, resumable=False)
        self._service.thumbnails().set(videoId=video_id, media_body=media).execute(num_retries=0)
