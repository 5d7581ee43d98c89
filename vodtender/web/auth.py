"""Who is asking (WEB_AUTH), and whether a form was posted by our own page (CSRF).

WEB_AUTH is either the path of an htpasswd-style file (`user:hash` a line: bcrypt as `htpasswd -B`
writes it, or werkzeug's `scrypt:`/`pbkdf2:` hashes) checked by HTTP Basic, or `token`: the bearer
token WEB_TOKEN, compared in constant time.  Without WEB_AUTH nobody is signed in and only a loopback
peer is served (runtime/requirements.py keeps the address on loopback too).

A verified password is remembered for a while under an HMAC of the credentials, never the password:
bcrypt costs a quarter of a second by design, and the pages poll the API every few seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import bcrypt
from werkzeug.security import check_password_hash

from vodtender.runtime.logs import get_logger

log = get_logger("web")

TOKEN_MODE = "token"
TOKEN_USER = "token"  # the user name a bearer token signs in as
BCRYPT_PREFIXES = ("$2y$", "$2b$", "$2a$")
WERKZEUG_PREFIXES = ("scrypt:", "pbkdf2:")
REMEMBER_SECONDS = 300.0  # how long a verified password is not checked against its hash again
REMEMBERED_MAX = 1024


class AuthFileError(Exception):
    """The htpasswd file cannot be read; the message says which and why."""


def hash_matches(password: str, hashed: str) -> bool:
    if hashed.startswith(BCRYPT_PREFIXES):
        try:
            return bcrypt.checkpw(password.encode(), hashed.encode())
        except ValueError:
            return False
    return check_password_hash(hashed, password)


def supported_hash(hashed: str) -> bool:
    return hashed.startswith(BCRYPT_PREFIXES + WERKZEUG_PREFIXES)


def read_htpasswd(path: Path) -> dict[str, str]:
    """user -> hash; a line with another kind of hash is refused with one log line naming its number."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthFileError(f"cannot read WEB_AUTH file {path}: {exc}") from None
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not supported_hash(hashed):
            log.warning(
                "WEB_AUTH file line refused: not user:hash with a bcrypt, scrypt or pbkdf2 hash",
                file=str(path),
                line=number,
            )
            continue
        users[user] = hashed
    return users


class Headers(Protocol):
    """A request's headers (werkzeug's, or a plain dict in a test)."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True)
class Credentials:
    user: str
    secret: str
    kind: str  # basic / bearer


def credentials_of(headers: Headers) -> Credentials | None:
    """The Authorization header's user and password (Basic) or token (Bearer); None when absent or malformed."""
    scheme, _, value = (headers.get("Authorization") or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return Credentials(TOKEN_USER, value, "bearer")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return Credentials(user, password, "basic") if sep and user else None


class Access:
    """WEB_AUTH: `required` when set; `authenticate()` gives the signed-in user or None."""

    def __init__(self, web_auth: str | None, web_token: str | None) -> None:
        self.mode = TOKEN_MODE if web_auth == TOKEN_MODE else ("htpasswd" if web_auth else "none")
        self._token = web_token or ""
        self._file = Path(web_auth) if self.mode == "htpasswd" and web_auth else None
        self._users: dict[str, str] = {}
        self._loaded_mtime: float | None = None
        self.problem: str | None = None
        self._key = secrets.token_bytes(32)  # per process: remembered logins and CSRF tokens die with it
        self._remembered: dict[bytes, tuple[str, float]] = {}
        self._lock = threading.Lock()
        if self._file is not None:
            self._load()

    @property
    def required(self) -> bool:
        return self.mode != "none"

    @property
    def challenge(self) -> str:
        """The WWW-Authenticate header of a 401."""
        return 'Basic realm="vodtender", charset="UTF-8"' if self.mode == "htpasswd" else 'Bearer realm="vodtender"'

    def _load(self) -> None:
        """(Re)reads the file when it changed: adding a user needs no restart."""
        assert self._file is not None
        try:
            mtime = self._file.stat().st_mtime
        except OSError as exc:
            self._fail(f"cannot read WEB_AUTH file {self._file}: {exc.strerror}")
            return
        if mtime == self._loaded_mtime:
            return
        try:
            users = read_htpasswd(self._file)
        except AuthFileError as exc:
            self._fail(str(exc))
            return
        with self._lock:
            self._users, self._loaded_mtime, self.problem = users, mtime, None
            self._remembered.clear()
        if not users:
            self._fail(f"WEB_AUTH file {self._file} has no usable user:hash line")

    def _fail(self, problem: str) -> None:
        with self._lock:
            if problem != self.problem:
                log.error("web sign-in unavailable", problem=problem)
            self._users, self._loaded_mtime, self.problem = {}, None, problem

    def authenticate(self, headers: Headers) -> str | None:
        given = credentials_of(headers)
        if given is None or not self.required:
            return None
        if self.mode == TOKEN_MODE:
            ok = given.kind == "bearer" and bool(self._token)
            return TOKEN_USER if ok and hmac.compare_digest(given.secret.encode(), self._token.encode()) else None
        if given.kind != "basic":
            return None
        self._load()
        return given.user if self._password_ok(given) else None

    def _password_ok(self, given: Credentials) -> bool:
        memo = hmac.new(self._key, f"{given.user}\0{given.secret}".encode(), hashlib.sha256).digest()
        now = time.monotonic()
        with self._lock:
            remembered = self._remembered.get(memo)
            hashed = self._users.get(given.user)
        if remembered and remembered[1] > now and hashed is not None:
            return True
        if hashed is None or not hash_matches(given.secret, hashed):
            return False
        with self._lock:
            if len(self._remembered) >= REMEMBERED_MAX:
                self._remembered.clear()
            self._remembered[memo] = (given.user, now + REMEMBER_SECONDS)
        return True

    # -- CSRF ------------------------------------------------------------------------------------
    def csrf_token(self, user: str) -> str:
        return hmac.new(self._key, b"csrf\0" + user.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, user: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(user).encode(), (token or "").encode())


def same_origin(headers: Headers, host_url: str) -> bool:
    """Whether the browser says the request comes from our own pages (absent headers say nothing)."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return False
    origin = headers.get("Origin")
    if origin == "null":  # a no-referrer policy (a proxy's) hides it; the browser's own word then decides
        return site == "same-origin"
    return origin is None or origin.rstrip("/") == host_url.rstrip("/")
