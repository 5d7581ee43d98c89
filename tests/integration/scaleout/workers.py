"""Worker processes for the scale-out tests: `python -m tests.integration.scaleout.workers claim DSN [PAUSE]`.

`claim`: claim download-due VODs one at a time until none is left, mark each downloaded and
release it (pausing PAUSE seconds while holding it), and print the ids taken, one a line.
Connection trouble is not handled here: the runtime's retry is what is under test.
"""

from __future__ import annotations

import sys
import time

from vodtender.pipeline.vods import claim, download_due, release
from vodtender.runtime.db import open_database
from vodtender.runtime.identity import instance_name
from vodtender.runtime.logs import setup_logging


def claim_all(dsn: str, pause: float) -> None:
    setup_logging("info")
    open_database(dsn)
    owner = instance_name()
    while True:
        vod = claim(download_due(), owner, lease_seconds=60)
        if vod is None:
            return
        time.sleep(pause)
        assert release(vod.id, owner, download_state="downloaded", download_host=owner)
        print(vod.id, flush=True)


if __name__ == "__main__":
    command, dsn, *rest = sys.argv[1:]
    if command != "claim":
        raise SystemExit(f"unknown command {command!r}")
    claim_all(dsn, float(rest[0]) if rest else 0.0)
