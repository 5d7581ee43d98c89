"""A thin client for Twitch Helix: the app access token, one request at a time, rate-limit pacing.

The client never sleeps on its own: `ready_in()` says how long the caller must wait before
the next request keeps the rate-limit bucket from running dry, and every failure is
raised with the wait it asks for.  So the poller's loop stays short and stoppable, and it
decides what to do next (another channel's page, a streams poll) while one endpoint waits.

Twitch's bucket (`Ratelimit-Limit` points, refilled continuously, `Ratelimit-Reset` = the
unix second it is full again) is mirrored from the headers of every response.  After a 429 the
client sends nothing at all (no page, no streams poll, no token fetch or validation) until
`Ratelimit-Reset`, whoever asks; and it holds the shared bucket until then, so every process
sharing it (another host's poller) waits too.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from typing import Any, Protocol

import requests
from prometheus_client import Counter, Gauge

from vodtender.runtime.config import mask
from vodtender.runtime.logs import get_logger, register_secret

log = get_logger("helix")

REQUESTS = Counter(
    "vodtender_helix_requests_total",
    "Helix requests by endpoint and HTTP status (status 'error' for network failures)",
    ["endpoint", "status"],
)
RATELIMIT_REMAINING = Gauge("vodtender_helix_ratelimit_remaining", "points left in the Helix rate-limit bucket")
TOKEN_EXPIRY = Gauge("vodtender_helix_token_expiry_timestamp_seconds", "when the Helix app access token expires")
TOKEN_REQUESTS = Counter("vodtender_helix_token_requests_total", "app access token requests by result", ["result"])

REQUEST_TIMEOUT = (5.0, 20.0)  # connect, read
TOKEN_REFRESH_MARGIN = 0.1  # fetch a new token when 10% of its lifetime (at most an hour) is left
MAX_PAGE_SIZE = 100  # Helix's limit for `first` and for repeated `login`/`user_id` parameters
DEFAULT_RATE_WINDOW = 60.0  # Twitch refills the whole bucket per minute


class HelixError(Exception):
    """A Helix call failed; `retry_in` is the wait it asks for before trying again."""

    def __init__(self, message: str, retry_in: float = 0.0):
        super().__init__(message)
        self.retry_in = retry_in


class HelixUnavailable(HelixError):
    """Worth retrying later: network error, 5xx, 429, a response that is not Helix JSON."""


class HelixRateLimited(HelixUnavailable):
    """429: the bucket is empty; `retry_in` runs until `Ratelimit-Reset`."""


class HelixAuthError(HelixError):
    """The client id/secret are rejected, or a fresh token is refused: an operator must act."""


class HelixNotFound(HelixError):
    """4xx other than 401/429 for this request: retrying the same request will not help."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class AppToken:
    value: str
    expires_at: float  # unix time
    lifetime: float  # seconds, as issued

    def fresh(self, now: float) -> bool:
        return self.expires_at - now > min(3600.0, TOKEN_REFRESH_MARGIN * self.lifetime)


class RateLimitPacer:
    """Mirror of the server's token bucket from the last response's headers.

    The refill rate is taken from the headers too: (limit - remaining) points come back by
    `Ratelimit-Reset`, a whole second rounded up, so the estimate is a little low (we wait
    slightly more than needed, never less).  `reserve` points are left unused for a
    request in flight elsewhere on the same client id.
    """

    def __init__(self, reserve: int = 1, clock: Callable[[], float] = time.time):
        self.reserve = reserve
        self.clock = clock
        self.limit: int | None = None
        self.remaining = 0.0
        self.rate = 0.0  # points per second
        self.seen_at = 0.0
        self.blocked_until = 0.0

    def observe(self, headers: Any, status: int) -> None:
        try:
            limit = int(headers["Ratelimit-Limit"])
            remaining = int(headers["Ratelimit-Remaining"])
            reset = float(headers["Ratelimit-Reset"])
        except (KeyError, TypeError, ValueError):
            return  # not every response carries them (errors from a proxy); keep the last state
        now = self.clock()
        self.limit, self.remaining, self.seen_at = limit, float(remaining), now
        if remaining < limit and reset > now:
            self.rate = (limit - remaining) / (reset - now)
        elif not self.rate:
            self.rate = limit / DEFAULT_RATE_WINDOW
        if status == 429:
            self.blocked_until = reset
        RATELIMIT_REMAINING.set(remaining)

    def estimate(self, now: float) -> float:
        if self.limit is None:
            return math.inf
        return min(float(self.limit), self.remaining + self.rate * max(0.0, now - self.seen_at))

    def ready_in(self) -> float:
        """Seconds until one more request leaves `reserve` points in the bucket."""
        now = self.clock()
        if now < self.blocked_until:
            return self.blocked_until - now
        if self.limit is None:
            return 0.0
        needed = min(1.0 + self.reserve, float(self.limit))
        missing = needed - self.estimate(now)
        if missing <= 0:
            return 0.0
        return missing / self.rate if self.rate > 0 else DEFAULT_RATE_WINDOW

    def held_for(self) -> float:
        """Seconds left until the reset of the last 429 (0.0: not held)."""
        return max(0.0, self.blocked_until - self.clock())

    def spend(self) -> None:
        """Count a request we are about to send, before its response tells us the new state."""
        if self.limit is not None:
            now = self.clock()
            self.remaining, self.seen_at = self.estimate(now) - 1, now


class PointBucket(Protocol):
    """A rate-limit bucket shared with other hosts (vodtender.pipeline.shared_limits.SharedBucket)."""

    def try_take(self, cost: float = 1.0) -> float: ...
    def wait_for(self, cost: float = 1.0) -> float: ...
    def clamp(self, remaining: float) -> None: ...
    def hold_until(self, reset: float) -> None: ...


class HelixClient:
    """Helix with an app access token (client credentials); one HTTP request per call."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        api_url: str,
        auth_url: str,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        pacer: RateLimitPacer | None = None,
        shared: PointBucket | None = None,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_url = api_url.rstrip("/")
        self.auth_url = auth_url.rstrip("/")
        self.session = session or requests.Session()
        self.clock = clock
        self.pacer = pacer or RateLimitPacer(clock=clock)
        self.shared = shared  # the client id's bucket as every host sees it (several pollers)
        self.token: AppToken | None = None
        register_secret(client_secret)

    # -- the app access token --------------------------------------------------------------------
    def fetch_token(self) -> AppToken:
        """POST the client credentials; HelixAuthError if Twitch rejects them."""
        self._wait_out_429("token")
        try:
            resp = self.session.post(
                f"{self.auth_url}/token",
                timeout=REQUEST_TIMEOUT,
                data={
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "grant_type": "client_credentials",
                },
            )
        except requests.RequestException as exc:
            TOKEN_REQUESTS.labels("error").inc()
            raise HelixUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
        if resp.status_code in (400, 401, 403):
            TOKEN_REQUESTS.labels("rejected").inc()
            raise HelixAuthError(
                f"client id/secret rejected by the token endpoint: HTTP {resp.status_code} {_message(resp)}"
            )
        if resp.status_code != 200:
            TOKEN_REQUESTS.labels("error").inc()
            raise HelixUnavailable(f"token endpoint answered HTTP {resp.status_code}")
        body = _json(resp)
        value, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(value, str) or not value or not isinstance(expires_in, int | float):
            TOKEN_REQUESTS.labels("error").inc()
            raise HelixUnavailable("token endpoint answered without access_token/expires_in")
        register_secret(value)
        self.token = AppToken(value, self.clock() + float(expires_in), float(expires_in))
        TOKEN_REQUESTS.labels("ok").inc()
        TOKEN_EXPIRY.set(self.token.expires_at)
        log.info("helix app token obtained", token=mask(value), expires_in=int(expires_in))
        return self.token

    def token_needed(self) -> bool:
        return self.token is None or not self.token.fresh(self.clock())

    def validate_token(self) -> bool:
        """Twitch asks apps to validate their token hourly; False (and forgotten) if it is no longer valid."""
        if self.token is None:
            return False
        self._wait_out_429("validate")
        try:
            resp = self.session.get(
                f"{self.auth_url}/validate",
                timeout=REQUEST_TIMEOUT,
                headers={"Authorization": f"OAuth {self.token.value}"},
            )
        except requests.RequestException as exc:
            raise HelixUnavailable(f"validate endpoint unreachable: {type(exc).__name__}") from exc
        if resp.status_code == 401:
            log.info("helix app token no longer valid; a new one will be fetched")
            self.token = None
            return False
        if resp.status_code != 200:
            raise HelixUnavailable(f"validate endpoint answered HTTP {resp.status_code}")
        expires_in = _json(resp).get("expires_in")
        if isinstance(expires_in, int | float) and self.token is not None:
            self.token.expires_at = self.clock() + float(expires_in)
            TOKEN_EXPIRY.set(self.token.expires_at)
        return True

    # -- requests --------------------------------------------------------------------------------
    def ready_in(self) -> float:
        wait = self.pacer.ready_in()
        return max(wait, self.shared.wait_for()) if self.shared is not None else wait

    def get(self, endpoint: str, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """GET one Helix endpoint; on 401 fetch a new token once and repeat once."""
        self._wait_out_429(endpoint)
        if self.token_needed():
            self.fetch_token()
        resp = self._send(endpoint, params)
        if resp.status_code == 401:
            log.info("helix token refused, fetching a new one", endpoint=endpoint)
            self.token = None
            self.fetch_token()
            resp = self._send(endpoint, params)
            if resp.status_code == 401:
                raise HelixAuthError(f"a freshly issued token was refused by {endpoint}: {_message(resp)}")
        return self._check(endpoint, resp)

    def _wait_out_429(self, endpoint: str) -> None:
        """Refuse to send anything before the reset of a 429 this process saw (HelixRateLimited)."""
        held = self.pacer.held_for()
        if held > 0:
            raise HelixRateLimited(f"{endpoint}: waiting out a 429 until Ratelimit-Reset", retry_in=held)

    def _send(self, endpoint: str, params: Sequence[tuple[str, str]]) -> requests.Response:
        assert self.token is not None
        self._wait_out_429(endpoint)  # a 401's retry, right after a 429, included
        if self.shared is not None:
            wait = self.shared.try_take()
            if wait > 0:  # another host took the last points first
                raise HelixRateLimited(f"{endpoint}: shared Helix bucket empty", retry_in=wait)
        self.pacer.spend()
        try:
            resp = self.session.get(
                f"{self.api_url}/{endpoint}",
                params=list(params),
                timeout=REQUEST_TIMEOUT,
                headers={"Client-Id": self.client_id, "Authorization": f"Bearer {self.token.value}"},
            )
        except requests.RequestException as exc:
            REQUESTS.labels(endpoint, "error").inc()
            raise HelixUnavailable(f"{endpoint}: {type(exc).__name__}") from exc
        REQUESTS.labels(endpoint, str(resp.status_code)).inc()
        self.pacer.observe(resp.headers, resp.status_code)
        remaining = resp.headers.get("Ratelimit-Remaining")
        if self.shared is not None and remaining is not None and remaining.isdigit():
            self.shared.clamp(int(remaining))
        if self.shared is not None and self.pacer.held_for() > 0:
            self.shared.hold_until(self.pacer.blocked_until)
        return resp

    def _check(self, endpoint: str, resp: requests.Response) -> dict[str, Any]:
        status = resp.status_code
        if status == 429:
            raise HelixRateLimited(f"{endpoint}: rate limited (429)", retry_in=self.pacer.ready_in())
        if status >= 500:
            raise HelixUnavailable(f"{endpoint}: HTTP {status}")
        if status != 200:
            raise HelixNotFound(f"{endpoint}: HTTP {status} {_message(resp)}", status)
        body = _json(resp)
        if not isinstance(body.get("data"), list):
            raise HelixUnavailable(f"{endpoint}: response without a data list")
        return body

    # -- endpoints -------------------------------------------------------------------------------
    def users(self, logins: Iterable[str] = (), ids: Iterable[str] = ()) -> list[dict[str, Any]]:
        params = [("login", login) for login in logins] + [("id", i) for i in ids]
        if not params:
            return []
        return self.get("users", params[:MAX_PAGE_SIZE])["data"]

    def videos(
        self, user_id: str, video_type: str = "archive", first: int = MAX_PAGE_SIZE, after: str | None = None
    ) -> tuple[list[Any], str | None]:
        """One page of a user's videos, newest first, and the cursor of the next page (None at the end)."""
        params = [("user_id", user_id), ("type", video_type), ("first", str(min(first, MAX_PAGE_SIZE)))]
        if after:
            params.append(("after", after))
        body = self.get("videos", params)
        pagination = body.get("pagination")
        cursor = pagination.get("cursor") if isinstance(pagination, dict) else None
        return body["data"], (cursor if isinstance(cursor, str) and cursor else None)

    def videos_by_id(self, video_ids: Sequence[str]) -> list[Any]:
        """The videos of these ids (up to 100) that Twitch knows.  Helix leaves out an unknown id, and
        answers 404 when it knows none of them: both give the ones found, maybe none."""
        try:
            return self.get("videos", [("id", i) for i in video_ids[:MAX_PAGE_SIZE]])["data"]
        except HelixNotFound as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return []
            raise

    def streams(self, user_ids: Sequence[str]) -> list[Any]:
        """The live streams among these users (up to 100 per request)."""
        params = [("user_id", u) for u in user_ids[:MAX_PAGE_SIZE]] + [("type", "live"), ("first", str(MAX_PAGE_SIZE))]
        return self.get("streams", params)["data"]


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError as exc:
        raise HelixUnavailable(f"response is not JSON (HTTP {resp.status_code})") from exc
    if not isinstance(body, dict):
        raise HelixUnavailable(f"response is not a JSON object (HTTP {resp.status_code})")
    return body


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
        return str(body.get("message", ""))[:200] if isinstance(body, dict) else ""
    except ValueError:
        return ""
