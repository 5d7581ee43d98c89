"""Sites for downloader processes: the Twitch stand-in (`twitch`, `twitch_any_db`: GQL, usher and CDN,
through yt-dlp's real Twitch extractor and the default URL template) for every test of the Twitch path,
and the old loopback HLS stand-in (`site`: one VOD folder per id, reached through yt-dlp's generic
extractor) only for what is not about Twitch: yt-dlp's own download of a progressive file, and the HLS
stand-in itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import DaemonProcess, base_env, wait_until
from tests.standins.hls import PLAYLIST, HlsServer, make_vod
from tests.standins.twitch import Rendition, TwitchStandin, VodSpec, ytdlp_hook_env
from tests.standins.twitch_media import RenditionMedia, build_rendition
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import Vod, VodEvent

SEGMENTS = 24
MUTED = (5,)

SOURCE_TS = Rendition("1080p60", "h264", "ts")
# The VOD most downloader tests fetch: 20 MPEG-TS segments of 2 s, the fourth muted (listed by the master's
# playlist as 3-muted.ts).  The same encode as test_twitch_vods.py's MPEG-TS case: made once per session.
TS_VOD = VodSpec((SOURCE_TS,), muted=(3,))


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
        self.media_cache = media_cache
        self.specs: dict[str, VodSpec] = {}
        self.twitch = TwitchStandin(workdir / "twitch", media_cache=media_cache).start()

    def site_env(self) -> dict[str, str]:
        return ytdlp_hook_env(self.twitch.base_url)

    def add_vod(self, vod_id: str, spec: VodSpec, *, priority: int = 0, day: int = 1, **fields: Any) -> None:
        """The VOD on Twitch and its row in the database."""
        self.specs[vod_id] = spec
        self._publish(vod_id)
        self.add_row(vod_id, duration=spec.segments * spec.segment_seconds, priority=priority, day=day, **fields)

    def network_down(self) -> None:
        """Nothing answers at the site's address any more: every connection is refused."""
        self.twitch.stop()

    def network_up(self) -> None:
        """The site answers again at the same address, with the same VODs (fault rules and counts anew)."""
        port = int(self.twitch.base_url.rsplit(":", 1)[1])
        self.twitch = TwitchStandin(self.workdir / "twitch", media_cache=self.media_cache, port=port).start()
        for vod_id in self.specs:
            self._publish(vod_id)

    def _publish(self, vod_id: str) -> None:
        self.twitch.add_vod(vod_id, self.specs[vod_id], title=f"Stream {vod_id}")

    def served(self, vod_id: str) -> bytes:
        """The VOD's MPEG-TS source segments as the CDN serves them, end to end: what its download holds."""
        return concatenated_ts(self.media_cache, self.specs[vod_id])

    def segment_paths(self, vod_id: str) -> list[str]:
        """The stand-in's paths (as `counts` and fault rules name them) of the source's segments, in order,
        each under the name the master's playlist lists (a muted one as N-muted.ts)."""
        spec = self.specs[vod_id]
        playlist = self.twitch.media_playlist_url(vod_id, "chunked").removeprefix(self.twitch.base_url + "/")
        folder = playlist.rsplit("/", 1)[0]
        return [
            f"{folder}/{s.file.replace('.', '-muted.')}" if s.index in spec.muted else f"{folder}/{s.file}"
            for s in _source(self.media_cache, spec).segments
        ]

    def segment_counts(self, vod_id: str) -> list[int]:
        """How often each source segment of the VOD was asked for, in playlist order."""
        return [self.twitch.counts[path] for path in self.segment_paths(vod_id)]

    def throttle(self, vod_id: str, seconds_per_segment: float) -> None:
        """Serve every segment of the VOD slowly enough that the largest takes `seconds_per_segment`."""
        media = _source(self.media_cache, self.specs[vod_id])
        largest = max((media.folder / s.file).stat().st_size for s in media.segments)
        folder = self.segment_paths(vod_id)[0].rsplit("/", 1)[0]
        self.twitch.add_rule(folder + "/*.ts", rate=largest / seconds_per_segment)

    def close(self) -> None:
        self.twitch.stop()
        super().close()


def _source(media_cache: Path, spec: VodSpec) -> RenditionMedia:
    """The source rendition's encode (from the cache the stand-in filled)."""
    return build_rendition(media_cache, spec.renditions[0], spec.layout)


def concatenated_ts(media_cache: Path, spec: VodSpec) -> bytes:
    """The source rendition's MPEG-TS segments of `spec` as the Twitch stand-in serves them (a muted one
    with its silent audio), end to end: what a correct download of it holds, byte for byte."""
    media = _source(media_cache, spec)
    return b"".join((media.folder / segment.file).read_bytes() for segment in media.segments)


@pytest.fixture
def site(tmp_path: Path, workdir: Path, vod_source: Path, db_path: Path) -> Iterator[Site]:
    """The HLS stand-in on SQLite (the default database)."""
    root = tmp_path / "www"
    root.mkdir()
    made = Site(root, vod_source, workdir, str(db_path))
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


@pytest.fixture
def twitch_any_db(workdir: Path, db_dsn: str, twitch_media: Path) -> Iterator[TwitchSite]:
    """The Twitch stand-in on SQLite, then on PostgreSQL."""
    made = TwitchSite(workdir, db_dsn, twitch_media)
    yield made
    made.close()
