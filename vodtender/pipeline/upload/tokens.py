"""OAuth tokens in `oauth_tokens`, encrypted at rest, kept fresh for the uploader.

Encryption is always on.  The key is `ENCRYPTION_KEY` (or the systemd credential
`encryption-key`) when set: a Fernet key, or any passphrase.  Otherwise it is a Fernet key generated
at first use into `ENCRYPTION_KEY_FILE` (mode 0600, in the state directory).  Stored values:

- `enc:v1:<Fernet token>` under a Fernet key (AES-128-CBC + HMAC-SHA256 from `cryptography`); older
  versions also wrote it under a passphrase hashed once with SHA-256, which is still read;
- `enc:v2:<salt>:<Fernet token>` under a passphrase: the key is scrypt(passphrase, salt), the salt
  random per process run and kept in the value (scrypt is in the standard library and memory-hard,
  so guessing passphrases from a stolen backup costs real memory, not only time);
- anything else: plaintext written before encryption was the default; still read.

The uploader re-encrypts plaintext and old-format rows at start (`open_token_store`);
`vodtender auth rotate-key` re-encrypts every row under a new key (`rotate_key_file`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import peewee
from cryptography.fernet import Fernet, InvalidToken
from prometheus_client import Counter, Gauge

from vodtender.clients.google_oauth import CredentialsRevoked, OAuthError, TokenEndpoint, TokenGrant
from vodtender.runtime.clock import from_unix, unix_seconds
from vodtender.runtime.config import Config
from vodtender.runtime.db import write
from vodtender.runtime.files import write_secret_file
from vodtender.runtime.logs import get_logger, register_secret
from vodtender.runtime.models import OAuthToken, database_proxy, utcnow

ENCRYPTED_PREFIX = "enc:v1:"  # a Fernet token under a Fernet key (or, from older versions, SHA-256 of a passphrase)
SALTED_PREFIX = "enc:v2:"  # salt ":" Fernet token under scrypt(passphrase, salt)
SCRYPT = {"n": 2**15, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}  # 32 MiB, ~0.1 s: once per salt
SALT_BYTES = 16
_TOKENS_LOCK_ID = 0x766F746B  # "votk": PostgreSQL advisory lock serialising token writes with a rotation
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
    """A stored token cannot be decrypted (no key, or the wrong one), or the key cannot be had."""


def fernet_key(text: str) -> bytes | None:
    """`text` as a Fernet key (urlsafe base64 of 32 bytes), None when it is a passphrase."""
    try:
        return text.encode() if len(base64.urlsafe_b64decode(text.encode())) == 32 else None
    except (ValueError, binascii.Error):
        return None


class KeyFile:
    """ENCRYPTION_KEY_FILE: one key a line, the current one first (during a rotation the old one follows).

    Re-read whenever it changes on disk, so a running uploader follows `vodtender auth rotate-key`.
    """

    def __init__(self, path: Path):
        self.path = path.absolute()  # messages name the file wherever the operator runs them
        self._stamp: tuple[int, int, int] | None = None
        self._keys: list[str] = []

    def keys(self) -> list[str]:
        try:
            info = self.path.stat()
            stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
            if stamp != self._stamp:
                self._keys = [line.strip() for line in self.path.read_text().splitlines() if line.strip()]
                self._stamp = stamp
                for key in self._keys:
                    register_secret(key)
        except FileNotFoundError:
            self._stamp, self._keys = None, []
        except OSError as exc:
            raise TokenUnreadable(f"cannot read the key file {self.path}: {exc.strerror}") from None
        return self._keys

    def current(self) -> str:
        """The current key; generated at first use."""
        keys = self.keys()
        if keys:
            return keys[0]
        try:
            if write_secret_file(self.path, Fernet.generate_key().decode() + "\n", replace=False):
                log.info("generated the key that encrypts OAuth tokens", key_file=str(self.path))
        except OSError as exc:
            raise TokenUnreadable(f"cannot create the key file {self.path}: {exc.strerror}") from None
        keys = self.keys()  # ours, or the one another process wrote first
        if not keys:
            raise TokenUnreadable(f"the key file {self.path} holds no key: remove it, or put the key back")
        return keys[0]

    def store(self, keys: Sequence[str]) -> None:
        """Replace the file's keys (none: no file)."""
        try:
            if not keys:
                self.path.unlink(missing_ok=True)
                return
            write_secret_file(self.path, "".join(f"{key}\n" for key in keys), replace=True)
        except OSError as exc:
            raise TokenUnreadable(f"cannot write the key file {self.path}: {exc.strerror}") from None


class TokenCipher:
    """Seals token values under the current key; opens them under any key it knows.

    The current key is `key` (ENCRYPTION_KEY) if given, else the key file's; the key file's other keys
    and `old_keys` only open.  With neither a key nor a key file values stay plaintext (tests only).
    """

    def __init__(self, key: str | None = None, key_file: Path | None = None, old_keys: Sequence[str] = ()):
        self._key = key
        self.key_file = KeyFile(key_file) if key_file is not None else None
        self._old_keys = list(old_keys)
        self._salt = os.urandom(SALT_BYTES)
        self._derived: dict[tuple[str, bytes], Fernet] = {}
        for secret in (key, *old_keys):
            register_secret(secret)

    @classmethod
    def for_config(cls, cfg: Config, old_keys: Sequence[str] = ()) -> TokenCipher:
        return cls(cfg.encryption_key, cfg.encryption_key_file, old_keys)

    def describe(self) -> str:
        """Where the current key comes from, for messages."""
        if self._key is not None:
            return "ENCRYPTION_KEY"
        return f"the key file {self.key_file.path}" if self.key_file else "no key"

    def current_key(self) -> str | None:
        if self._key is not None:
            return self._key
        return self.key_file.current() if self.key_file else None

    def seal(self, value: str | None) -> str | None:
        key = self.current_key() if value is not None else None
        if value is None or key is None:
            return value
        raw = fernet_key(key)
        if raw is not None:
            return ENCRYPTED_PREFIX + Fernet(raw).encrypt(value.encode()).decode()
        salt = base64.urlsafe_b64encode(self._salt).decode()
        return f"{SALTED_PREFIX}{salt}:{self._scrypt(key, self._salt).encrypt(value.encode()).decode()}"

    def open(self, stored: str | None) -> str | None:
        if stored is None or not is_sealed(stored):
            return stored
        keys = self._known_keys()
        if not keys:
            raise TokenUnreadable("tokens are stored encrypted but no key is available: set ENCRYPTION_KEY")
        for fernet, token in self._candidates(stored, keys):
            with contextlib.suppress(InvalidToken):
                return fernet.decrypt(token).decode()
        raise TokenUnreadable(f"tokens cannot be decrypted with {self._described_keys()}")

    def is_current(self, stored: str | None) -> bool:
        """Whether `stored` is sealed the way `seal` seals now: under the current key, in the current format."""
        key = self.current_key() if stored is not None else None
        if stored is None or key is None:
            return stored is None or not is_sealed(stored)
        if not stored.startswith(ENCRYPTED_PREFIX if fernet_key(key) is not None else SALTED_PREFIX):
            return False
        return any(_opens(fernet, token) for fernet, token in self._candidates(stored, [key], legacy=False))

    def _known_keys(self) -> list[str]:
        file_keys = self.key_file.keys() if self.key_file else []
        return list(dict.fromkeys([*([self._key] if self._key is not None else []), *file_keys, *self._old_keys]))

    def _described_keys(self) -> str:
        names = ["ENCRYPTION_KEY"] if self._key is not None else []
        if self.key_file and self.key_file.keys():
            names.append(f"the key file {self.key_file.path}")
        if self._old_keys:
            names.append("the old key")
        return " nor ".join(names)

    def _candidates(self, stored: str, keys: Sequence[str], legacy: bool = True) -> Iterator[tuple[Fernet, bytes]]:
        """(cipher, token) pairs that may open `stored`; derived keys are made only when needed."""
        if stored.startswith(SALTED_PREFIX):
            salt_text, _, token = stored[len(SALTED_PREFIX) :].partition(":")
            try:
                salt = base64.urlsafe_b64decode(salt_text.encode())
            except (ValueError, binascii.Error):
                return
            for key in keys:
                if fernet_key(key) is None:
                    yield self._scrypt(key, salt), token.encode()
            return
        token_bytes = stored[len(ENCRYPTED_PREFIX) :].encode()
        for key in keys:
            raw = fernet_key(key)
            if raw is not None:
                yield Fernet(raw), token_bytes
            elif legacy:  # what versions before the salted format wrote: one SHA-256 of the passphrase
                yield Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())), token_bytes

    def _scrypt(self, passphrase: str, salt: bytes) -> Fernet:
        cached = self._derived.get((passphrase, salt))
        if cached is None:
            derived = hashlib.scrypt(passphrase.encode(), salt=salt, **SCRYPT)
            cached = self._derived[(passphrase, salt)] = Fernet(base64.urlsafe_b64encode(derived))
        return cached


def is_sealed(stored: str) -> bool:
    return stored.startswith((ENCRYPTED_PREFIX, SALTED_PREFIX))


def _opens(fernet: Fernet, token: bytes) -> bool:
    try:
        fernet.decrypt(token)
    except InvalidToken:
        return False
    return True


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

        def upsert() -> None:
            serialise_token_writes()  # sealed inside the transaction: a rotation never misses this row
            fields = {
                "access_token": self.cipher.seal(grant.access_token),
                "refresh_token": self.cipher.seal(refresh),
                "expires_at": from_unix(grant.expires_at),
                "scope": grant.scope,
                "invalid_reason": None,
                "updated_at": utcnow(),
            }
            OAuthToken.insert(provider=self.provider, channel=self.channel, **fields).on_conflict(
                conflict_target=[OAuthToken.provider, OAuthToken.channel], update=fields
            ).execute()

        write(upsert)

    def mark_invalid(self, reason: str) -> None:
        write(lambda: OAuthToken.update(invalid_reason=reason, updated_at=utcnow()).where(self._where()).execute())


def serialise_token_writes() -> None:
    """Inside a write transaction: wait for any other one writing tokens (SQLite's write lock already does)."""
    db = database_proxy.obj
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_TOKENS_LOCK_ID,))


def reseal_all(cipher: TokenCipher) -> int:
    """Every stored token sealed under the cipher's current key; returns the rows rewritten.

    One transaction: a row that cannot be opened raises TokenUnreadable and nothing changes.
    """

    def run() -> int:
        serialise_token_writes()
        rewritten = 0
        for row in OAuthToken.select():
            fields = {
                name: cipher.seal(cipher.open(value))
                for name in ("access_token", "refresh_token")
                if not cipher.is_current(value := getattr(row, name))
            }
            if fields:
                OAuthToken.update(**fields).where(OAuthToken.id == row.id).execute()
                rewritten += 1
        return rewritten

    return write(run)


def rotate_key_file(cipher: TokenCipher) -> int:
    """A new generated key: written before the old one, every row re-sealed under it, then the old one dropped.

    Interrupted at any point, every row still opens with a key the file holds.
    """
    assert cipher.key_file is not None
    old = cipher.key_file.keys()
    cipher.key_file.store([Fernet.generate_key().decode(), *old])
    try:
        rewritten = reseal_all(cipher)
    except TokenUnreadable:
        cipher.key_file.store(old)  # a row no key opens: nothing changes, the file neither
        raise
    cipher.key_file.store(cipher.key_file.keys()[:1])
    return rewritten


def open_token_store(cfg: Config) -> TokenStore:
    """The uploader's token store; plaintext and old-format rows are encrypted under the current key now.

    Done here and not by `db migrate`: the key (a systemd credential) is given to the uploader only.
    A row that cannot be opened is left as it is: `AccessTokens.check` says why uploads wait.
    """
    store = TokenStore(TokenCipher.for_config(cfg))
    with contextlib.suppress(TokenUnreadable):
        if rewritten := reseal_all(store.cipher):
            log.info("stored OAuth tokens encrypted under the current key", rows=rewritten)
    return store


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
