"""A throw-away PostgreSQL cluster for the tests: Debian's server binaries, a temp dir, a free port.

`PostgresCluster().start()` runs `initdb` and `pg_ctl` (as the `postgres` user when we are
root: the server refuses to run as root) into a fresh folder under /tmp, listening on
127.0.0.1 (and on extra addresses given to `start`, for tests with network namespaces) and
on a Unix socket in that folder.  Trust authentication: it is reachable only from this host.
`create_database()` gives each test its own database; `restart()` is a real server restart;
`stop()` removes everything.  Run as `python -m tests.helpers.postgres` for an interactive one.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg2

from tests.helpers.processes import free_port

SERVER_USER = "postgres"


def server_bin_dir() -> Path:
    """The newest installed server's bin/ (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: install Debian's `postgresql` (scripts/install-deps)")
    return Path(found[-1]).parent


class PostgresCluster:
    def __init__(self) -> None:
        self.bin = server_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="vodtender-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.listen = ["127.0.0.1"]
        self._as_server_user = os.geteuid() == 0
        self._counter = 0

    # -- running the server ------------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._as_server_user:
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120, cwd=self.root)

    def start(self, extra_listen: list[str] | None = None) -> PostgresCluster:
        if self._as_server_user:
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        # hosts in test network namespaces reach us over their veth links
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 10.231.0.0/16 trust\n")
        self.listen += extra_listen or []
        self.start_server()
        return self

    def start_server(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={','.join(self.listen)} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stdout}{result.stderr}\n{self.server_log()}")

    def stop_server(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop the server (disconnecting every client), stay down `down_for` seconds, start it again."""
        self.stop_server()
        time.sleep(down_for)
        self.start_server()

    def stop(self) -> None:
        self.stop_server("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def server_log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- databases --------------------------------------------------------------------------------
    def dsn(self, database: str = "postgres", host: str = "127.0.0.1") -> str:
        return f"postgresql://postgres@{host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create_database(self, prefix: str = "t", template: str | None = None) -> str:
        """A new empty database (or a copy of `template`); returns its name."""
        self._counter += 1
        name = f"{prefix}_{os.getpid()}_{self._counter}"
        self.admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def each_database(kinds: Sequence[str], name: str) -> Iterator[tuple[str, str, Path]]:
    """For the benchmarks: (kind, DSN, a work folder) per database kind, in order: a SQLite file, or a
    database of one PostgreSQL server started for the run.  Everything is removed once the loop is done."""
    cluster = PostgresCluster().start() if "postgresql" in kinds else None
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            for kind in kinds:
                workdir = Path(tmp) / kind
                workdir.mkdir()
                if kind == "sqlite":
                    yield kind, str(workdir / f"{name}.db"), workdir
                else:
                    assert cluster is not None
                    yield kind, cluster.dsn(cluster.create_database(name)), workdir
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    cluster = PostgresCluster().start()
    print(cluster.dsn(), flush=True)
    try:
        input("PostgreSQL running; press Enter to stop\n")
    finally:
        cluster.stop()
