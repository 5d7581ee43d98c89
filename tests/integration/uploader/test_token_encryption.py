"""Tokens at rest: encrypted by default under a generated 0600 key, old rows re-encrypted by the uploader,
`vodtender auth rotate-key` under a running uploader, a wrong key one clear error."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import peewee
import pytest
from cryptography.fernet import Fernet

from tests.helpers.processes import DaemonProcess, wait_until
from tests.integration.uploader.conftest import (
    MIB,
    downloaded_vod,
    store_tokens,
    stored_tokens,
    uploader_env,
    uploader_status,
    wait_done,
)
from tests.integration.uploader.test_uploader_holds import authorize_with_cli
from tests.standins.youtube import YouTubeStandIn
from vodtender.pipeline.upload.tokens import TokenCipher, TokenUnreadable
from vodtender.runtime.models import OAuthToken

PASSPHRASE = "the operator's passphrase"


def stored_row() -> OAuthToken:
    return OAuthToken.get(OAuthToken.provider == "youtube")


def rotate_key(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vodtender", "auth", "rotate-key", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def unsalted_seal(passphrase: str, value: str) -> str:
    """What versions before the salted format stored: one unsalted SHA-256 of the passphrase as the key."""
    key = base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())
    return "enc:v1:" + Fernet(key).encrypt(value.encode()).decode()


def test_auth_youtube_encrypts_under_a_generated_private_key_the_uploader_uses(
    loose_umask: None, workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    env = uploader_env(workdir, db_path, youtube)  # no ENCRYPTION_KEY
    out = authorize_with_cli(env, workdir)
    key_file = workdir / "encryption.key"
    assert f"encrypted with the key file {key_file}" in out
    assert key_file.stat().st_mode & 0o777 == 0o600
    row = stored_row()
    assert row.refresh_token.startswith("enc:v1:") and row.refresh_token not in youtube.refresh_tokens
    assert not any(token in row.access_token + row.refresh_token for token in youtube.refresh_tokens)
    vod = downloaded_vod(workdir, MIB)
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        assert wait_done(vod, uploader).youtube_url
    assert key_file.read_text().strip() not in uploader.log()


@pytest.mark.parametrize("stored_as", ["plaintext", "unsalted"])
def test_the_uploader_encrypts_older_rows_at_start_and_uploads(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn, stored_as: str
) -> None:
    issued = store_tokens(youtube)
    if stored_as == "unsalted":
        OAuthToken.update(
            access_token=unsalted_seal(PASSPHRASE, issued["access_token"]),
            refresh_token=unsalted_seal(PASSPHRASE, issued["refresh_token"]),
        ).execute()
    env = uploader_env(workdir, db_path, youtube, ENCRYPTION_KEY=PASSPHRASE)
    vod = downloaded_vod(workdir, MIB)
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        uploader.wait_for_log(r"stored OAuth tokens encrypted under the current key.*rows=1")
        assert wait_done(vod, uploader).youtube_url
    row = stored_row()
    assert row.refresh_token.startswith("enc:v2:") and row.access_token.startswith("enc:v2:")
    assert issued["refresh_token"] not in row.refresh_token
    token = stored_tokens(workdir, PASSPHRASE)
    assert token and token.refresh_token == issued["refresh_token"]


def test_rotate_key_under_a_running_uploader_keeps_it_uploading(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    env = uploader_env(workdir, db_path, youtube)
    issued = store_tokens(youtube, lifetime=0)  # plaintext and expired: sealed at start, refreshed at once
    first = downloaded_vod(workdir, MIB, twitch_id="1001")
    key_file = workdir / "encryption.key"
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        assert wait_done(first, uploader).youtube_url
        old_key, old_row = key_file.read_text().strip(), stored_row().refresh_token
        rotated = rotate_key(workdir, env)
        assert rotated.returncode == 0, rotated.stderr
        assert f"1 token row(s) re-encrypted with the key file {key_file}" in rotated.stdout
        new_key = key_file.read_text().strip()
        assert new_key != old_key and "\n" not in new_key and key_file.stat().st_mode & 0o777 == 0o600
        assert stored_row().refresh_token != old_row
        refreshes = youtube.count("POST", "token")
        youtube.access_tokens.clear()  # Google forgets the access token: the uploader must refresh with the row
        second = downloaded_vod(workdir, MIB, twitch_id="1002")
        assert wait_done(second, uploader).youtube_url
        assert youtube.count("POST", "token") > refreshes
    token = stored_tokens(workdir)
    assert token and token.refresh_token == issued["refresh_token"]
    with pytest.raises(TokenUnreadable, match="cannot be decrypted"):
        TokenCipher(old_key).open(stored_row().refresh_token)  # the old key opens nothing any more


def test_a_wrong_key_is_one_clear_error(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    store_tokens(youtube, key=PASSPHRASE)
    before = stored_row().refresh_token
    env = uploader_env(workdir, db_path, youtube, ENCRYPTION_KEY="not the passphrase")
    rotated = rotate_key(workdir, env)
    assert rotated.returncode == 1 and "Traceback" not in rotated.stderr
    assert rotated.stderr.strip().splitlines() == [
        "vodtender auth rotate-key: tokens cannot be decrypted with ENCRYPTION_KEY; nothing changed"
    ]
    assert stored_row().refresh_token == before
    vod = downloaded_vod(workdir, MIB)
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        wait_until(lambda: "cannot be decrypted" in uploader_status(), 20, what="STATUS to say why")
        code, body = uploader.http("/readyz")
        assert code == 503 and "cannot be decrypted with ENCRYPTION_KEY" in body
        assert uploader.log().count("<3>uploader: uploads paused") == 1
    assert "Traceback" not in uploader.log() and stored_row().refresh_token == before
    assert vod.processed == 0
    old_key_file = workdir / "old.key"
    old_key_file.write_text(PASSPHRASE + "\n")
    rotated = rotate_key(workdir, env, "--old-key-file", str(old_key_file))  # the operator's change of key
    assert rotated.returncode == 0 and "1 token row(s) re-encrypted with ENCRYPTION_KEY" in rotated.stdout
    token = stored_tokens(workdir, "not the passphrase")
    assert token and token.refresh_token in youtube.refresh_tokens
