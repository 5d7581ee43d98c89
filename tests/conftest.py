"""Fixtures every tier shares.  Tier markers are set from the folder a test lives in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate

TIERS = ("unit", "integration", "system")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vodtender.db"


@pytest.fixture
def migrated_db(db_path: Path) -> Iterator[peewee.Database]:
    """A fresh, migrated SQLite database bound to the models."""
    db = open_database(str(db_path))
    migrate(db)
    yield db
    db.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder for daemon processes: cwd, logs, and an empty etc/ as config dir."""
    (tmp_path / "etc").mkdir(exist_ok=True)
    return tmp_path
