"""Token store: encrypted under a passphrase (scrypt, salted), a Fernet key or a generated key file; old
formats still read and re-sealed; rotation; refresh before expiry; invalid_grant pauses."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest
from cryptography.fernet import Fernet

from tests.standins.youtube import YouTubeStandIn
from vodtender.clients.google_oauth import TokenEndpoint, TokenGrant
from vodtender.pipeline.upload.tokens import (
    AUTH_PAUSED,
    TOKEN_EXPIRY,
    AccessTokens,
    AuthPaused,
    TokenCipher,
    TokenStore,
    TokenUnreadable,
    open_token_store,
    reseal_all,
    rotate_key_file,
)
from vodtender.runtime.config import load_config
from vodtender.runtime.models import OAuthToken


@pytest.fixture
def youtube() -> Iterator[YouTubeStandIn]:
    with YouTubeStandIn() as standin:
        yield standin


def grant_from(tokens: dict, lifetime: float = 3600) -> TokenGrant:
    return TokenGrant(tokens["access_token"], time.time() + lifetime, tokens["refresh_token"], tokens["scope"])


def endpoint(youtube: YouTubeStandIn) -> TokenEndpoint:
    return TokenEndpoint(youtube.token_url, youtube.client_id, youtube.client_secret, timeout=5)


def test_plaintext_without_any_key(migrated_db: peewee.Database) -> None:
    store = TokenStore(TokenCipher(None))
    store.save(TokenGrant("access-1234567890", time.time() + 60, "refresh-1234567890", "s"))
    row = OAuthToken.get(OAuthToken.provider == "youtube")
    assert row.access_token == "access-1234567890" and row.refresh_token == "refresh-1234567890"
    assert store.load().refresh_token == "refresh-1234567890"


@pytest.mark.parametrize(
    ("key", "prefix"),
    [("a long passphrase", "enc:v2:"), (Fernet.generate_key().decode(), "enc:v1:")],
    ids=["passphrase", "fernet-key"],
)
def test_encrypted_with_a_key_and_unreadable_without(migrated_db: peewee.Database, key: str, prefix: str) -> None:
    TokenStore(TokenCipher(key)).save(TokenGrant("access-1234567890", time.time() + 60, "refresh-1234567890", "s"))
    row = OAuthToken.get(OAuthToken.provider == "youtube")
    assert "refresh-1234567890" not in row.refresh_token and row.refresh_token.startswith(prefix)
    assert TokenStore(TokenCipher(key)).load().refresh_token == "refresh-1234567890"
    reason = AccessTokens(TokenStore(TokenCipher(None)), TokenEndpoint("http://127.0.0.1:9", "c", "s")).check()
    assert reason and "no key is available" in reason
    reason = AccessTokens(TokenStore(TokenCipher("wrong key")), TokenEndpoint("http://127.0.0.1:9", "c", "s")).check()
    assert reason and "cannot be decrypted with ENCRYPTION_KEY" in reason


def test_a_passphrase_is_salted_each_run(migrated_db: peewee.Database) -> None:
    """The same passphrase and token give different values in two runs: no one-hash-fits-all key."""
    sealed = {TokenCipher("a long passphrase").seal("refresh-1234567890") for _ in range(2)}
    assert len(sealed) == 2 and all(value.startswith("enc:v2:") for value in sealed)
    assert {TokenCipher("a long passphrase").open(value) for value in sealed} == {"refresh-1234567890"}


def legacy_seal(passphrase: str, value: str) -> str:
    """What versions before the salted format stored: one unsalted SHA-256 of the passphrase as the key."""
    key = base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())
    return "enc:v1:" + Fernet(key).encrypt(value.encode()).decode()


def test_old_unsalted_ciphertext_is_read_and_resealed(migrated_db: peewee.Database) -> None:
    OAuthToken.create(
        provider="youtube",
        access_token=legacy_seal("old passphrase", "access-1234567890"),
        refresh_token=legacy_seal("old passphrase", "refresh-1234567890"),
    )
    cipher = TokenCipher("old passphrase")
    assert TokenStore(cipher).load().refresh_token == "refresh-1234567890"
    assert reseal_all(cipher) == 1
    row = OAuthToken.get(OAuthToken.provider == "youtube")
    assert row.refresh_token.startswith("enc:v2:") and row.access_token.startswith("enc:v2:")
    assert TokenStore(TokenCipher("old passphrase")).load().refresh_token == "refresh-1234567890"
    assert reseal_all(cipher) == 0  # now current: not rewritten again


def test_key_file_generated_private_at_first_seal(migrated_db: peewee.Database, tmp_path: Path) -> None:
    key_file = tmp_path / "state" / "encryption.key"
    cipher = TokenCipher(None, key_file)
    assert not key_file.exists()  # nothing to seal yet: no key made
    TokenStore(cipher).save(TokenGrant("access-1234567890", time.time() + 60, "refresh-1234567890", "s"))
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert OAuthToken.get(OAuthToken.provider == "youtube").refresh_token.startswith("enc:v1:")
    assert TokenStore(TokenCipher(None, key_file)).load().refresh_token == "refresh-1234567890"
    assert TokenStore(TokenCipher("an operator's key", key_file)).load().refresh_token == "refresh-1234567890"


def test_rotation_reseals_every_row_and_drops_the_old_key(migrated_db: peewee.Database, tmp_path: Path) -> None:
    key_file = tmp_path / "encryption.key"
    running = TokenStore(TokenCipher(None, key_file))  # an uploader that keeps running through the rotation
    running.save(TokenGrant("access-1234567890", time.time() + 60, "refresh-1234567890", "s"))
    old_key, old_row = key_file.read_text(), OAuthToken.get(OAuthToken.provider == "youtube").refresh_token
    assert rotate_key_file(TokenCipher(None, key_file)) == 1
    assert key_file.read_text() != old_key and len(key_file.read_text().split()) == 1
    assert OAuthToken.get(OAuthToken.provider == "youtube").refresh_token != old_row
    assert running.load().refresh_token == "refresh-1234567890"  # follows the new key file
    with pytest.raises(TokenUnreadable):
        TokenCipher(old_key.strip()).open(OAuthToken.get(OAuthToken.provider == "youtube").refresh_token)


def test_a_rotation_that_cannot_open_a_row_changes_nothing(migrated_db: peewee.Database, tmp_path: Path) -> None:
    key_file = tmp_path / "encryption.key"
    TokenStore(TokenCipher(None, key_file)).save(TokenGrant("a-1234567890", time.time() + 60, "r-1234567890", "s"))
    OAuthToken.create(provider="youtube", channel="other", refresh_token=legacy_seal("unknown", "r-0987654321"))
    key, rows = key_file.read_text(), list(OAuthToken.select().dicts())
    with pytest.raises(TokenUnreadable, match=f"cannot be decrypted with the key file {key_file}"):
        rotate_key_file(TokenCipher(None, key_file))
    assert key_file.read_text() == key and list(OAuthToken.select().dicts()) == rows


def test_plaintext_rows_are_encrypted_at_start(
    migrated_db: peewee.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    TokenStore(TokenCipher(None)).save(TokenGrant("access-1234567890", time.time() + 60, "refresh-1234567890", "s"))
    monkeypatch.setenv("VODTENDER_CONFIG_DIR", str(tmp_path))
    store = open_token_store(load_config(["--encryption-key-file", str(tmp_path / "k")]))
    row = OAuthToken.get(OAuthToken.provider == "youtube")
    assert "1234567890" not in row.access_token + row.refresh_token
    assert store.load().refresh_token == "refresh-1234567890"


def test_plaintext_row_still_read_after_a_key_is_configured(migrated_db: peewee.Database) -> None:
    TokenStore(TokenCipher(None)).save(TokenGrant("access-1234567890", time.time() + 60, "refresh-1234567890", "s"))
    assert TokenStore(TokenCipher("new key")).load().refresh_token == "refresh-1234567890"


def test_refreshed_before_expiry_and_stored(migrated_db: peewee.Database, youtube: YouTubeStandIn) -> None:
    store = TokenStore(TokenCipher(None))
    issued = youtube.issue_tokens()
    store.save(grant_from(issued, lifetime=60))  # inside the 5-minute margin
    tokens = AccessTokens(store, endpoint(youtube))
    assert tokens.check() is None
    fresh = tokens.access_token()
    assert fresh != issued["access_token"] and fresh in youtube.access_tokens
    stored = store.load()
    assert stored.access_token == fresh and stored.refresh_token == issued["refresh_token"]
    assert stored.expires_at > time.time() + 3000
    assert TOKEN_EXPIRY._value.get() == pytest.approx(stored.expires_at, abs=1)
    assert tokens.access_token() == fresh  # still valid: no second refresh
    assert youtube.count("POST", "token") == 1


def test_invalid_grant_pauses_until_new_tokens_are_stored(
    migrated_db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    store = TokenStore(TokenCipher(None))
    store.save(grant_from(youtube.issue_tokens(), lifetime=0))
    youtube.revoke()
    tokens = AccessTokens(store, endpoint(youtube))
    with pytest.raises(AuthPaused, match="invalid_grant"):
        tokens.access_token()
    assert store.load().invalid_reason == "invalid_grant"
    assert AUTH_PAUSED._value.get() == 1
    assert "vodtender auth youtube" in tokens.check()
    store.save(grant_from(youtube.issue_tokens()))  # what `vodtender auth youtube` does
    assert tokens.check() is None and AUTH_PAUSED._value.get() == 0
    assert tokens.access_token() in youtube.access_tokens


def test_no_tokens_is_a_pause_not_a_crash(migrated_db: peewee.Database) -> None:
    tokens = AccessTokens(TokenStore(TokenCipher(None)), TokenEndpoint("http://127.0.0.1:9", "c", "s"))
    assert "no YouTube tokens" in tokens.check()
    with pytest.raises(AuthPaused):
        tokens.access_token()


def test_key_from_a_systemd_credential(
    migrated_db: peewee.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "encryption-key").write_text("credential passphrase\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    monkeypatch.setenv("VODTENDER_CONFIG_DIR", str(tmp_path))
    key = load_config([]).encryption_key
    assert key == "credential passphrase"
    TokenStore(TokenCipher(key)).save(TokenGrant("access-1234567890", time.time() + 60, "refresh-1234567890", "s"))
    assert OAuthToken.get(OAuthToken.provider == "youtube").refresh_token.startswith("enc:v2:")
    assert TokenStore(TokenCipher("credential passphrase")).load().refresh_token == "refresh-1234567890"
