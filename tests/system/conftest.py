"""The system tier: the .deb built from this tree, checked on the host and under real systemd."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.processes import REPO
from tests.system.container import host_env

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [
        tool
        for tool in ("systemd-nspawn", "debootstrap", "dpkg-buildpackage", "lintian", "piuparts")
        if not shutil.which(tool, path=host_env()["PATH"])
    ]
    if os.geteuid() != 0 or missing:
        reason = "needs root" if os.geteuid() != 0 else f"missing {', '.join(missing)} (make deps)"
        for item in items:
            if Path(item.path).resolve().is_relative_to(HERE):
                item.add_marker(pytest.mark.skip(reason=reason))


def build_deb() -> Path:
    """The package of this tree (VODTENDER_DEB: an already built one instead)."""
    if os.environ.get("VODTENDER_DEB"):
        return Path(os.environ["VODTENDER_DEB"])
    out = subprocess.run(
        [str(REPO / "packaging" / "build-deb")],
        env={**os.environ, **host_env()},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.returncode == 0, f"building the .deb failed:\n{out.stderr[-4000:]}"
    return Path(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def deb() -> Path:
    return build_deb()
