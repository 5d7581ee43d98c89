"""Sites for downloader processes: the loopback HLS stand-in (`site`: one VOD encoded once per
session; every VOD id is a folder linked to it, so a test can queue several VODs that all serve
the same segments) and the Twitch stand-in (`twitch`: GQL, usher and CDN, through yt-dlp's real
Twitch extractor)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import DaemonProcess, base_env, wait_until
from tests.standins.hls import PLAYLIST, HlsServer, make_vod
from tests.standins.twitch import TwitchStandin, VodSpec, ytdlp_hook_env
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import Vod, VodEvent

SEGMENTS = 24
MUTED = (5,)


@pytest.fixture(scope="session")
def vod_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hls") / "source"
    make_vod(folder, segments=SEGMENTS, muted=MUTED)
    return folder


class DownloaderSite:
    """A database and a data folder for `vodtender downloader` processes, and the VODs' rows."""

    def __init__(self, workdir: Path, dsn: str):
        self.workdir = workdir
        self.dsn = dsn
        self.data_dir = workdir / "data"
        self.db = open_database(dsn)
        migrate(self.db)

    def add_row(self, vod_id: str, *, duration: int, priority: int = 0, day: int = 1, **fields: Any) -> None:
        Vod.create(
            twitch_vod_id=vod_id,
            channel="chan",
            title=f"Stream {vod_id}: a/b \\ c",
            date=dt.datetime(2026, 11, day),
            duration_seconds=duration,
            priority=priority,
            **fields,
        )

    def sql(self, statement: str) -> list[tuple]:
        """Run SQL as an operator would (the runbook's statements), return the rows if any."""
        cursor = self.db.execute_sql(statement)
        return cursor.fetchall() if cursor.description else []

    def vod(self, vod_id: str) -> dict[str, Any]:
        return Vod.select().where(Vod.twitch_vod_id == vod_id).dicts().get()

    def events(self, vod_id: str) -> list[dict[str, Any]]:
        return list(VodEvent.select().join(Vod).where(Vod.twitch_vod_id == vod_id).order_by(VodEvent.id).dicts())

    def site_env(self) -> dict[str, str]:
        """What points the downloader at this site."""
        raise NotImplementedError

    def env(self, **extra: str) -> dict[str, str]:
        settings = {
            "DB_DSN": self.dsn,
            "DATA_DIR": str(self.data_dir),
            "DOWNLOAD_MIN_FREE": "0",
            "DOWNLOAD_BACKOFF_BASE": "1s",
            "HEARTBEAT_INTERVAL": "1s",
            **self.site_env(),
            **extra,
        }
        return base_env(self.workdir, **settings)

    def downloader(self, **extra: str) -> DaemonProcess:
        return DaemonProcess("downloader", self.workdir, env=self.env(**extra))

    def wait_state(self, vod_id: str, states: tuple[str, ...], timeout: float = 60.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            row = self.vod(vod_id)
            return row if row["download_state"] in states else None

        return wait_until(reached, timeout, interval=0.1, what=f"VOD {vod_id} in {states}")  # type: ignore

    def close(self) -> None:
        self.db.close()


class Site(DownloaderSite):
    """The loopback HLS stand-in, reached through yt-dlp's generic extractor: VOD folders of one encode."""

    def __init__(self, root: Path, source: Path, workdir: Path, dsn: str):
        super().__init__(workdir, dsn)
        self.root = root
        self.source = source
        self.server = HlsServer(root).start()

    @property
    def url_template(self) -> str:
        return self.server.base_url + "{id}/" + PLAYLIST

    def site_env(self) -> dict[str, str]:
        return {"TWITCH_VOD_URL_TEMPLATE": self.url_template}

    def add_vod(self, vod_id: str, *, served: bool = True, priority: int = 0, day: int = 1) -> None:
        """A VOD row in the database (and its folder on the server, unless `served` is False)."""
        if served:
            (self.root / vod_id).symlink_to(self.source, target_is_directory=True)
        self.add_row(vod_id, duration=SEGMENTS * 10, priority=priority, day=day)

    def close(self) -> None:
        self.server.stop()
        super().close()


class TwitchSite(DownloaderSite):
    """The Twitch stand-in (GQL, usher, CDN), reached through yt-dlp's real Twitch extractor with the
    default TWITCH_VOD_URL_TEMPLATE: the sitecustomize hook points the extractor's hosts at loopback."""

    def __init__(self, workdir: Path, dsn: str, media_cache: Path):
        super().__init__(workdir, dsn)
        self.twitch = TwitchStandin(workdir / "twitch", media_cache=media_cache).start()

    def site_env(self) -> dict[str, str]:
        return ytdlp_hook_env(self.twitch.base_url)

    def add_vod(self, vod_id: str, spec: VodSpec, *, priority: int = 0, day: int = 1, **fields: Any) -> None:
        self.twitch.add_vod(vod_id, spec, title=f"Stream {vod_id}")
        self.add_row(vod_id, duration=spec.segments * spec.segment_seconds, priority=priority, day=day, **fields)

    def close(self) -> None:
        self.twitch.stop()
        super().close()


def _site(tmp_path: Path, workdir: Path, vod_source: Path, dsn: str) -> Site:
    root = tmp_path / "www"
    root.mkdir()
    return Site(root, vod_source, workdir, dsn)


@pytest.fixture
def site(tmp_path: Path, workdir: Path, vod_source: Path, db_path: Path) -> Iterator[Site]:
    """The site on SQLite (the default database)."""
    made = _site(tmp_path, workdir, vod_source, str(db_path))
    yield made
    made.close()


@pytest.fixture
def site_any_db(tmp_path: Path, workdir: Path, vod_source: Path, db_dsn: str) -> Iterator[Site]:
    """The site on SQLite, then on PostgreSQL."""
    made = _site(tmp_path, workdir, vod_source, db_dsn)
    yield made
    made.close()


@pytest.fixture(scope="session")
def twitch_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in's encodes, made once per session and shared by every test."""
    return tmp_path_factory.mktemp("twitch-media")


@pytest.fixture
def twitch(workdir: Path, db_path: Path, twitch_media: Path) -> Iterator[TwitchSite]:
    """The Twitch stand-in on SQLite."""
    made = TwitchSite(workdir, str(db_path), twitch_media)
    yield made
    made.close()
