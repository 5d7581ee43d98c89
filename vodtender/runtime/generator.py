"""The systemd generator: the maintenance job gets no network when the database is SQLite.

systemd runs /lib/systemd/system-generators/vodtender-generator at boot and at every
`systemctl daemon-reload`, with its output folders as arguments.  With a SQLite DB_DSN (the
default) it writes a drop-in giving vodtender-maintenance.service `PrivateNetwork=yes`; with
PostgreSQL it writes nothing, and the job reaches its server.  DB_DSN is read as the units see
it: /etc/vodtender/vodtender.conf, conf.d/, then the env file.  Any failure writes nothing and
says why on stderr (the kernel log): maintenance must keep running.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vodtender.runtime.config import config_dir, load_config
from vodtender.runtime.db import sqlite_path
from vodtender.runtime.installation import env_file_values

UNIT = "vodtender-maintenance.service"
DROP_IN = "50-private-network.conf"
ENV_FILE = "vodtender.env"
PRIVATE_NETWORK = """\
# Written by vodtender-generator: DB_DSN is a SQLite file, so maintenance needs no network.
[Service]
PrivateNetwork=yes
"""


def needs_no_network() -> bool:
    os.environ.update(env_file_values(config_dir() / ENV_FILE))  # our own process: as the unit would get them
    return sqlite_path(load_config().db_dsn) is not None


def main(argv: Sequence[str]) -> int:
    if len(argv) < 1:
        print("usage: vodtender-generator NORMAL_DIR [EARLY_DIR LATE_DIR]", file=sys.stderr)
        return 2
    try:
        if needs_no_network():
            folder = Path(argv[0], f"{UNIT}.d")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / DROP_IN).write_text(PRIVATE_NETWORK)
    except Exception as exc:  # a generator must never fail the boot: the unit keeps its network
        print(f"vodtender-generator: {UNIT} keeps its network: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
