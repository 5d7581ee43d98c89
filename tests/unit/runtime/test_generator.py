"""The systemd generator: PrivateNetwork=yes for maintenance with SQLite, nothing with PostgreSQL or on failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vodtender.runtime import generator
from vodtender.runtime.config import CONFIG_DIR_ENV

DROP_IN = Path("vodtender-maintenance.service.d", "50-private-network.conf")


@pytest.fixture
def etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "etc"
    folder.mkdir()
    monkeypatch.setenv(CONFIG_DIR_ENV, str(folder))
    monkeypatch.delenv("DB_DSN", raising=False)
    return folder


def run(tmp_path: Path) -> Path:
    out = tmp_path / "normal"
    saved = dict(os.environ)  # main() loads the env file into its own environment
    try:
        assert generator.main([str(out), str(tmp_path / "early"), str(tmp_path / "late")]) == 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return out


def test_the_default_sqlite_database_gets_a_private_network(
    etc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run(tmp_path)
    assert "PrivateNetwork=yes" in (out / DROP_IN).read_text().splitlines()


@pytest.mark.parametrize("where", ["env file", "config file"])
def test_postgresql_keeps_the_network(etc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    if where == "env file":
        (etc / "vodtender.env").write_text('# comment\nYT_CLIENT_SECRET=x\nDB_DSN="postgresql://u:p@db.internal/vt"\n')
    else:
        (etc / "vodtender.conf").write_text("db-dsn = postgresql://u:p@db.internal/vt\n")
    assert not (run(tmp_path) / DROP_IN).exists()


def test_the_env_file_wins_over_the_config_file_as_in_the_units(
    etc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (etc / "vodtender.conf").write_text("db-dsn = postgresql://u:p@db.internal/vt\n")
    (etc / "vodtender.env").write_text(f"DB_DSN={tmp_path}/vodtender.db\n")
    assert (run(tmp_path) / DROP_IN).exists()


def test_a_failure_writes_nothing_and_says_why(
    etc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(generator, "load_config", lambda: (_ for _ in ()).throw(OSError("unreadable")))
    assert not (run(tmp_path) / DROP_IN).exists()
    assert "vodtender-maintenance.service keeps its network: unreadable" in capsys.readouterr().err
