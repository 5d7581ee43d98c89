"""scripts/install-deps: `make run` installs only what the service needs, and says how when it cannot.

The script runs for real, against stand-in `dpkg-query`, `apt-get` and `id` on its PATH (every
package missing; root or not): the real ones would change this machine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers.processes import REPO

SERVICE = ["python3", "python3-venv", "ffmpeg", "ca-certificates"]


def fake_bin(tmp_path: Path, uid: int) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("grep", "env", "cat"):
        (folder / tool).symlink_to(shutil.which(tool) or tool)
    scripts = {
        "dpkg-query": "exit 1",  # nothing is installed
        "apt-get": f'echo "$@" >> {tmp_path}/apt.log',
        "id": f"echo {uid}",
    }
    for name, body in scripts.items():
        (folder / name).write_text(f"#!/bin/bash\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


def install_deps(tmp_path: Path, uid: int, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": str(fake_bin(tmp_path, uid))}
    script = REPO / "scripts" / "install-deps"
    return subprocess.run(["/bin/bash", str(script), *args], env=env, capture_output=True, text=True, timeout=30)


def test_make_run_installs_only_what_the_service_needs(tmp_path: Path) -> None:
    result = install_deps(tmp_path, 0, "--service")
    assert result.returncode == 0, result.stderr
    update, install = (tmp_path / "apt.log").read_text().splitlines()
    assert update == "update -qq"
    assert install.split()[-len(SERVICE) :] == SERVICE  # and no test tool (promtool, inspircd, ...)
    plan = subprocess.run(["make", "-n", "-C", str(REPO), "run"], capture_output=True, text=True, check=True).stdout
    assert plan.index("scripts/install-deps --service") < plan.index("vodtender run")  # `make run` does it first
    fresh = f"VENV={tmp_path / 'venv'}"  # no venv yet: `make run` makes one with the service's lock, no test tools
    plan = subprocess.run(["make", "-n", "-C", str(REPO), "run", fresh], capture_output=True, text=True, check=True)
    assert "-r requirements.lock" in plan.stdout and "requirements-test.lock" not in plan.stdout


def test_without_root_or_sudo_it_names_the_packages_and_stops(tmp_path: Path) -> None:
    result = install_deps(tmp_path, 1000, "--service")
    assert result.returncode == 1
    assert "missing: python3 python3-venv ffmpeg ca-certificates; installing them needs root" in result.stderr
    assert not (tmp_path / "apt.log").exists()
