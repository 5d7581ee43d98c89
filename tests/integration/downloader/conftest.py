"""A Twitch-like VOD made once per session, served per test by the loopback HLS stand-in.

Every VOD id is a folder of the server root linked to the one encoded VOD, so a test can
queue several VODs (`1001`, `1002`, ...) that all serve the same segments.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import DaemonProcess, base_env, wait_until
from tests.standins.hls import PLAYLIST, HlsServer, make_vod
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import Vod

SEGMENTS = 24
MUTED = (5,)


@pytest.fixture(scope="session")
def vod_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hls") / "source"
    make_vod(folder, segments=SEGMENTS, muted=MUTED)
    return folder


class Site:
    """The loopback "Twitch": VOD folders, the server, and the database the downloader uses."""

    def __init__(self, root: Path, source: Path, workdir: Path):
        self.root = root
        self.source = source
        self.workdir = workdir
        self.server = HlsServer(root).start()
        self.db_path = workdir / "vodtender.db"
        self.data_dir = workdir / "data"

    @property
    def url_template(self) -> str:
        return self.server.base_url + "{id}/" + PLAYLIST

    def add_vod(self, vod_id: str, *, served: bool = True, priority: int = 0, day: int = 1) -> None:
        """A VOD row in the database (and its folder on the server, unless `served` is False)."""
        if served:
            (self.root / vod_id).symlink_to(self.source, target_is_directory=True)
        Vod.create(twitch_vod_id=vod_id, channel="chan", title=f"Stream {vod_id}: a/b \\ c",
                   date=dt.datetime(2026, 11, day), duration_seconds=SEGMENTS * 10, priority=priority)

    def sql(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def vod(self, vod_id: str) -> sqlite3.Row:
        with self.sql() as db:
            return db.execute("SELECT * FROM vods WHERE twitch_vod_id = ?", (vod_id,)).fetchone()

    def events(self, vod_id: str) -> list[sqlite3.Row]:
        with self.sql() as db:
            return db.execute("SELECT e.* FROM vod_events e JOIN vods v ON v.id = e.vod_id "
                              "WHERE v.twitch_vod_id = ? ORDER BY e.id", (vod_id,)).fetchall()

    def env(self, **extra: str) -> dict[str, str]:
        settings = {"DB_DSN": str(self.db_path), "DATA_DIR": str(self.data_dir),
                    "TWITCH_VOD_URL_TEMPLATE": self.url_template, "DOWNLOAD_MIN_FREE": "0",
                    "DOWNLOAD_BACKOFF_BASE": "1s", "HEARTBEAT_INTERVAL": "1s", **extra}
        return base_env(self.workdir, **settings)

    def downloader(self, **extra: str) -> DaemonProcess:
        return DaemonProcess("downloader", self.workdir, env=self.env(**extra))

    def wait_state(self, vod_id: str, states: tuple[str, ...], timeout: float = 60.0) -> sqlite3.Row:
        def reached() -> sqlite3.Row | None:
            row = self.vod(vod_id)
            return row if row["download_state"] in states else None
        return wait_until(reached, timeout, interval=0.1, what=f"VOD {vod_id} in {states}")  # type: ignore


@pytest.fixture
def site(tmp_path: Path, workdir: Path, vod_source: Path) -> Iterator[Site]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "_source").symlink_to(vod_source, target_is_directory=True)
    made = Site(root, vod_source, workdir)
    db = open_database(str(made.db_path))
    migrate(db)
    yield made
    made.server.stop()
    db.close()
