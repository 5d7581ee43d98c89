"""Who this process is, in the shared database: the heartbeat's instance and the claims' lease owner."""

from __future__ import annotations

import os
import socket


def host_name() -> str:
    """This host, as `download_host` and `recordings.host` name the DATA_DIR a file is in."""
    return socket.gethostname()


def instance_name() -> str:
    """`host:pid`: unique among live processes, and tells a crashed local owner from a remote one."""
    return f"{host_name()}:{os.getpid()}"
