"""Every daemon's /metrics passes Prometheus' own `promtool check metrics`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.processes import DaemonProcess, base_env
from tests.integration.runtime.test_daemon_lifecycle import COMPLETE
from vodtender.daemons.registry import DAEMONS

PROMTOOL = shutil.which("promtool")


@pytest.mark.parametrize("daemon", list(DAEMONS))
def test_promtool_accepts_the_metrics(workdir: Path, daemon: str) -> None:
    assert PROMTOOL, "promtool missing: scripts/install-deps installs Debian's prometheus package"
    proc = DaemonProcess(daemon, workdir, env=base_env(workdir, **COMPLETE)).start()
    try:
        proc.wait_http("/healthz", timeout=30)
        code, text = proc.http("/metrics")
        assert code == 200
        assert "vodtender_daemon_loop_iterations_total" in text and "vodtender_queue_length" in text
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        proc.kill()
