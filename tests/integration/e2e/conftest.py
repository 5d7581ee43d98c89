"""Fixtures of the end-to-end tier: a seeded run, a fake Twitch + YouTube, a vodtender stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.faults import run_seed
from tests.e2e.harness import FAST_HELIX_WINDOW, FakeTwitch
from tests.e2e.stack import Stack


@pytest.fixture
def seed() -> int:
    return run_seed()


@pytest.fixture(scope="session")
def vod_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Twitch stand-in's encodes, shared by every test of the session (one per VOD length)."""
    return tmp_path_factory.mktemp("vod-cache")


@pytest.fixture
def world(tmp_path: Path, vod_cache: Path) -> Iterator[FakeTwitch]:
    with FakeTwitch(tmp_path / "world", vod_cache, helix_window=FAST_HELIX_WINDOW) as fake:
        yield fake


@pytest.fixture
def make_stack(tmp_path: Path, world: FakeTwitch) -> Iterator:
    """make_stack(data_dir=, dsn=, **settings) -> a Stack pointed at `world`, YouTube tokens stored.

    Its daemons are killed at the end of the test, whatever happened."""
    stacks: list[Stack] = []

    def make(data_dir: Path | None = None, dsn: str | None = None, **settings: str) -> Stack:
        stack = Stack(
            tmp_path / "vodtender",
            {**world.settings(), **settings},
            data_dir=data_dir,
            dsn=dsn,
            env=world.environment(),
        )
        stack.migrate()
        world.seed_youtube_tokens(stack)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.kill_all()
