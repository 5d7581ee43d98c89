"""A Twitch Helix stand-in: a real HTTP server on loopback, speaking Helix as the daemons see it.

    standin = HelixStandin(limit=800, window=60).start()   # or: python -m tests.standins.helix
    env: TWITCH_HELIX_URL=standin.helix_url  TWITCH_AUTH_URL=standin.auth_url
         TWITCH_CLIENT_ID=standin.client_id  TWITCH_CLIENT_SECRET=standin.client_secret

Implements:
- `POST /oauth2/token` (client credentials; 400/403 for a wrong id/secret), `GET /oauth2/validate`;
- `GET /helix/users` (`login`, `id`), `GET /helix/videos` (`user_id`, `type`, `first`, opaque
  `after` cursor; newest first; or up to 100 `id`s: the reference's Get Videos, whose 404 means that
  none of the ids was found, an unknown one among known ones being left out),
  `GET /helix/streams` (`user_id`/`user_login`, `type=live`);
- `Ratelimit-Limit/-Remaining/-Reset` from a real token bucket (`limit` points, refilled over
  `window` seconds); a request finding the bucket empty gets 429 and counts as a *violation*;
- 401 for an unknown or expired token (`expire_tokens()`), scripted failures (`fail_next`),
  a forced 429 (`force_429`: drains the bucket, as another consumer would), per-endpoint delays.

Scripting, from Python (methods below) or over HTTP for another process or an end-to-end
harness: `POST /control/<method>` with the keyword arguments as a JSON object, e.g.
`POST /control/go_live {"login": "a", "stream_id": "42", "started_at": 1764300000}`;
every action also takes `"at": <unix time>` to happen later ("go live at t").
`GET /control/state` returns counters and the request log (`?since=N` skips the first N; a Helix
entry names the token it came with: which client sent it).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import itertools
import json
import math
import secrets
import signal
import socket
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from vodtender.runtime.httpserver import HttpServer, QuietHandler

ECHO_FORM = "(echo the posted form)"  # a scripted token failure's body: the request's own form

CONTROL_ACTIONS = (
    "add_user",
    "add_videos",
    "add_video",
    "add_raw_video",
    "remove_video",
    "go_live",
    "go_offline",
    "publish_vod",
    "rename",
    "expire_tokens",
    "reject_tokens",
    "set_client_secret",
    "fail_next",
    "force_429",
    "set_delay",
    "reset_log",
)


def _order(entry: tuple[str, str, Any]) -> tuple[str, str]:
    return entry[0], entry[1].zfill(20)


def _first_older(entries: list[tuple[str, str, Any]], key: tuple[str, str]) -> int:
    """Index of the first entry older than `key` in a newest-first list (binary search)."""
    lo, hi = 0, len(entries)
    while lo < hi:
        mid = (lo + hi) // 2
        if _order(entries[mid]) < key:
            hi = mid
        else:
            lo = mid + 1
    return lo


def rfc3339(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def twitch_duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + f"{secs}s"


class TokenBucket:
    """Twitch's limiter: `limit` points, refilled continuously at limit/window per second."""

    def __init__(self, limit: int, window: float, initial: float | None = None):
        self.limit = limit
        self.rate = limit / window
        self.tokens = float(limit if initial is None else initial)
        self.updated = time.time()

    def refill(self, now: float) -> None:
        self.tokens = min(float(self.limit), self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def headers(self, now: float) -> dict[str, str]:
        full_at = now + (self.limit - self.tokens) / self.rate
        return {
            "Ratelimit-Limit": str(self.limit),
            "Ratelimit-Remaining": str(max(0, math.floor(self.tokens))),
            "Ratelimit-Reset": str(math.ceil(full_at)),
        }


class HelixStandin:
    def __init__(
        self,
        client_id: str = "standin-client-id",
        client_secret: str = "standin-client-secret-1234",
        limit: int = 800,
        window: float = 60.0,
        token_ttl: int = 5_000_000,
        initial_tokens: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.bucket = TokenBucket(limit, window, initial_tokens)
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}  # id -> user
        self.videos: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}  # user id -> (sort key, id, item)
        self.streams: dict[str, dict[str, Any]] = {}  # user id -> live stream
        self.tokens: dict[str, float] = {}  # access token -> expiry (unix)
        self.tokens_rejected = False
        self.failures: list[dict[str, Any]] = []  # scripted: endpoint, status, times
        self.forced_429 = 0
        self.delays: dict[str, float] = {}
        self.log: list[dict[str, Any]] = []
        self.violations = 0
        self.token_requests = 0
        self.validate_requests = 0
        self._next_id = 1000
        self._timers: list[threading.Timer] = []
        self.server = HttpServer((host, port), self._handler(), name="helix-standin")
        self.url = self.server.url
        self.helix_url = self.url + "/helix"
        self.auth_url = self.url + "/oauth2"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> HelixStandin:
        self.server.start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self.server.stop()

    def __enter__(self) -> HelixStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """The settings that point a vodtender daemon at this stand-in."""
        return {
            "TWITCH_HELIX_URL": self.helix_url,
            "TWITCH_AUTH_URL": self.auth_url,
            "TWITCH_CLIENT_ID": self.client_id,
            "TWITCH_CLIENT_SECRET": self.client_secret,
        }

    def at(self, when: float, action: str, **kwargs: Any) -> None:
        """Run a control action at unix time `when`."""
        fn = getattr(self, action)
        timer = threading.Timer(max(0.0, when - time.time()), fn, kwargs=kwargs)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _new_id(self) -> str:
        with self.lock:
            self._next_id += 1
            return str(self._next_id)

    # -- scripting: data -------------------------------------------------------------------------
    def add_user(self, login: str, user_id: str | None = None, broadcaster_type: str = "") -> str:
        user_id = user_id or self._new_id()
        with self.lock:
            self.users[user_id] = {
                "id": user_id,
                "login": login.lower(),
                "display_name": login,
                "type": "",
                "broadcaster_type": broadcaster_type,  # partner, affiliate or ""
                "description": "",
                "created_at": "2015-01-01T00:00:00Z",
            }
            self.videos.setdefault(user_id, [])
        return user_id

    def user_id(self, login: str) -> str:
        with self.lock:
            return next(uid for uid, u in self.users.items() if u["login"] == login.lower())

    def rename(self, login: str, new_login: str) -> None:
        with self.lock:
            self.users[self.user_id(login)]["login"] = new_login.lower()

    def video_item(self, user_id: str, video_id: str, created_at: float, **fields: Any) -> dict[str, Any]:
        user = self.users[user_id]
        item = {
            "id": video_id,
            "stream_id": fields.pop("stream_id", None),
            "user_id": user_id,
            "user_login": user["login"],
            "user_name": user["display_name"],
            "title": f"stream {video_id}",
            "description": "",
            "created_at": rfc3339(created_at),
            "published_at": rfc3339(created_at),
            "url": f"https://www.twitch.tv/videos/{video_id}",
            "thumbnail_url": "",
            "viewable": "public",
            "view_count": 1,
            "language": "en",
            "type": "archive",
            "duration": "1h0m0s",
            "muted_segments": None,
        }
        item.update(fields)
        return item

    def add_video(self, login: str, created_at: float, video_id: str | None = None, **fields: Any) -> dict[str, Any]:
        """One video with realistic fields (override any of them with keyword arguments)."""
        with self.lock:
            user_id = self.user_id(login)
            item = self.video_item(user_id, video_id or self._new_id(), created_at, **fields)
            self._insert(user_id, rfc3339(created_at), item["id"], item)
        return item

    def add_raw_video(self, login: str, item: Any, sort_at: float) -> None:
        """Any JSON value as a videos item (odd-JSON tests), placed as if created at `sort_at`."""
        with self.lock:
            user_id = self.user_id(login)
            self._insert(user_id, rfc3339(sort_at), str(item.get("id") if isinstance(item, dict) else ""), item)

    def add_videos(
        self,
        login: str,
        count: int,
        newest: float | None = None,
        spacing: float = 86400.0 / 3,
        video_type: str = "archive",
    ) -> list[str]:
        """`count` videos, one every `spacing` seconds back from `newest` (default: now - 1 day)."""
        newest = newest if newest is not None else time.time() - 86400
        with self.lock:
            user_id = self.user_id(login)
            ids = []
            for n in range(count):
                created = newest - n * spacing
                item = self.video_item(
                    user_id,
                    self._new_id(),
                    created,
                    type=video_type,
                    stream_id=self._new_id(),
                    duration=twitch_duration(3600 + n % 7200),
                )
                self.videos[user_id].append((rfc3339(created), item["id"], item))
                ids.append(item["id"])
            self.videos[user_id].sort(key=_order, reverse=True)
        return ids

    def _insert(self, user_id: str, sort_key: str, video_id: str, item: Any) -> None:
        self.videos[user_id].append((sort_key, video_id, item))
        self.videos[user_id].sort(key=_order, reverse=True)

    def remove_video(self, video_id: str) -> None:
        with self.lock:
            for user_id, entries in self.videos.items():
                self.videos[user_id] = [e for e in entries if e[1] != video_id]

    def go_live(
        self, login: str, stream_id: str | None = None, started_at: float | None = None, title: str = "live now"
    ) -> dict[str, Any]:
        with self.lock:
            user_id = self.user_id(login)
            user = self.users[user_id]
            stream = {
                "id": stream_id or self._new_id(),
                "user_id": user_id,
                "user_login": user["login"],
                "user_name": user["display_name"],
                "game_id": "1",
                "game_name": "Just Chatting",
                "type": "live",
                "title": title,
                "viewer_count": 10,
                "started_at": rfc3339(started_at if started_at is not None else time.time()),
                "language": "en",
                "thumbnail_url": "",
                "tag_ids": [],
                "tags": [],
                "is_mature": False,
            }
            self.streams[user_id] = stream
        return stream

    def go_offline(self, login: str) -> None:
        with self.lock:
            self.streams.pop(self.user_id(login), None)

    def publish_vod(
        self,
        login: str,
        stream_id: str | None,
        created_at: float,
        duration: str = "2h0m0s",
        video_id: str | None = None,
        title: str = "the stream",
    ) -> dict[str, Any]:
        """The archive VOD of a stream, as Twitch lists it once the stream has ended."""
        return self.add_video(login, created_at, video_id=video_id, stream_id=stream_id, duration=duration, title=title)

    # -- scripting: faults -----------------------------------------------------------------------
    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = {token: 0.0 for token in self.tokens}

    def reject_tokens(self, rejected: bool = True) -> None:
        """Refuse every token, even fresh ones (a broken app registration)."""
        with self.lock:
            self.tokens_rejected = rejected

    def set_client_secret(self, secret: str) -> None:
        with self.lock:
            self.client_secret = secret

    def fail_next(self, endpoint: str, status: int = 503, times: int = 1, body: str | None = None) -> None:
        """The next `times` requests to `endpoint` (users/videos/streams/token) answer `status` (and `body`)."""
        with self.lock:
            self.failures.append({"endpoint": endpoint, "status": status, "times": times, "body": body})

    def echo_form_next(self, times: int = 1) -> None:
        """The next `times` token requests answer 400 with the posted form in the message, secret and all
        (as a careless server, or a proxy's error page, echoes what it was sent)."""
        self.fail_next("token", 400, times, body=ECHO_FORM)

    def force_429(self, times: int = 1) -> None:
        """Drain the bucket (as another consumer of the client id would) and answer 429."""
        with self.lock:
            self.forced_429 += times

    def set_delay(self, endpoint: str, seconds: float) -> None:
        with self.lock:
            self.delays[endpoint] = seconds

    def reset_log(self) -> None:
        with self.lock:
            self.log.clear()

    # -- observation -----------------------------------------------------------------------------
    def requests_to(self, endpoint: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.log if r["endpoint"] == endpoint]

    def state(self, since: int = 0) -> dict[str, Any]:
        with self.lock:
            return {
                "violations": self.violations,
                "token_requests": self.token_requests,
                "validate_requests": self.validate_requests,
                "requests": len(self.log),
                "log": self.log[since:],
                "tokens_remaining": self.bucket.tokens,
            }

    # -- serving ---------------------------------------------------------------------------------
    def _take_failure(self, endpoint: str) -> tuple[int, Any] | None:
        """A scripted answer: status and body (raw text, or a JSON value)."""
        for failure in self.failures:
            if failure["endpoint"] == endpoint and failure["times"] > 0:
                failure["times"] -= 1
                status = failure["status"]
                body = failure["body"]
                return status, body if body is not None else {"status": status, "message": "scripted failure"}
        return None

    def _token(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.token_requests += 1
            status, body = self._issue(params)
            self.log.append({"at": time.time(), "endpoint": "token", "params": {}, "status": status})
            return status, body, {}

    def _issue(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        failure = self._take_failure("token")
        if failure and failure[1] == ECHO_FORM:
            return 400, {"status": 400, "message": "malformed request: " + urlencode(params, doseq=True)}
        if failure:
            return failure
        if params.get("grant_type", [""])[0] != "client_credentials":
            return 400, {"status": 400, "message": "invalid grant type"}
        if params.get("client_id", [""])[0] != self.client_id:
            return 400, {"status": 400, "message": "invalid client"}
        if params.get("client_secret", [""])[0] != self.client_secret:
            return 403, {"status": 403, "message": "invalid client secret"}
        token = secrets.token_hex(15)
        self.tokens[token] = time.time() + self.token_ttl
        return 200, {"access_token": token, "expires_in": self.token_ttl, "token_type": "bearer"}

    def _validate(self, headers: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.validate_requests += 1
            token = (headers.get("Authorization") or "").removeprefix("OAuth ").strip()
            expiry = self.tokens.get(token)
            if expiry is None or expiry <= time.time() or self.tokens_rejected:
                return 401, {"status": 401, "message": "invalid access token"}, {}
            return 200, {"client_id": self.client_id, "scopes": [], "expires_in": int(expiry - time.time())}, {}

    def _helix(
        self,
        endpoint: str,
        params: dict[str, list[str]],
        headers: Any,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            now = time.time()
            token = (headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            entry: dict[str, Any] = {"at": now, "endpoint": endpoint, "params": params, "status": None, "token": token}
            self.log.append(entry)
            expiry = self.tokens.get(token)
            self.bucket.refill(now)
            if headers.get("Client-Id") != self.client_id or expiry is None or expiry <= now or self.tokens_rejected:
                entry["status"] = 401
                return (
                    401,
                    {"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"},
                    {"WWW-Authenticate": 'OAuth realm="TwitchTV", error="invalid_token"', **self.bucket.headers(now)},
                )
            if self.forced_429 > 0:
                self.forced_429 -= 1
                self.bucket.tokens = 0.0
                return self._too_many(entry, now)
            if self.bucket.tokens < 1:
                self.violations += 1
                return self._too_many(entry, now)
            self.bucket.tokens -= 1
            limit_headers = self.bucket.headers(now)
            failure = self._take_failure(endpoint)
            if failure:
                entry["status"] = failure[0]
                return failure[0], failure[1], limit_headers
            status, body = self._answer(endpoint, params)
            entry["status"] = status
            return status, body, limit_headers

    def _too_many(self, entry: dict[str, Any], now: float) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = self.bucket.headers(now)
        entry["status"], entry["reset"] = 429, int(headers["Ratelimit-Reset"])
        return 429, {"error": "Too Many Requests", "status": 429, "message": "Too Many Requests"}, headers

    def _answer(self, endpoint: str, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if endpoint == "users":
            logins = {v.lower() for v in params.get("login", [])}
            ids = set(params.get("id", []))
            if len(logins) + len(ids) > 100:
                return 400, {"status": 400, "message": "too many logins/ids"}
            data = [u for u in self.users.values() if u["login"] in logins or u["id"] in ids]
            return 200, {"data": data}
        if endpoint == "streams":
            ids = set(params.get("user_id", []))
            logins = {v.lower() for v in params.get("user_login", [])}
            data = [s for s in self.streams.values() if s["user_id"] in ids or s["user_login"] in logins]
            return 200, {"data": data, "pagination": {}}
        if endpoint == "videos":
            return self._videos(params)
        return 404, {"error": "Not Found", "status": 404, "message": ""}

    def _videos_by_id(self, ids: list[str], params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Get Videos by `id` (repeated, at most 100), exclusive of `user_id`/`game_id`: the known ones in
        any order; an unknown id is left out, and 404 comes only when none is known."""
        if len(ids) > 100 or "user_id" in params or "game_id" in params:
            return 400, {"error": "Bad Request", "status": 400, "message": "Malformed query params."}
        items = {entry[1]: entry[2] for entries in self.videos.values() for entry in entries}
        found = [items[i] for i in dict.fromkeys(ids) if i in items]
        if not found:
            return 404, {"error": "Not Found", "status": 404, "message": "Not Found"}
        return 200, {"data": found, "pagination": {}}

    def _videos(self, params: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if "id" in params:
            return self._videos_by_id(params["id"], params)
        user_id = params.get("user_id", [""])[0]
        if user_id not in self.videos:
            return 400, {"status": 400, "message": "invalid user_id"}
        try:
            first = int(params.get("first", ["20"])[0])
        except ValueError:
            first = 0
        video_type = params.get("type", ["all"])[0]
        if not 1 <= first <= 100 or video_type not in ("all", "archive", "highlight", "upload"):
            return 400, {"status": 400, "message": "invalid first or type"}
        entries = self.videos[user_id]
        start = 0
        after = params.get("after", [None])[0]
        if after:
            try:
                created, video_id = json.loads(base64.urlsafe_b64decode(after.encode()))
                key = (str(created), str(video_id).zfill(20))
            except (ValueError, TypeError):
                return 400, {"status": 400, "message": "invalid cursor"}
            # Items strictly older than the cursor's: stable while videos are added or deleted.
            start = _first_older(entries, key)
        known = ("archive", "highlight", "upload")  # items of other types (odd JSON) pass every filter
        page = []
        for entry in itertools.islice(entries, start, None):
            item = entry[2]
            if (
                video_type == "all"
                or not isinstance(item, dict)
                or item.get("type") == video_type
                or item.get("type") not in known
            ):
                page.append(entry)
                if len(page) > first:
                    break
        body: dict[str, Any] = {"data": [e[2] for e in page[:first]], "pagination": {}}
        if len(page) > first:
            last = page[first - 1]
            body["pagination"]["cursor"] = base64.urlsafe_b64encode(json.dumps([last[0], last[1]]).encode()).decode()
        return 200, body

    def _control(self, action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if action not in CONTROL_ACTIONS:
            return 404, {"error": f"unknown control action {action!r}", "actions": list(CONTROL_ACTIONS)}
        when = body.pop("at", None)
        if when is not None:
            self.at(float(when), action, **body)
            return 200, {"scheduled": action, "at": when}
        return 200, {"result": getattr(self, action)(**body)}

    def _handler(self) -> type[QuietHandler]:
        standin = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle + delayed ACK cost 40 ms each.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                params = parse_qs(url.query)
                if url.path == "/control/state":
                    self._send(200, standin.state(int(params.get("since", ["0"])[0])))
                elif url.path == "/oauth2/validate":
                    self._send(*standin._validate(self.headers))
                elif url.path.startswith("/helix/"):
                    endpoint = url.path.removeprefix("/helix/")
                    delay = standin.delays.get(endpoint, 0.0)
                    if delay:
                        time.sleep(delay)
                    self._send(*standin._helix(endpoint, params, self.headers))
                else:
                    self._send(404, {"error": "Not Found", "status": 404, "message": ""})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if url.path == "/oauth2/token":
                    params = parse_qs(url.query)
                    params.update(parse_qs(raw))
                    self._send(*standin._token(params))
                elif url.path.startswith("/control/"):
                    try:
                        body = json.loads(raw or "{}")
                        self._send(*standin._control(url.path.removeprefix("/control/"), body))
                    except (ValueError, TypeError, KeyError, StopIteration) as exc:
                        self._send(400, {"error": f"{type(exc).__name__}: {exc}"})
                else:
                    self._send(404, {"error": "Not Found", "status": 404, "message": ""})

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Twitch Helix stand-in on loopback")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--limit", type=int, default=800, help="rate-limit bucket size (points)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds to refill the whole bucket")
    parser.add_argument("--client-id", default="standin-client-id")
    parser.add_argument("--client-secret", default="standin-client-secret-1234")
    args = parser.parse_args()
    standin = HelixStandin(args.client_id, args.client_secret, args.limit, args.window, port=args.port).start()
    print(f"HELIX_STANDIN_URL={standin.url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    standin.stop()


if __name__ == "__main__":
    main()
