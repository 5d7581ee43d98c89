"""The one redaction: known secrets wherever they appear, secret-looking fields whatever their value."""

from __future__ import annotations

import pytest

from tests.unit.runtime.conftest import ConfigEnv
from vodtender.runtime.config import load_config
from vodtender.runtime.redact import dsn_password, redact, redact_data, register_config_secrets, register_secret


@pytest.mark.parametrize(
    "text,hidden,kept",
    [
        (
            "HTTP 400 malformed request: client_id=cid&client_secret=unknown-value-1&grant_type=client_credentials",
            "unknown-value-1",
            "client_id=cid&client_secret=****&grant_type=client_credentials",
        ),
        ('{"access_token": "at-unknown-2", "refresh_token": "rt-unknown-3"}', "unknown-", '"access_token": "****"'),
        ("sent Authorization: OAuth oa-unknown-4 to the API", "oa-unknown-4", "Authorization: OAuth ****"),
        ("headers={'Authorization': 'Bearer br-unknown-5'}", "br-unknown-5", "Bearer ****"),
        (
            "could not connect: postgresql://vt:pw-unknown-6@db:5432/vt",
            "pw-unknown-6",
            "postgresql://vt:****@db:5432/vt",
        ),
        ("host=db password=pw-unknown-7 dbname=vt", "pw-unknown-7", "host=db password=**** dbname=vt"),
    ],
)
def test_secret_looking_fields_are_hidden_whatever_their_value(text: str, hidden: str, kept: str) -> None:
    assert hidden not in redact(text)
    assert kept in redact(text)


def test_prose_and_already_masked_values_are_left_alone() -> None:
    for text in (
        "set YT_CLIENT_ID and YT_CLIENT_SECRET (a Google OAuth client of type Desktop)",
        "helix app token obtained token=****abcd expires_in=3600",
        "exit_code=3 status_code=404",
    ):
        assert redact(text) == text


def test_a_known_secret_is_masked_anywhere_with_its_last_four_characters() -> None:
    register_secret("oauth:known-chat-token-0815")
    assert redact("PASS known-chat-token-0815 sent") == "PASS ****0815 sent"
    assert redact_data({"status": ["x oauth:known-chat-token-0815"], "n": 3}) == {"status": ["x ****0815"], "n": 3}


def test_the_configured_secrets_and_the_dsn_password_are_known(config_env: ConfigEnv) -> None:
    config_env(
        DB_DSN="postgresql://vt:dsn-password-4711@db/vt",
        TWITCH_CLIENT_SECRET="configured-client-secret-99",
        YT_CLIENT_SECRET="configured-yt-secret-98",
        ENCRYPTION_KEY="configured-passphrase-97",
    )
    register_config_secrets(load_config())
    text = redact("dsn-password-4711 configured-client-secret-99 configured-yt-secret-98 configured-passphrase-97")
    assert "dsn-password" not in text and "configured-" not in text


def test_dsn_password_reads_both_dsn_forms() -> None:
    assert dsn_password("postgresql://vt:p%40ss@db/vt") == "p@ss"
    assert dsn_password("host=db password='a b' dbname=vt") == "a b"
    assert dsn_password("vodtender.db") is None
