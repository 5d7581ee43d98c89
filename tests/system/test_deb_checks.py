"""The .deb passes Debian's own checks: lintian (no errors, every override justified and used)
and piuparts (install, remove, purge in a clean Debian 12 root)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers.processes import REPO
from tests.system.container import cached_rootfs, debian_mirror, host_env, work_root

pytestmark = pytest.mark.timeout(1800)

OVERRIDES = REPO / "debian" / "vodtender.lintian-overrides"


def test_lintian_has_no_errors_and_every_override_is_justified_and_used(deb: Path) -> None:
    out = subprocess.run(
        ["lintian", "--info", "--display-info", "--fail-on", "error", str(deb)],
        env=host_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    tags = [line for line in out.stdout.splitlines() if line[:2] in ("E:", "W:", "I:")]
    assert out.returncode == 0 and not [t for t in tags if t.startswith("E:")], out.stdout
    assert not [t for t in tags if "unused-override" in t or "mismatched-override" in t], tags
    previous = ""
    for line in OVERRIDES.read_text().splitlines():
        if line and not line.startswith("#"):
            assert previous.startswith("#"), f"override without a comment saying why: {line}"
        previous = line


def test_piuparts_install_remove_purge_in_a_clean_root(deb: Path) -> None:
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(dir=work_root()) as folder:
        root = Path(folder, "root")
        root.mkdir()
        subprocess.run(["tar", "--zstd", "-C", str(root), "-xf", str(cached_rootfs())], check=True, env=host_env())
        out = subprocess.run(
            ["piuparts", f"--existing-chroot={root}", "-d", "bookworm", "-m", mirror, "--no-upgrade-test", str(deb)],
            env=host_env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert out.returncode == 0 and "PASS: All tests." in out.stdout + out.stderr, (out.stdout + out.stderr)[-5000:]
