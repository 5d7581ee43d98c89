"""Fixtures every tier shares.  Tier markers are set from the folder a test lives in, and the
unit tier is held to its promise: a unit test that starts a process fails."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import peewee
import pytest

from tests.helpers.postgres import PostgresCluster
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import database_proxy

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "system")
DB_KINDS = ("sqlite", "postgresql")


def folders_of(item: pytest.Item) -> tuple[str, ...]:
    """The folders between tests/ and the test's file: ("integration", "e2e") for tests/integration/e2e/x.py."""
    path = Path(item.path).resolve()
    return path.relative_to(TESTS).parts[:-1] if path.is_relative_to(TESTS) else ()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folders = folders_of(item)
        if folders and folders[0] in TIERS:
            item.add_marker(getattr(pytest.mark, folders[0]))
        if "e2e" in folders:
            item.add_marker(pytest.mark.e2e)


# `make test` runs the suite on two pytest-xdist workers.  Each file's tests go to one worker (its
# module and session fixtures are built once), and the files that load the machine most (whole
# stacks, several hosts, many daemons at once) go, as one unit, to one worker, one after another,
# beside the lighter files on the other: never two of them at the same time.  (A scheduler of our
# own: xdist's `--dist loadgroup` marks do not reach pytest 9's node ids.)
SERIAL_UNIT = "serial"
SERIAL_FILES = (
    "tests/integration/e2e/",
    "tests/integration/scaleout/",
    "tests/integration/recorder/test_recorder.py",
    "tests/integration/runtime/test_sqlite_contention.py",
)


def scheduling_unit(nodeid: str) -> str:
    """The unit of work a test is sent to a worker in: its file, or SERIAL_UNIT."""
    file = nodeid.split("::", 1)[0]
    return SERIAL_UNIT if file.startswith(SERIAL_FILES) else file


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from xdist.scheduler import LoadScopeScheduling  # only under `pytest -n`

    class FileScheduling(LoadScopeScheduling):
        """xdist's scope scheduling (largest unit first) over `scheduling_unit`."""

        def _split_scope(self, nodeid: str) -> str:
            return scheduling_unit(nodeid)

    return FileScheduling(config, log)


class InProcessGuard:
    """While a unit test runs (setup, call, teardown), every way of starting a process fails it.

    Blocked at the bottom so that every wrapper is caught: `Popen._execute_child` (subprocess.run,
    check_output, os.popen, asyncio), fork (multiprocessing, pty) and the posix_spawn family.
    The shared PostgreSQL server is the one exception (`allowed()`): a peer of the whole run,
    started once so that the unit tests can run on both database kinds.
    """

    TARGETS: tuple[tuple[object, str], ...] = (
        (subprocess.Popen, "_execute_child"),
        (os, "fork"),
        (os, "forkpty"),
        (os, "posix_spawn"),
        (os, "posix_spawnp"),
        (os, "system"),
    )

    def __init__(self) -> None:
        self._allowed = 0

    @contextmanager
    def guarding(self, item: pytest.Item) -> Iterator[None]:
        with pytest.MonkeyPatch.context() as patch:
            for owner, name in self.TARGETS:
                if hasattr(owner, name):
                    patch.setattr(owner, name, self._refusing(item, name, getattr(owner, name)))
            yield

    @contextmanager
    def allowed(self) -> Iterator[None]:
        self._allowed += 1
        try:
            yield
        finally:
            self._allowed -= 1

    def _refusing(self, item: pytest.Item, name: str, original: Callable[..., object]) -> Callable[..., object]:
        def refuse(*args: object, **kwargs: object) -> object:
            if self._allowed:
                return original(*args, **kwargs)
            started = f"subprocess {args[1]!r}" if name == "_execute_child" else f"os.{name}{args!r}"
            mirror = Path("tests", "integration", *folders_of(item)[1:], item.path.name)
            pytest.fail(
                f"{item.nodeid} started a process: {started}.\nUnit tests run in-process; a test that "
                f"needs a process belongs in the integration tier ({mirror}).",
                pytrace=False,
            )

        return refuse


PROCESS_GUARD = InProcessGuard()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # The run's last teardown also finalizes the session fixtures of every tier: not the unit test's doing.
    return (yield from _guarded(item, last=nextitem is None))


def _guarded(item: pytest.Item, last: bool = False) -> Iterator[None]:
    if item.get_closest_marker("unit") is None or last:
        return (yield)
    with PROCESS_GUARD.guarding(item):
        return (yield)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vodtender.db"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One real PostgreSQL server for the whole run, started on first use (loopback, free port)."""
    with PROCESS_GUARD.allowed():
        cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()  # in the run's last teardown, which is never guarded


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
    unbind_models_from(name)
    cluster.drop_database(name)


def unbind_models_from(name: str) -> None:
    """The models forget a PostgreSQL database that is about to be dropped.  Left bound, a later test's
    query through them (a scrape of the process's metrics counts the queue) would wait out the
    reconnect patience on a database that is gone; unbound, it fails at once."""
    db = database_proxy.obj
    if isinstance(db, peewee.PostgresqlDatabase) and db.database == name:
        db.close()
        database_proxy.initialize(None)


@pytest.fixture
def migrated_db(db_dsn: str) -> Iterator[peewee.Database]:
    """A fresh, migrated database bound to the models: SQLite, then PostgreSQL (parametrised)."""
    db = open_database(db_dsn)
    migrate(db)
    yield db
    db.close()


@pytest.fixture(autouse=True)
def umask_restored() -> Iterator[None]:
    """A command run in-process narrows the umask for good (cli/main.py): the next test starts from the worker's."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Processes the test starts get umask 022, as from a login shell: what they create must still be private."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder for daemon processes: cwd, logs, and an empty etc/ as config dir."""
    (tmp_path / "etc").mkdir(exist_ok=True)
    return tmp_path
