"""A Debian 12 container with real systemd as PID 1, driven from the host.

The root filesystem comes from a cached tarball (`rootfs.sh`), is unpacked afresh for each
run, booted with `systemd-nspawn --boot --private-network` (only a loopback interface: no
port clashes with the host), and commands run inside it through `nsenter` into PID 1's
namespaces (`machinectl` needs a system bus the host does not have).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.helpers.processes import wait_until

HERE = Path(__file__).resolve().parent
DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # Debian's tools, not a python3 from elsewhere
SHARE = "/srv/share"  # where the host's share folder appears inside the container


def work_root() -> Path:
    """The folder for unpacked roots (VODTENDER_SYSTEM_WORKDIR), created here: the one way every test reaches it."""
    root = Path(os.environ.get("VODTENDER_SYSTEM_WORKDIR", "/var/tmp/vodtender-system"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def host_env() -> dict[str, str]:
    return {"PATH": DEBIAN_PATH, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}


def _rootfs_sh(*args: str) -> str:
    out = subprocess.run(
        [str(HERE / "rootfs.sh"), *args], env={**os.environ, **host_env()}, capture_output=True, text=True, timeout=1200
    )
    if out.returncode != 0:
        raise RuntimeError(f"rootfs.sh {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def cached_rootfs() -> Path:
    """The Debian 12 root filesystem tarball, built on first use."""
    return Path(_rootfs_sh())


def debian_mirror() -> str:
    return _rootfs_sh("--mirror")


class Container:
    """`with Container(share) as c: c.run("systemctl", "is-active", "x")`."""

    def __init__(self, share: Path):
        self.share = share
        self.dir = Path(tempfile.mkdtemp(prefix="run.", dir=work_root()))
        self.root = self.dir / "root"
        self.console = self.dir / "console.log"
        self.nspawn: subprocess.Popen | None = None
        self.pid1: int | None = None

    # -- life cycle ------------------------------------------------------------------------------
    def boot(self) -> Container:
        self.root.mkdir()
        subprocess.run(["tar", "--zstd", "-C", str(self.root), "-xf", str(cached_rootfs())], check=True, env=host_env())
        with open(self.console, "wb") as console:
            self.nspawn = subprocess.Popen(
                [
                    "systemd-nspawn",
                    "-q",
                    "-D",
                    str(self.root),
                    "--boot",
                    "--register=no",
                    "--keep-unit",
                    "--console=passive",
                    "--private-network",
                    f"--bind-ro={self.share}:{SHARE}",
                    "--machine",
                    "vodtender-" + self.dir.name.split(".")[-1].replace("_", ""),
                ],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=host_env(),
            )
        self.pid1 = wait_until(self._find_pid1, timeout=60, interval=0.1, what="the container's systemd")
        wait_until(
            lambda: self.run("test", "-S", "/run/systemd/private", check=False).returncode == 0,
            timeout=60,
            interval=0.1,
            what="systemd's private socket in the container",
        )
        state = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=120).stdout.strip()
        if state not in ("running", "degraded"):
            raise RuntimeError(f"container did not boot: {state}\n{self.console.read_text()[-3000:]}")
        return self

    def _find_pid1(self) -> int | None:
        assert self.nspawn is not None
        if self.nspawn.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited:\n{self.console.read_text()[-3000:]}")
        children = Path(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children")
        for pid in children.read_text().split() if children.exists() else []:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                return int(pid)
        return None

    def shutdown(self) -> None:
        if self.nspawn is not None and self.nspawn.poll() is None:
            if self.pid1 is not None:
                self.run("systemctl", "poweroff", "--no-block", check=False)
            else:
                self.nspawn.terminate()  # nspawn powers the container off on SIGTERM
            try:
                self.nspawn.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Container:
        try:
            return self.boot()
        except BaseException:
            self.shutdown()  # a half-booted container must not outlive the test
            raise

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- commands --------------------------------------------------------------------------------
    def run(
        self, *argv: str, check: bool = True, timeout: float = 300, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run a command inside the container (as root, with a clean environment)."""
        assert self.pid1 is not None
        cmd = [
            "nsenter",
            "-t",
            str(self.pid1),
            "-m",
            "-u",
            "-i",
            "-n",
            "-p",
            "--",
            "env",
            "-i",
            f"PATH={DEBIAN_PATH}",
            "LANG=C.UTF-8",
            "DEBIAN_FRONTEND=noninteractive",
            *argv,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input, env=host_env())
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} -> rc {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out

    def sh(self, script: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.run("sh", "-c", script, check=check, timeout=timeout)

    def write(self, path: str, text: str, mode: str = "0644") -> None:
        self.run("install", "-D", "-m", mode, "/dev/stdin", path, input=text)

    def show(self, unit: str, prop: str) -> str:
        return self.run("systemctl", "show", "-P", prop, unit).stdout.strip()

    def wait(self, predicate, timeout: float = 60, what: str = "condition") -> object:
        return wait_until(predicate, timeout=timeout, interval=0.25, what=what)

    def journal(self, unit: str, *args: str) -> str:
        return self.run("journalctl", "--no-pager", "-u", unit, *args).stdout
