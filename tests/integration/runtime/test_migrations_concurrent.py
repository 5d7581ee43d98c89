"""Migrations are safe when daemons start at once: four processes migrating one new database
apply each migration exactly once between them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.processes import REPO
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import MIGRATIONS
from vodtender.runtime.models import SchemaMigration


def test_four_processes_migrating_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    db_file = tmp_path / "race.db"
    code = (
        "import sys; from vodtender.runtime.db import open_database; from vodtender.runtime.migrations "
        "import migrate; print(len(migrate(open_database(sys.argv[1]))))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(db_file)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    applied_counts = sorted(int(out.strip()) for out, _ in results)
    assert applied_counts == [0, 0, 0, len(MIGRATIONS)]
    db = open_database(str(db_file))
    assert SchemaMigration.select().count() == len(MIGRATIONS)
    db.close()
