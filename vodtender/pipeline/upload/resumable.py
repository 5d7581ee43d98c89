"""One VOD's resumable upload, driven to the end: chunk by chunk, checkpointed, retried.

The session URI is reported (and stored by the caller) the moment YouTube hands it out, and the
confirmed offset after every chunk.  A restarted upload sets the stored URI on a fresh request:
its first step asks YouTube how much it has (`Content-Range: bytes */N`) and continues from
there, so a crash costs at most the one chunk in flight.

Errors are classified here: 401 -> refresh the token and go on; 5xx, 429, timeouts, dropped
connections -> retry with backoff (the count starts again whenever a chunk gets through);
quota -> `QuotaExhausted`; a forgotten session (404/410) -> start a new one; other 4xx -> fatal.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httplib2
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from vodtender.clients.google_oauth import OAuthError
from vodtender.clients.youtube import YouTubeClient, error_reason
from vodtender.clients.youtube_terms import QUOTA_REASONS
from vodtender.pipeline.errors import FatalError, SystemicError, TransientError
from vodtender.pipeline.upload.tokens import AccessTokens
from vodtender.runtime.backoff import backoff_delay

NETWORK_ERRORS = (OSError, TimeoutError, httplib2.HttpLib2Error, http.client.HTTPException)
RETRY_REASONS = ("rateLimitExceeded", "userRateLimitExceeded", "backendError", "internalError")


class QuotaExhausted(Exception):
    def __init__(self, reason: str):
        super().__init__(f"YouTube quota exhausted: {reason}")
        self.reason = reason


class Stopped(Exception):
    """The daemon is stopping (or lost the lease): the session stays stored for the next run."""


class UploadEvents(Protocol):
    def session_started(self, session_uri: str) -> None: ...
    def confirmed(self, session_uri: str, offset: int) -> None: ...
    def retrying(self, attempt: int, error: str, delay: float) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_base: float

    def delay(self, attempt: int) -> float:
        return backoff_delay(self.backoff_base, attempt, cap=max(self.backoff_base, 600.0))


class ResumableUpload:
    def __init__(
        self,
        client: YouTubeClient,
        tokens: AccessTokens,
        path: str,
        body: dict[str, Any],
        chunk_bytes: int,
        events: UploadEvents,
        policy: RetryPolicy,
        stop: threading.Event,
        keep_going: Callable[[], bool] = lambda: True,
    ):
        self.client = client
        self.tokens = tokens
        self.path = path
        self.body = body
        self.chunk_bytes = chunk_bytes
        self.events = events
        self.policy = policy
        self.stop = stop
        self.keep_going = keep_going

    def run(self, session_uri: str | None = None, offset: int = 0) -> dict[str, Any]:
        """Upload to the end; returns YouTube's video resource.  Raises Stopped, QuotaExhausted,
        AuthPaused, FatalError, SystemicError, or TransientError once the retries are used up."""
        request = self._request(session_uri, offset)
        failures = 0
        try:
            while True:
                if self.stop.is_set() or not self.keep_going():
                    raise Stopped()
                before = request.resumable_progress
                try:
                    if request.resumable_uri is None:  # start the session on its own, so its URI is stored first
                        self.events.session_started(self.client.start_session(request))
                        continue
                    _, video = request.next_chunk(num_retries=0)
                except HttpError as exc:
                    request, at_once = self._after_http_error(request, exc)
                    failures = self._count_failure(
                        failures, self._describe(exc), request, wait=not (at_once and failures == 0)
                    )
                    continue
                except OAuthError as exc:  # the token endpoint itself is down: like any network error
                    failures = self._count_failure(failures, str(exc), request)
                    continue
                except NETWORK_ERRORS as exc:
                    failures = self._count_failure(failures, f"{type(exc).__name__}: {exc}", request)
                    continue
                if video is not None:
                    return video
                if request.resumable_progress > before:
                    failures = 0
                self.events.confirmed(request.resumable_uri, request.resumable_progress)
        finally:
            self.client.close(request)

    def _request(self, session_uri: str | None, offset: int) -> HttpRequest:
        request = self.client.insert_request(self.path, self.body, self.chunk_bytes)
        if session_uri:
            self.client.resume(request, session_uri, offset)
        return request

    @staticmethod
    def _describe(exc: HttpError) -> str:
        reason = error_reason(exc)
        return f"HTTP {exc.resp.status}" + (f" {reason}" if reason else "")

    def _after_http_error(self, request: HttpRequest, exc: HttpError) -> tuple[HttpRequest, bool]:
        """Handle what is not a plain retry: returns the request to go on with, and whether to go on
        at once (a refreshed token, a new session) rather than after a backoff; or raises."""
        status, reason = exc.resp.status, error_reason(exc)
        if reason in QUOTA_REASONS:
            raise QuotaExhausted(reason)
        if status == 401:
            self.tokens.refresh(rejected=self.tokens.last_issued)  # AuthPaused if revoked
            return request, True
        if status in (404, 410) and request.resumable_uri:
            # YouTube forgot the session (they live about a week): only a new one can go on.
            self.client.close(request)
            new = self._request(None, 0)
            self.events.confirmed("", 0)
            return new, True
        if status >= 500 or status == 429 or reason in RETRY_REASONS:
            return request, False
        if status == 403:
            raise SystemicError(f"YouTube refused the account: {self._describe(exc)}")
        raise FatalError(f"YouTube refused the upload: {self._describe(exc)}")

    def _count_failure(self, failures: int, error: str, request: HttpRequest, wait: bool = True) -> int:
        if self.stop.is_set():  # the error is our own abort()
            raise Stopped()
        failures += 1
        if request.resumable_uri:
            request._in_error_state = True  # the next step asks the server where it stands
        if failures >= self.policy.max_attempts:
            raise TransientError(f"upload failed {failures} times in a row, last: {error}")
        delay = self.policy.delay(failures) if wait else 0.0
        self.events.retrying(failures, error, delay)
        if self.stop.wait(delay):
            raise Stopped()
        return failures
