"""A Twitch stand-in with live channels, a database and `vodtender recorder` processes.

The stand-in's live side runs on its own compressed clock (`LiveSpec.speed` stream seconds per
real second); program date times, and so the recording's spans and gaps, are on that clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import DaemonProcess, base_env, wait_until
from tests.standins.twitch import LiveSpec, TwitchStandin, ytdlp_hook_env
from tests.standins.twitch_live import LiveStream
from vodtender.runtime.clock import utcnow
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import Recording, Vod


class RecorderSite:
    def __init__(self, workdir: Path, dsn: str, media_cache: Path):
        self.workdir = workdir
        self.dsn = dsn
        self.data_dir = workdir / "data"
        self.db = open_database(dsn)
        migrate(self.db)
        self.twitch = TwitchStandin(workdir / "twitch", media_cache=media_cache).start()
        self._enders: list[threading.Thread] = []

    def go_live(self, channel: str, spec: LiveSpec, stream_id: str, *, end_after: int | None = None) -> LiveStream:
        """The channel goes live, and the poller's placeholder row appears as the poller writes it.  With
        `end_after`, the stream ends by itself once that many segments are out (the poller then closes it)."""
        stream = self.twitch.go_live(channel, spec, stream_id)
        Vod.create(
            twitch_vod_id=f"live-{stream_id}", channel=channel, is_placeholder=1, stream_id=stream_id, date=utcnow()
        )
        if end_after is not None:
            ender = threading.Thread(target=self._end_at, args=(channel, stream, end_after), daemon=True)
            ender.start()
            self._enders.append(ender)
        return stream

    def _end_at(self, channel: str, stream: LiveStream, segments: int) -> None:
        while stream.live_edge() < segments - 1:
            threading.Event().wait(0.1)
        self.end(channel, stream)

    def end(self, channel: str, stream: LiveStream) -> None:
        self.twitch.end_stream(channel)
        Vod.update(live_ended_at=utcnow()).where(Vod.twitch_vod_id == f"live-{stream.stream_id}").execute()

    def env(self, **extra: str) -> dict[str, str]:
        settings = {
            "DB_DSN": self.dsn,
            "DATA_DIR": str(self.data_dir),
            "LIVE_RECORD": "all",
            "LIVE_RECORD_POLL": "0.25s",
            "LIVE_RECORD_END_GRACE": "3s",
            "LEASE_DURATION": "3s",
            "DOWNLOAD_MIN_FREE": "0",
            "HEARTBEAT_INTERVAL": "1s",
            **ytdlp_hook_env(self.twitch.base_url),
            **extra,
        }
        return base_env(self.workdir, **settings)

    def recorder(self, **extra: str) -> DaemonProcess:
        return DaemonProcess("recorder", self.workdir, env=self.env(**extra))

    def recording(self, stream_id: str) -> dict[str, Any] | None:
        return Recording.select().where(Recording.stream_id == stream_id).dicts().first()

    def wait_recording(self, stream_id: str, states: tuple[str, ...], timeout: float = 90.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            row = self.recording(stream_id)
            return row if row is not None and row["state"] in states else None

        return wait_until(reached, timeout, 0.1, f"recording {stream_id} in {states}")  # type: ignore[return-value]

    def close(self) -> None:
        self.twitch.stop()
        self.db.close()


@pytest.fixture(scope="session")
def live_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("twitch-live-media")


@pytest.fixture
def live(workdir: Path, db_path: Path, live_media: Path) -> Iterator[RecorderSite]:
    made = RecorderSite(workdir, str(db_path), live_media)
    yield made
    made.close()


@pytest.fixture
def live_any_db(workdir: Path, db_dsn: str, live_media: Path) -> Iterator[RecorderSite]:
    made = RecorderSite(workdir, db_dsn, live_media)
    yield made
    made.close()
