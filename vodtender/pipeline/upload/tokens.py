"""OAuth tokens in `oauth_tokens`, optionally encrypted at rest, kept fresh for the uploader.

Encryption: with `ENCRYPTION_KEY` (or the systemd credential `encryption-key`) set, tokens are
written as `enc:v1:<Fernet token>` (AES-128-CBC + HMAC-SHA256 from `cryptography`); the key may be
a Fernet key or any passphrase (hashed to one).  Without a key they are stored as plaintext, as the
runbook describes, and a plaintext row is still read after a key is configured (and encrypted
on its next write).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass

import peewee
from cryptography.fernet import Fernet, InvalidToken
from prometheus_client import Counter, Gauge

from vodtender.clients.google_oauth import CredentialsRevoked, OAuthError, TokenEndpoint, TokenGrant
from vodtender.runtime.clock import from_unix, unix_seconds
from vodtender.runtime.db import write
from vodtender.runtime.logs import get_logger, register_secret
from vodtender.runtime.models import OAuthToken, utcnow

ENCRYPTED_PREFIX = "enc:v1:"
REFRESH_MARGIN = 300.0  # refresh this long before the access token expires

TOKEN_EXPIRY = Gauge(
    "vodtender_upload_token_expiry_timestamp_seconds",
    "when the stored YouTube access token expires (unix time; 0: no token)",
)
TOKEN_REFRESHES = Counter("vodtender_upload_token_refreshes_total", "YouTube token refreshes by result", ["result"])
for _result in ("ok", "error", "revoked"):
    TOKEN_REFRESHES.labels(_result)
AUTH_PAUSED = Gauge(
    "vodtender_upload_auth_paused",
    "1 while uploads wait for `vodtender auth youtube` (no tokens, or the refresh token was refused)",
)

log = get_logger("tokens")


class TokenUnreadable(Exception):
    """A stored token cannot be decrypted (no key, or the wrong one)."""


class TokenCipher:
    def __init__(self, key: str | None):
        self._fernet = Fernet(_fernet_key(key)) if key else None

    @property
    def encrypting(self) -> bool:
        return self._fernet is not None

    def seal(self, value: str | None) -> str | None:
        if value is None or self._fernet is None:
            return value
        return ENCRYPTED_PREFIX + self._fernet.encrypt(value.encode()).decode()

    def open(self, stored: str | None) -> str | None:
        if stored is None or not stored.startswith(ENCRYPTED_PREFIX):
            return stored
        if self._fernet is None:
            raise TokenUnreadable("tokens are stored encrypted but ENCRYPTION_KEY is not set")
        try:
            return self._fernet.decrypt(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise TokenUnreadable("tokens cannot be decrypted with the configured ENCRYPTION_KEY") from None


def _fernet_key(key: str) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return key.encode()
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())


@dataclass(frozen=True)
class StoredToken:
    access_token: str | None
    refresh_token: str | None
    expires_at: float  # unix seconds, 0 when unknown
    scope: str | None
    invalid_reason: str | None


class TokenStore:
    """The `oauth_tokens` row of one provider (channel '' : the account uploads go to)."""

    def __init__(self, cipher: TokenCipher, provider: str = "youtube", channel: str = ""):
        self.cipher = cipher
        self.provider = provider
        self.channel = channel

    def _where(self) -> peewee.Expression:
        return (OAuthToken.provider == self.provider) & (OAuthToken.channel == self.channel)

    def load(self) -> StoredToken | None:
        row = OAuthToken.get_or_none(self._where())
        if row is None:
            return None
        access, refresh = self.cipher.open(row.access_token), self.cipher.open(row.refresh_token)
        for secret in (access, refresh):
            register_secret(secret)
        expires = unix_seconds(row.expires_at) if row.expires_at else 0.0
        return StoredToken(access, refresh, expires, row.scope, row.invalid_reason)

    def save(self, grant: TokenGrant, keep_refresh_token: str | None = None) -> None:
        """Store a fresh grant (clearing any invalid mark); a refresh grant keeps the old refresh token."""
        refresh = grant.refresh_token or keep_refresh_token
        register_secret(grant.access_token)
        register_secret(refresh)
        fields = {
            "access_token": self.cipher.seal(grant.access_token),
            "refresh_token": self.cipher.seal(refresh),
            "expires_at": from_unix(grant.expires_at),
            "scope": grant.scope,
            "invalid_reason": None,
            "updated_at": utcnow(),
        }
        write(
            lambda: (
                OAuthToken.insert(provider=self.provider, channel=self.channel, **fields)
                .on_conflict(conflict_target=[OAuthToken.provider, OAuthToken.channel], update=fields)
                .execute()
            )
        )

    def mark_invalid(self, reason: str) -> None:
        write(lambda: OAuthToken.update(invalid_reason=reason, updated_at=utcnow()).where(self._where()).execute())


class AuthPaused(Exception):
    """Uploads cannot authenticate until an operator runs `vodtender auth youtube` (or fixes the key)."""


class AccessTokens:
    """Hands out a valid access token: refreshed before expiry, on demand after a 401, stored each time."""

    def __init__(self, store: TokenStore, endpoint: TokenEndpoint, margin: float = REFRESH_MARGIN):
        self.store = store
        self.endpoint = endpoint
        self.margin = margin
        self._lock = threading.Lock()
        self._current: StoredToken | None = None
        self.last_issued: str | None = None  # the token the last request carried: a 401 refers to it

    def check(self) -> str | None:
        """Why uploads cannot authenticate now (None: they can); re-reads the row, so new tokens count."""
        try:
            token = self.store.load()
        except TokenUnreadable as exc:
            return self._paused(f"{exc}: set the key, or run `vodtender auth youtube` again")
        if token is None or not token.refresh_token:
            return self._paused("no YouTube tokens: run `vodtender auth youtube`")
        if token.invalid_reason:
            return self._paused(
                f"YouTube refused the stored refresh token ({token.invalid_reason}): run `vodtender auth youtube`"
            )
        with self._lock:
            self._current = token
        TOKEN_EXPIRY.set(token.expires_at)
        AUTH_PAUSED.set(0)
        return None

    def _paused(self, reason: str) -> str:
        AUTH_PAUSED.set(1)
        return reason

    def access_token(self) -> str:
        """A token valid for at least `margin` seconds more; raises AuthPaused or OAuthError."""
        with self._lock:
            token = self._current
        if token is None:
            reason = self.check()
            if reason:
                raise AuthPaused(reason)
            token = self._current
        assert token is not None
        if token.access_token and token.expires_at - self.margin > time.time():
            self.last_issued = token.access_token
        else:
            self.last_issued = self.refresh(token.access_token)
        return self.last_issued

    def refresh(self, rejected: str | None = None) -> str:
        """Get a new access token (the caller's, `rejected`, was refused or is about to expire)."""
        with self._lock:
            token = self._current
            if token is not None and token.access_token != rejected and token.expires_at - self.margin > time.time():
                return token.access_token or ""  # another thread refreshed meanwhile
            if token is None or not token.refresh_token:
                raise AuthPaused("no YouTube tokens: run `vodtender auth youtube`")
            try:
                grant = self.endpoint.refresh(token.refresh_token)
            except CredentialsRevoked as exc:
                TOKEN_REFRESHES.labels("revoked").inc()
                self.store.mark_invalid(exc.error)
                self._current = None
                AUTH_PAUSED.set(1)
                log.error(
                    "YouTube refused the refresh token: uploads paused until `vodtender auth youtube`", error=exc.error
                )
                raise AuthPaused(
                    f"YouTube refused the stored refresh token ({exc.error}): run `vodtender auth youtube`"
                ) from None
            except OAuthError:
                TOKEN_REFRESHES.labels("error").inc()
                raise
            self.store.save(grant, keep_refresh_token=token.refresh_token)
            self._current = StoredToken(
                grant.access_token,
                grant.refresh_token or token.refresh_token,
                grant.expires_at,
                grant.scope or token.scope,
                None,
            )
            TOKEN_REFRESHES.labels("ok").inc()
            TOKEN_EXPIRY.set(grant.expires_at)
            log.info(
                "YouTube access token refreshed",
                expires=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(grant.expires_at)) + " UTC",
            )
            return grant.access_token
