"""Token store: plaintext by default, encrypted with a key; refresh before expiry; invalid_grant pauses."""

from __future__ import annotations

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


def test_plaintext_by_default(migrated_db: peewee.Database) -> None:
    store = TokenStore(TokenCipher(None))
    store.save(TokenGrant("access-1234567890", time.time() + 60, "refresh-1234567890", "s"))
    row = OAuthToken.get(OAuthToken.provider == "youtube")
    assert row.access_token == "access-1234567890" and row.refresh_token == "refresh-1234567890"
    assert store.load().refresh_token == "refresh-1234567890"


@pytest.mark.parametrize("key", ["a long passphrase", Fernet.generate_key().decode()])
def test_encrypted_with_a_key_and_unreadable_without(migrated_db: peewee.Database, key: str) -> None:
    TokenStore(TokenCipher(key)).save(TokenGrant("access-1234567890", time.time() + 60, "refresh-1234567890", "s"))
    row = OAuthToken.get(OAuthToken.provider == "youtube")
    assert "refresh-1234567890" not in row.refresh_token and row.refresh_token.startswith("enc:v1:")
    assert TokenStore(TokenCipher(key)).load().refresh_token == "refresh-1234567890"
    reason = AccessTokens(TokenStore(TokenCipher(None)), TokenEndpoint("http://127.0.0.1:9", "c", "s")).check()
    assert reason and "ENCRYPTION_KEY is not set" in reason
    reason = AccessTokens(TokenStore(TokenCipher("wrong key")), TokenEndpoint("http://127.0.0.1:9", "c", "s")).check()
    assert reason and "cannot be decrypted" in reason


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
    assert OAuthToken.get(OAuthToken.provider == "youtube").refresh_token.startswith("enc:v1:")
    assert TokenStore(TokenCipher("credential passphrase")).load().refresh_token == "refresh-1234567890"
