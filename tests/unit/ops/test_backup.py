"""Backups of the SQLite database: the rotation keeps the newest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vodtender.ops.backup import backup_sqlite, backups_in
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import Vod


def fresh_db(path: Path, vods: int = 30) -> None:
    """A migrated SQLite file holding `vods` rows (long titles: several pages to back up)."""
    db = open_database(str(path))
    migrate(db)
    with db.atomic():
        for i in range(vods):
            Vod.create(twitch_vod_id=str(i), channel=f"c{i % 3}", title="t" * 200)
    db.close()


@pytest.mark.parametrize("keep", [1, 3])
def test_rotation_keeps_the_newest(tmp_path: Path, keep: int) -> None:
    db = tmp_path / "vodtender.db"
    fresh_db(db, vods=1)
    made = [backup_sqlite(str(db), tmp_path / "b", keep=keep).path for _ in range(5)]
    assert backups_in(tmp_path / "b") == made[-keep:]


def test_a_failed_backup_leaves_no_partial_copy(tmp_path: Path) -> None:
    db = tmp_path / "vodtender.db"
    db.write_bytes(b"not a database" * 1000)
    with pytest.raises(sqlite3.DatabaseError):
        backup_sqlite(str(db), tmp_path / "b", keep=1)
    assert list((tmp_path / "b").iterdir()) == []
