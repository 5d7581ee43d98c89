"""Provider limits shared through the database hold across processes: hosts racing for one
bucket get no more than it holds (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys

import peewee

from tests.helpers.processes import REPO


def test_two_hosts_together_stay_inside_one_bucket(migrated_db: peewee.Database, db_dsn: str) -> None:
    """Four processes racing for a 50-point bucket that does not refill in time: 50 grants in all."""
    code = (
        "import sys, time; from vodtender.runtime.db import open_database; "
        "from vodtender.pipeline.shared_limits import SharedBucket; open_database(sys.argv[1]); "
        "b = SharedBucket('race', capacity=50, refill_per_second=1e-6); "
        "print(sum(b.try_take(now=1000.0) == 0.0 for _ in range(40)))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, db_dsn], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    assert sum(int(out) for out, _ in results) == 50
