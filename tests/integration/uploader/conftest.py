"""The uploader as a real process against the YouTube stand-in, on a SQLite file shared with the test."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import peewee
import pytest

from tests.helpers.processes import DaemonProcess, base_env, wait_until
from tests.standins.youtube import YouTubeStandIn
from vodtender.clients.google_oauth import TokenGrant
from vodtender.pipeline.shared_limits import youtube_quota
from vodtender.pipeline.upload.quota import pacific_day
from vodtender.pipeline.upload.tokens import StoredToken, TokenCipher, TokenStore
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import DaemonHeartbeat, Vod

MIB = 1024 * 1024


@pytest.fixture
def youtube() -> Iterator[YouTubeStandIn]:
    with YouTubeStandIn() as standin:
        yield standin


@pytest.fixture
def db(db_path: Path) -> Iterator[peewee.Database]:
    database = open_database(str(db_path))
    migrate(database)
    yield database
    database.close()


def write_video(path: Path, size: int) -> Path:
    """`size` bytes of random-looking data; every MiB block is numbered, so a misplaced one changes the hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MIB)
    with open(path, "wb") as f:
        for index in range(size // MIB):
            f.write(index.to_bytes(8, "big") + block[8:])
        f.write(block[: size % MIB])
    return path


def downloaded_vod(workdir: Path, size: int, twitch_id: str = "1001", title: str = "A stream", **fields) -> Vod:
    path = write_video(workdir / "data" / f"{twitch_id}.mp4", size)
    return Vod.create(
        twitch_vod_id=twitch_id,
        channel="somechannel",
        title=title,
        date=dt.datetime(2026, 3, 1, 18, 5),
        duration_seconds=3600,
        download_state="downloaded",
        downloaded_path=str(path),
        download_host=socket.gethostname(),
        download_bytes=size,
        download_total=size,
        **fields,
    )


def store_tokens(youtube: YouTubeStandIn, key: str | None = None, lifetime: float = 3600) -> dict:
    issued = youtube.issue_tokens()
    TokenStore(TokenCipher(key)).save(
        TokenGrant(issued["access_token"], time.time() + lifetime, issued["refresh_token"], issued["scope"])
    )
    return issued


def stored_tokens(workdir: Path, key: str | None = None) -> StoredToken | None:
    """The tokens as an uploader in `workdir` reads them: with `key`, or with the key file it generated."""
    return TokenStore(TokenCipher(key, workdir / "encryption.key")).load()


def uploader_env(workdir: Path, db_path: Path, youtube: YouTubeStandIn | None, **extra: str) -> dict[str, str]:
    settings = {
        "DB_DSN": str(db_path),
        "DATA_DIR": str(workdir / "data"),
        "HEARTBEAT_INTERVAL": "0.5s",
        "UPLOAD_CHUNK_SIZE": "1M",
        "UPLOAD_BACKOFF_BASE": "0.2s",
        "UPLOAD_TIMEOUT": "10s",
        "LEASE_DURATION": "30s",
        "UPLOAD_PROCESSING_CHECK": "0.2s",
    }
    if youtube is not None:
        settings.update(
            YT_CLIENT_ID=youtube.client_id,
            YT_CLIENT_SECRET=youtube.client_secret,
            YOUTUBE_API_URL=youtube.url,
            YOUTUBE_TOKEN_URL=youtube.token_url,
            YOUTUBE_AUTH_URL=youtube.auth_url,
        )
    return base_env(workdir, **{**settings, **extra})


def fresh(vod: Vod) -> Vod:
    return Vod.get_by_id(vod.id)


def wait_done(vod: Vod, uploader: DaemonProcess, timeout: float = 60) -> Vod:
    def done() -> Vod | None:
        if uploader.proc is not None and uploader.proc.poll() is not None:
            raise AssertionError(f"uploader exited:\n{uploader.log()[-3000:]}")
        row = fresh(vod)
        return row if row.processed == 1 else None

    return wait_until(done, timeout, 0.1, what=f"VOD {vod.twitch_vod_id} processed")  # type: ignore[return-value]


def kill_while_held(
    workdir: Path, env: dict[str, str], youtube: YouTubeStandIn, what: str, timeout: float, check: Callable[[], None]
) -> None:
    """Start an uploader, wait until the stand-in holds its upload (a Fault of kind "hold"), `check`
    what is stored at that moment, then SIGKILL the uploader mid-upload and let the stand-in go."""
    first = DaemonProcess("uploader", workdir, env=env).start()
    try:
        wait_until(youtube.holding.is_set, timeout, what=what)
        check()
        first.signal(signal.SIGKILL)
        first.proc.wait(10)
    finally:
        first.kill()
        youtube.release()


def uploader_status() -> str:
    row = (
        DaemonHeartbeat.select()
        .where(DaemonHeartbeat.daemon == "uploader")
        .order_by(DaemonHeartbeat.updated_at.desc())
        .first()
    )
    return row.status if row else ""


def metric(uploader: DaemonProcess, name: str) -> float | None:
    _, text = uploader.http("/metrics")
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def quota_used_today() -> int:
    """YouTube quota units counted today (Pacific day), as every uploader shares them."""
    return int(youtube_quota(0).used(pacific_day(time.time())))
