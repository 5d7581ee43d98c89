"""A daemon process keeps its secrets out of its own environment: a child that a library starts with the
inherited environment (as yt-dlp starts ffmpeg and ffprobe) gets none, while the daemon's configuration
still has them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.processes import base_env, wait_until

SECRETS = {"TWITCH_OAUTH_TOKEN": "bot-token-0123456789", "YT_CLIENT_SECRET": "youtube-secret-0123456789"}

# A daemon on the real runtime whose step starts a child the way a library does: no env= given.
SCRIPT = """
import subprocess, sys
from pathlib import Path
from vodtender.runtime.daemon import Daemon, Runtime

class StartsAChildLikeALibrary(Daemon):
    name = "recorder"

    def run_once(self) -> float:
        out = Path(sys.argv[1])
        if not out.exists():
            child = subprocess.run(["cat", "/proc/self/environ"], capture_output=True, check=True).stdout
            Path(str(out) + ".config").write_text(self.cfg.twitch_oauth_token or "")
            out.write_bytes(child)
        return 0.2

sys.exit(Runtime.from_argv(StartsAChildLikeALibrary).run())
"""


def test_a_child_started_with_the_inherited_environment_gets_no_secret(workdir: Path, tmp_path: Path) -> None:
    seen = tmp_path / "child.environ"
    env = base_env(
        workdir,
        DB_DSN=str(tmp_path / "vodtender.db"),
        DATA_DIR=str(tmp_path / "data"),
        LIVE_RECORD="all",
        RECORDER_HTTP_ADDR="127.0.0.1:0",
        **SECRETS,
    )
    daemon = subprocess.Popen([sys.executable, "-c", SCRIPT, str(seen)], env=env, cwd=workdir)
    try:
        wait_until(seen.exists, 60, 0.1, "the daemon's child to have run")
    finally:
        daemon.terminate()
        daemon.wait(30)
    child_environment = seen.read_bytes().decode().split("\0")
    assert any(line.startswith("PATH=") for line in child_environment), child_environment
    for name, value in SECRETS.items():
        assert not any(line.startswith(f"{name}=") or value in line for line in child_environment), name
    assert not any(line.startswith("DB_DSN=") for line in child_environment)
    assert Path(str(seen) + ".config").read_text() == SECRETS["TWITCH_OAUTH_TOKEN"]  # the daemon still has it
