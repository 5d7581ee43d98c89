"""Fixtures every tier shares.  Tier markers are set from the folder a test lives in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from tests.helpers.postgres import PostgresCluster
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate

TIERS = ("unit", "integration", "system")
DB_KINDS = ("sqlite", "postgresql")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vodtender.db"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One real PostgreSQL server for the whole run, started on first use (loopback, free port)."""
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: PostgresCluster) -> str:
    """A migrated database that each test's database is copied from (cheaper than migrating each)."""
    name = postgres_cluster.create_database("template")
    db = open_database(postgres_cluster.dsn(name))
    migrate(db)
    db.close()
    return name


@pytest.fixture(params=DB_KINDS)
def db_dsn(request: pytest.FixtureRequest, db_path: Path) -> Iterator[str]:
    """The DSN of this test's own database: a SQLite file, or a new PostgreSQL database.

    Every test that uses it (or `migrated_db`) runs once per kind.  Daemons a test starts
    must get this DSN (`DB_DSN=db_dsn`), not `db_path`, to share the test's database.
    """
    if request.param == "sqlite":
        yield str(db_path)
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    yield cluster.dsn(name)
    cluster.drop_database(name)


@pytest.fixture
def migrated_db(db_dsn: str) -> Iterator[peewee.Database]:
    """A fresh, migrated database bound to the models: SQLite, then PostgreSQL (parametrised)."""
    db = open_database(db_dsn)
    migrate(db)
    yield db
    db.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder for daemon processes: cwd, logs, and an empty etc/ as config dir."""
    (tmp_path / "etc").mkdir(exist_ok=True)
    return tmp_path
