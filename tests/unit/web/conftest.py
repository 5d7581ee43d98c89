"""The web viewer in-process: the app of `create_app` on the fixture archive, driven by Flask's test client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import peewee
import pytest
from flask.testing import FlaskClient

from tests.helpers.web_archive import Archive, fill_archive
from tests.unit.runtime.conftest import ConfigEnv, config_env  # noqa: F401 (a fixture)
from vodtender.runtime.config import load_config
from vodtender.web.app import create_app

MEDIA_BYTES = bytes(range(256)) * 40  # a stand-in for the video: Range requests only see bytes
Viewer = Callable[..., FlaskClient]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def archive(migrated_db: peewee.Database, data_dir: Path) -> Archive:
    video = data_dir / "alpha" / "vod.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(MEDIA_BYTES)
    return fill_archive(data_dir, video)


@pytest.fixture
def viewer(config_env: ConfigEnv, archive: Archive, data_dir: Path, db_dsn: str) -> Viewer:  # noqa: F811
    """viewer(WEB_AUTH=..., remote="203.0.113.9") -> a client of the app for that configuration and peer."""

    def make(remote: str = "127.0.0.1", **env: str) -> FlaskClient:
        config_env(DB_DSN=db_dsn, DATA_DIR=str(data_dir), **env)
        app = create_app(load_config(), lambda: [])
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = remote
        return client

    return make
