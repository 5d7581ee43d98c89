"""A loopback stand-in for YouTube's upload API and Google's OAuth endpoints, with scripted faults.

It speaks the real protocols, as google-api-python-client and a browser use them:
- `POST /upload/youtube/v3/videos?uploadType=resumable` with the JSON metadata -> 200 + `Location`
  (the session URI); metadata is checked against YouTube's rules (400 `invalidTitle`, ...).
- `PUT <session>` with `Content-Range: bytes a-b/N` -> 308 with `Range: bytes=0-x` until every byte
  arrived, then 200 with the video resource; `Content-Range: bytes */N` asks where the session stands.
  Received bytes are hashed in order (sha256); bytes sent again are counted, not hashed twice.
- `GET /youtube/v3/videos?part=status,processingDetails&id=a,b` (`videos.list`, up to 50 ids): each
  video as the Videos resource has it: `status.uploadStatus` uploaded -> processed | rejected |
  failed, with `status.rejectionReason` / `status.failureReason`, `status.privacyStatus`, and
  `processingDetails.processingStatus` processing -> succeeded | failed with
  `processingProgress` (partsTotal, partsProcessed, timeLeftMs); a video it does not have is
  left out of `items`.  How each video's processing goes is scripted (`script_processing`: after N
  checks, processed, rejected(reason) or failed(reason); default processed at the first check).
- An unaudited API project (`client_id` starting "unaudited"): every video is locked private once
  processed, whatever privacy was asked.
- `uploadLimitExceeded`: after `daily_upload_limit` videos, `videos.insert` answers 400 with reason
  uploadLimitExceeded, domain youtube.video (the channel's uploads per day, not quota units).
- `POST /youtube/v3/playlistItems` (recorded).
- `POST /upload/youtube/v3/thumbnails/set?videoId=…` (YouTube Data API reference, "Thumbnails: set"):
  a media upload of the image itself (image/jpeg, image/png or application/octet-stream, at most
  2 MB), answered with a `youtube#thumbnailSetResponse`; errors as that page lists them: 400
  `mediaBodyRequired` (no image), 400 `invalidImage` (not an image), 413 `mediaBodyTooLarge`
  (over 2 MB), 404 `videoNotFound`, and 403 `forbidden` when the channel may not set custom
  thumbnails (`refuse_thumbnails = True`, or `POST /_control/refuse_thumbnails`).
  Every call is counted (`thumbnail_calls`); the images set are in `thumbnails` by video id.
- `status.publishAt` on `videos.insert` (the "Videos" resource reference: "can be set only if the
  privacy status of the video is private", an ISO 8601 time; "Videos: insert" errors): 400
  `invalidPublishAt` for a time that is not one, is not in the future, or on a video that is not
  private.
- `POST /token`: `refresh_token` and `authorization_code` (PKCE) grants; `invalid_grant` once revoked.
- `GET /o/oauth2/auth`: consents at once and redirects to the loopback `redirect_uri` with a code.
- `PUT /raw`: a plain HTTP PUT, hashed the same way (the benchmark's peer).

Faults (`add_fault`): an error status (503, 401, 403 quotaExceeded, ...) on a step, optionally after
persisting a chunk up to an offset; a dropped connection at an offset; a hold at an offset that blocks
until `release()` (to kill a client mid-upload); a pause at an offset that blocks until `release()`,
then takes the rest of the chunk as if nothing happened (something else happens meanwhile).

Shapes from: YouTube Data API reference "Videos" (resource: status, processingDetails and their
enum values, as also in google-api-python-client's googleapiclient/discovery_cache/documents/
youtube.v3.json), "Videos: insert" (errors: uploadLimitExceeded 400), "Errors" (the error JSON:
error.code/message/errors[].reason/domain; quotaExceeded 403), YouTube API Services "Audit and
quota extension" (unverified projects' uploads restricted to private); YouTube's developer notice
on the per-channel upload limit (400 uploadLimitExceeded: try again in 24 hours).

In a test: `with YouTubeStandIn() as yt: yt.issue_tokens(); ...; yt.videos[0].sha256`.  Other processes:
`python -m tests.standins.youtube --port N` and the control API: `GET /_control/state`,
`POST /_control/fault` (a Fault as JSON), `POST /_control/tokens` (returns new tokens),
`POST /_control/revoke`, `POST /_control/release`, `POST /_control/expire`, `POST /_control/processing`
(a Processing as JSON), `POST /_control/refuse_thumbnails`.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
import socket
import struct
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from vodtender.runtime.httpserver import HttpServer, QuietHandler

UPLOAD_PATHS = ("/upload/youtube/v3/videos", "/resumable/upload/youtube/v3/videos")
THUMBNAIL_PATH = "/upload/youtube/v3/thumbnails/set"
THUMBNAIL_MAX_BYTES = 2 * 2**20
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
READ_BLOCK = 1 << 20
PRIVACY_VALUES = ("private", "unlisted", "public")
ERROR_DOMAINS = {"quotaExceeded": "youtube.quota", "uploadLimitExceeded": "youtube.video"}


@dataclasses.dataclass
class Fault:
    """A scripted failure.  `on`: post (session start), put (a chunk), status (a `bytes */N` query),
    token, playlist, list (videos.list).  `kind`: error (answer `status` with `reason`), drop (close the connection),
    hold (stop reading until release(), then drop), pause (stop reading until release(), then go on).
    `at_offset`: for put, the session offset where it strikes (a chunk is persisted up to there
    first); None: the next matching request.  `session`: for put, only in the Nth session started
    (1-based: the second part of a VOD cut into parts is the second session)."""

    on: str
    kind: str = "error"
    status: int = 503
    reason: str = "backendError"
    at_offset: int | None = None
    session: int | None = None
    times: int = 1


@dataclasses.dataclass
class Processing:
    """How YouTube's processing of one video goes: `checks` videos.list answers say processing,
    then it ends `outcome` (processed, rejected, failed) with `reason` (rejectionReason or failureReason)."""

    checks: int = 0
    outcome: str = "processed"
    reason: str | None = None


@dataclasses.dataclass
class Session:
    upload_id: str
    metadata: dict[str, Any]
    total: int
    received: int = 0
    bytes_in: int = 0  # every body byte read for this session, repeats included
    puts: int = 0
    status_queries: int = 0
    video: dict[str, Any] | None = None
    hasher: Any = dataclasses.field(default_factory=hashlib.sha256)


@dataclasses.dataclass
class Video:
    id: str
    metadata: dict[str, Any]
    size: int
    sha256: str
    session: Session
    processing: Processing = dataclasses.field(default_factory=Processing)
    checked: int = 0  # videos.list answers about it so far
    locked_private: bool = False

    def resource(self) -> dict[str, Any]:
        """The video as `videos.list` answers with part=status,processingDetails (and counts the check)."""
        asked = self.metadata.get("status", {}).get("privacyStatus", "public")
        ended = self.checked >= self.processing.checks
        self.checked += 1
        status: dict[str, Any] = {"uploadStatus": "uploaded", "privacyStatus": asked, "license": "youtube"}
        details: dict[str, Any] = {"processingStatus": "processing"}
        if not ended:
            total = max(1, self.processing.checks)
            details["processingProgress"] = {
                "partsTotal": str(total),
                "partsProcessed": str(self.checked - 1),
                "timeLeftMs": str(1000 * (total - self.checked + 1)),
            }
        elif self.processing.outcome == "processed":
            status.update(uploadStatus="processed", privacyStatus="private" if self.locked_private else asked)
            details["processingStatus"] = "succeeded"
        elif self.processing.outcome == "rejected":
            status.update(uploadStatus="rejected", rejectionReason=self.processing.reason)
            details["processingStatus"] = "succeeded"
        else:
            status.update(uploadStatus="failed", failureReason=self.processing.reason)
            details.update(processingStatus="failed", processingFailureReason="transcodeFailed")
        return {"kind": "youtube#video", "id": self.id, "status": status, "processingDetails": details}


def _error_body(status: int, reason: str, message: str = "") -> bytes:
    return json.dumps(
        {
            "error": {
                "code": status,
                "message": message or reason,
                "errors": [
                    {"reason": reason, "message": message or reason, "domain": ERROR_DOMAINS.get(reason, "global")}
                ],
            }
        }
    ).encode()


def check_metadata(metadata: dict[str, Any]) -> str | None:
    """YouTube's refusals of `videos.insert` metadata: the reason, or None when it would accept it."""
    snippet = metadata.get("snippet") if isinstance(metadata.get("snippet"), dict) else {}
    title, description = snippet.get("title"), snippet.get("description", "")
    if not isinstance(title, str) or not title.strip() or len(title) > 100 or re.search("[<>]", title):
        return "invalidTitle"
    if "\n" in title or "\r" in title:
        return "invalidTitle"
    if not isinstance(description, str) or len(description.encode()) > 5000 or re.search("[<>]", description):
        return "invalidDescription"
    tags = snippet.get("tags", [])
    if (
        not isinstance(tags, list)
        or sum(len(t) + (2 if " " in t else 0) for t in tags) + max(0, len(tags) - 1) > 500
        or any(re.search("[<>,]", t) for t in tags)
    ):
        return "invalidTags"
    if not str(snippet.get("categoryId", "20")).isdigit():
        return "invalidCategoryId"
    status = metadata.get("status") if isinstance(metadata.get("status"), dict) else {}
    if status.get("privacyStatus", "public") not in PRIVACY_VALUES:
        return "invalidVideoMetadata"
    if "publishAt" in status and not _valid_publish_at(status):
        return "invalidPublishAt"
    return None


def _valid_publish_at(status: dict[str, Any]) -> bool:
    """A scheduled publication: an ISO 8601 time in the future, on a private video."""
    try:
        at = dt.datetime.fromisoformat(str(status["publishAt"]).replace("Z", "+00:00"))
    except ValueError:
        return False
    return at.tzinfo is not None and at.timestamp() > time.time() and status.get("privacyStatus") == "private"


class YouTubeStandIn:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "test-client-id",
        client_secret: str = "test-client-secret",
        token_lifetime: float = 3600.0,
        daily_upload_limit: int | None = None,
    ):
        self.client_id = client_id
        self.unaudited = client_id.startswith("unaudited")  # uploads locked private once processed
        self.daily_upload_limit = daily_upload_limit
        self.scripts: list[Processing] = []  # for the next finished videos, in order; then the default
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.lock = threading.Lock()
        self.sessions: dict[str, Session] = {}
        self.videos: list[Video] = []
        self.playlist_items: list[dict[str, Any]] = []
        self.thumbnails: dict[str, tuple[str, bytes]] = {}  # video id -> (content type, image)
        self.thumbnail_calls = 0
        self.list_calls = 0  # videos.list answers given (each costs the caller 1 unit)
        self.refuse_thumbnails = False  # the channel may not set custom thumbnails: 403 forbidden
        self.access_tokens: dict[str, float] = {}  # token -> expiry (unix)
        self.refresh_tokens: set[str] = set()
        self.revoked: set[str] = set()
        self.codes: dict[str, dict[str, str]] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, step, status)
        self.raw_received: list[tuple[int, str]] = []  # /raw PUTs: (size, sha256)
        self.released = threading.Event()
        self.holding = threading.Event()  # set while a hold or pause fault blocks a client
        # Clients that vanish mid-request (killed, timed out) are part of the tests: no tracebacks.
        self._server = HttpServer((host, port), self._handler(), name="youtube-standin", quiet_errors=True)
        self.port = self._server.address[1]
        self.url = self._server.url + "/"
        self.token_url = self.url + "token"
        self.auth_url = self.url + "o/oauth2/auth"

    # -- life --------------------------------------------------------------------------------------
    def start(self) -> YouTubeStandIn:
        self._server.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self._server.stop()

    def __enter__(self) -> YouTubeStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control -----------------------------------------------------------------------------------
    def issue_tokens(self, lifetime: float | None = None) -> dict[str, Any]:
        """New valid tokens, as the token endpoint would return them after consent."""
        with self.lock:
            refresh = "1//rt-" + secrets.token_urlsafe(24)
            self.refresh_tokens.add(refresh)
            return {**self._new_access(lifetime), "refresh_token": refresh}

    def revoke(self) -> None:
        """Every refresh token is refused from now on (`invalid_grant`), access tokens stop working."""
        with self.lock:
            self.revoked |= self.refresh_tokens
            self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def add_fault(self, fault: Fault) -> None:
        if fault.kind in ("hold", "pause"):
            self.released.clear()
        with self.lock:
            self.faults.append(fault)

    def release(self) -> None:
        self.released.set()

    def script_processing(self, processing: Processing) -> None:
        """How the processing of the next video to finish uploading goes (each script is used once)."""
        with self.lock:
            self.scripts.append(processing)

    def count(self, method: str, step: str) -> int:
        with self.lock:
            return sum(1 for m, s, _ in self.requests if m == method and s == step)

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "sessions": [
                    {
                        "upload_id": s.upload_id,
                        "total": s.total,
                        "received": s.received,
                        "bytes_in": s.bytes_in,
                        "puts": s.puts,
                        "status_queries": s.status_queries,
                        "title": s.metadata.get("snippet", {}).get("title"),
                        "complete": s.video is not None,
                    }
                    for s in self.sessions.values()
                ],
                "videos": [
                    {"id": v.id, "size": v.size, "sha256": v.sha256, "metadata": v.metadata, "checked": v.checked}
                    for v in self.videos
                ],
                "playlist_items": self.playlist_items,
                "requests": [list(r) for r in self.requests],
                "holding": self.holding.is_set(),
            }

    # -- internals ---------------------------------------------------------------------------------
    def _new_access(self, lifetime: float | None = None) -> dict[str, Any]:
        life = self.token_lifetime if lifetime is None else lifetime
        token = "ya29.at-" + secrets.token_urlsafe(24)
        self.access_tokens[token] = time.time() + life
        return {
            "access_token": token,
            "expires_in": int(life),
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube",
        }

    def _take_fault(
        self, on: str, start: int | None = None, end: int | None = None, session: Session | None = None
    ) -> Fault | None:
        with self.lock:
            number = list(self.sessions).index(session.upload_id) + 1 if session is not None else None
            for fault in self.faults:
                if fault.on != on or fault.times <= 0:
                    continue
                if fault.session is not None and fault.session != number:
                    continue
                if on == "put" and fault.at_offset is not None and not (start <= fault.at_offset < end):
                    continue
                fault.times -= 1
                return fault
        return None

    def _authorized(self, header: str | None) -> bool:
        token = (header or "").removeprefix("Bearer ").strip()
        with self.lock:
            return self.access_tokens.get(token, 0) > time.time()

    def _handler(self) -> type[QuietHandler]:
        standin = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            # -- plumbing --
            def _reply(
                self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, step: str = ""
            ) -> None:
                with standin.lock:
                    standin.requests.append((self.command, step or urlparse(self.path).path, status))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, value: Any, step: str = "", headers: dict[str, str] | None = None) -> None:
                self._reply(status, json.dumps(value).encode(), headers, step)

            def _error(self, status: int, reason: str, step: str, message: str = "") -> None:
                self._reply(status, _error_body(status, reason, message), step=step)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _drop(self, step: str) -> None:
                with standin.lock:
                    standin.requests.append((self.command, step, 0))
                self.close_connection = True
                # SO_LINGER 0: close() sends a reset, as a dropped network path looks to the client
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()

            # -- routing --
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/o/oauth2/auth":
                    self._consent(parse_qs(url.query))
                elif url.path == "/_control/state":
                    self._json(200, standin.state(), "control")
                elif url.path == "/youtube/v3/videos":
                    self._list_videos(parse_qs(url.query))
                else:
                    self._error(404, "notFound", "unknown")

            def do_POST(self) -> None:
                url = urlparse(self.path)
                if url.path in UPLOAD_PATHS:
                    self._start_session(parse_qs(url.query))
                elif url.path == "/token":
                    self._token({k: v[0] for k, v in parse_qs(self._body().decode()).items()})
                elif url.path == "/youtube/v3/playlistItems":
                    self._playlist_item()
                elif url.path == THUMBNAIL_PATH:
                    self._set_thumbnail(parse_qs(url.query).get("videoId", [""])[0])
                elif url.path.startswith("/_control/"):
                    self._control(url.path.removeprefix("/_control/"))
                else:
                    self._body()
                    self._error(404, "notFound", "unknown")

            def do_PUT(self) -> None:
                url = urlparse(self.path)
                if url.path == "/raw":
                    self._raw_put()
                    return
                upload_id = parse_qs(url.query).get("upload_id", [""])[0]
                with standin.lock:
                    session = standin.sessions.get(upload_id)
                if session is None:
                    self._body()
                    self._error(404, "notFound", "put", "no such upload session")
                    return
                self._put(session)

            # -- OAuth --
            def _consent(self, query: dict[str, list[str]]) -> None:
                params = {k: v[0] for k, v in query.items()}
                redirect = params.get("redirect_uri", "")
                if params.get("client_id") != standin.client_id or not redirect.startswith("http://127.0.0.1:"):
                    self._json(400, {"error": "invalid_request"}, "consent")
                    return
                code = "4/code-" + secrets.token_urlsafe(16)
                with standin.lock:
                    standin.codes[code] = params
                target = (
                    redirect
                    + ("&" if "?" in redirect else "?")
                    + urlencode({"code": code, "state": params.get("state", ""), "scope": params.get("scope", "")})
                )
                self._reply(302, b"", {"Location": target}, "consent")

            def _token(self, form: dict[str, str]) -> None:
                if form.get("client_id") != standin.client_id or form.get("client_secret") != standin.client_secret:
                    self._json(401, {"error": "invalid_client", "error_description": "Unauthorized"}, "token")
                    return
                fault = standin._take_fault("token")
                if fault is not None:
                    self._json(fault.status, {"error": fault.reason}, "token")
                    return
                grant = form.get("grant_type")
                with standin.lock:
                    if grant == "refresh_token":
                        refresh = form.get("refresh_token", "")
                        if refresh not in standin.refresh_tokens or refresh in standin.revoked:
                            answer: tuple[int, dict] = (
                                400,
                                {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
                            )
                        else:
                            answer = (200, standin._new_access())
                    elif grant == "authorization_code":
                        answer = self._exchange(form)
                    else:
                        answer = (400, {"error": "unsupported_grant_type"})
                self._json(*answer, step="token")

            def _exchange(self, form: dict[str, str]) -> tuple[int, dict]:
                asked = standin.codes.pop(form.get("code", ""), None)
                if asked is None or asked.get("redirect_uri") != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant", "error_description": "Bad code or redirect_uri."}
                verifier = form.get("code_verifier", "").encode()
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
                if asked.get("code_challenge") and challenge != asked["code_challenge"]:
                    return 400, {"error": "invalid_grant", "error_description": "Bad code_verifier."}
                refresh = "1//rt-" + secrets.token_urlsafe(24)
                standin.refresh_tokens.add(refresh)
                return 200, {**standin._new_access(), "refresh_token": refresh}

            # -- uploads --
            def _refused(self, step: str) -> bool:
                """An API call without a valid token, or struck by a fault: answered here (True)."""
                if not standin._authorized(self.headers.get("Authorization")):
                    self._error(401, "authError", step, "Invalid Credentials")
                    return True
                fault = standin._take_fault(step)
                if fault is not None:
                    self._error(fault.status, fault.reason, step)
                    return True
                return False

            def _start_session(self, query: dict[str, list[str]]) -> None:
                body = self._body()
                if self._refused("post"):
                    return
                if standin.daily_upload_limit is not None and len(standin.videos) >= standin.daily_upload_limit:
                    message = "The user has exceeded the number of videos they may upload."
                    self._error(400, "uploadLimitExceeded", "post", message)
                    return
                if query.get("uploadType") != ["resumable"]:
                    self._error(400, "badRequest", "post", "only resumable uploads here")
                    return
                try:
                    metadata = json.loads(body or b"{}")
                except ValueError:
                    self._error(400, "parseError", "post")
                    return
                problem = check_metadata(metadata if isinstance(metadata, dict) else {})
                if problem:
                    self._error(400, problem, "post")
                    return
                session = Session(
                    secrets.token_urlsafe(12), metadata, int(self.headers.get("X-Upload-Content-Length") or -1)
                )
                with standin.lock:
                    standin.sessions[session.upload_id] = session
                location = f"{standin.url}upload/youtube/v3/videos?uploadType=resumable&upload_id={session.upload_id}"
                self._reply(200, b"", {"Location": location}, "post")

            def _progress(self, session: Session, step: str) -> None:
                if session.video is not None:
                    self._json(200, session.video, step)
                    return
                headers = {"Range": f"bytes=0-{session.received - 1}"} if session.received else {}
                self._reply(308, b"", headers, step)

            def _put(self, session: Session) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                match = re.fullmatch(
                    r"bytes (\d+)-(\d+)/(\d+|\*)|bytes \*/(\d+|\*)", self.headers.get("Content-Range", "").strip()
                )
                authorized = standin._authorized(self.headers.get("Authorization"))
                if match is None or match.group(4) is not None:  # a status query (or no range: one)
                    self._body()
                    session.status_queries += 1
                    fault = standin._take_fault("status")
                    if fault is not None:
                        self._error(fault.status, fault.reason, "status")
                    elif not authorized:
                        self._error(401, "authError", "status", "Invalid Credentials")
                    else:
                        self._progress(session, "status")
                    return
                start, end = int(match.group(1)), int(match.group(2)) + 1
                if session.total < 0 and match.group(3) != "*":
                    session.total = int(match.group(3))
                session.puts += 1
                fault = standin._take_fault("put", start, end, session)
                if not authorized or (fault is not None and fault.status == 401 and fault.kind == "error"):
                    if fault is not None:  # the token really is dead: only a refreshed one gets through
                        standin.expire_access_tokens()
                    self._consume(session, start, length, persist_until=start)
                    self._error(401, "authError", "put", "Invalid Credentials")
                    return
                strike = fault.at_offset if fault is not None and fault.at_offset is not None else start
                if fault is not None and fault.kind in ("drop", "hold"):
                    self._consume(session, start, strike - start, persist_until=strike)
                    if fault.kind == "hold":
                        standin.holding.set()
                        standin.released.wait()
                        standin.holding.clear()
                    self._drop("put")
                    return
                if fault is not None and fault.kind == "pause":  # a slow server: it goes on after release()
                    self._consume(session, start, strike - start, persist_until=strike)
                    standin.holding.set()
                    standin.released.wait()
                    standin.holding.clear()
                    self._consume(session, strike, length - (strike - start), persist_until=end)
                else:
                    self._consume(session, start, length, persist_until=strike if fault is not None else end)
                    if fault is not None:
                        self._error(fault.status, fault.reason, "put")
                        return
                if session.received == session.total and session.video is None:
                    self._finish(session)
                self._progress(session, "put")

            def _consume(self, session: Session, start: int, length: int, persist_until: int) -> None:
                """Read `length` body bytes starting at `start`; bytes before `persist_until` that
                extend the session are kept (hashed); repeats and the rest are only counted."""
                pos, left = start, length
                while left > 0:
                    block = self.rfile.read(min(READ_BLOCK, left))
                    if not block:
                        break
                    session.bytes_in += len(block)
                    keep_from = session.received - pos
                    keep_to = min(len(block), persist_until - pos)
                    if 0 <= keep_from < keep_to:
                        session.hasher.update(memoryview(block)[keep_from:keep_to])
                        session.received += keep_to - keep_from
                    pos += len(block)
                    left -= len(block)

            def _finish(self, session: Session) -> None:
                video_id = secrets.token_urlsafe(8)[:11]
                snippet = dict(session.metadata.get("snippet", {}))
                session.video = {
                    "kind": "youtube#video",
                    "id": video_id,
                    "snippet": snippet,
                    "status": {"uploadStatus": "uploaded", **session.metadata.get("status", {})},
                }
                with standin.lock:
                    script = standin.scripts.pop(0) if standin.scripts else Processing()
                    standin.videos.append(
                        Video(
                            video_id,
                            session.metadata,
                            session.total,
                            session.hasher.hexdigest(),
                            session,
                            script,
                            locked_private=standin.unaudited,
                        )
                    )

            def _list_videos(self, query: dict[str, list[str]]) -> None:
                if self._refused("list"):
                    return
                ids = [i for i in ",".join(query.get("id", [])).split(",") if i]
                if not ids or len(ids) > 50 or "status" not in ",".join(query.get("part", [])):
                    self._error(400, "badRequest" if ids else "missingRequiredParameter", "list")
                    return
                with standin.lock:
                    standin.list_calls += 1
                    items = [v.resource() for v in standin.videos if v.id in ids]
                page = {"totalResults": len(items), "resultsPerPage": len(items)}
                self._json(200, {"kind": "youtube#videoListResponse", "items": items, "pageInfo": page}, "list")

            def _playlist_item(self) -> None:
                body = self._body()
                if self._refused("playlist"):
                    return
                item = json.loads(body or b"{}")
                with standin.lock:
                    standin.playlist_items.append(item)
                self._json(200, {"kind": "youtube#playlistItem", "id": secrets.token_urlsafe(8), **item}, "playlist")

            def _set_thumbnail(self, video_id: str) -> None:
                image = self._body()
                with standin.lock:
                    standin.thumbnail_calls += 1
                    known = any(v.id == video_id for v in standin.videos)
                if not standin._authorized(self.headers.get("Authorization")):
                    self._error(401, "authError", "thumbnail", "Invalid Credentials")
                elif standin.refuse_thumbnails:
                    message = (
                        "The authenticated user doesn't have permissions to upload and set custom video thumbnails."
                    )
                    self._error(403, "forbidden", "thumbnail", message)
                elif not known:
                    self._error(404, "videoNotFound", "thumbnail")
                elif not image:
                    self._error(400, "mediaBodyRequired", "thumbnail")
                elif len(image) > THUMBNAIL_MAX_BYTES:
                    self._error(413, "mediaBodyTooLarge", "thumbnail")
                elif not image.startswith(IMAGE_SIGNATURES):
                    self._error(400, "invalidImage", "thumbnail")
                else:
                    with standin.lock:
                        standin.thumbnails[video_id] = (self.headers.get("Content-Type", ""), image)
                    answer = {"kind": "youtube#thumbnailSetResponse", "etag": secrets.token_hex(8), "items": []}
                    self._json(200, answer, "thumbnail")

            def _raw_put(self) -> None:
                hasher, left = hashlib.sha256(), int(self.headers.get("Content-Length") or 0)
                size = left
                while left > 0:
                    block = self.rfile.read(min(READ_BLOCK, left))
                    if not block:
                        break
                    hasher.update(block)
                    left -= len(block)
                with standin.lock:
                    standin.raw_received.append((size - left, hasher.hexdigest()))
                self._json(200, {"size": size - left, "sha256": hasher.hexdigest()}, "raw")

            def _control(self, action: str) -> None:
                body = self._body()
                if action == "fault":
                    standin.add_fault(Fault(**json.loads(body or b"{}")))
                    self._json(200, {"ok": True}, "control")
                elif action == "processing":
                    standin.script_processing(Processing(**json.loads(body or b"{}")))
                    self._json(200, {"ok": True}, "control")
                elif action == "tokens":
                    self._json(200, standin.issue_tokens(), "control")
                elif action == "refuse_thumbnails":
                    standin.refuse_thumbnails = True
                    self._json(200, {"ok": True}, "control")
                elif action in ("revoke", "release", "expire"):
                    {"revoke": standin.revoke, "release": standin.release, "expire": standin.expire_access_tokens}[
                        action
                    ]()
                    self._json(200, {"ok": True}, "control")
                else:
                    self._error(404, "notFound", "control")

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="YouTube upload + Google OAuth stand-in on loopback")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token-lifetime", type=float, default=3600.0)
    args = parser.parse_args()
    standin = YouTubeStandIn(port=args.port, token_lifetime=args.token_lifetime).start()
    print(
        f"YOUTUBE_API_URL={standin.url} YOUTUBE_TOKEN_URL={standin.token_url} YOUTUBE_AUTH_URL={standin.auth_url}"
        f" YT_CLIENT_ID={standin.client_id} YT_CLIENT_SECRET={standin.client_secret}",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
