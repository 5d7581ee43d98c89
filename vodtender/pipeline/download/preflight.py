"""Can this host download (or record) at all?  ffmpeg and ffprobe runnable, DATA_DIR a writable folder
with DOWNLOAD_MIN_FREE free.

Checked when the daemon starts and before it claims work, so a missing tool or an unusable folder
leaves the daemon idle with the fix in STATUS= and /readyz, instead of whole downloads wasted on an
error at their end (and the circuit breaker opened for it).  A passing check is trusted for
RECHECK_SECONDS, or until an attempt fails (a disk that filled mid-download idles the daemon before
the next claim); a failing one is repeated at every turn of the loop, so a fix is seen without a
restart.  `vodtender doctor` runs the same tool check.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vodtender.runtime.children import child_environment
from vodtender.runtime.logs import ContextLogger

TOOLS = ("ffmpeg", "ffprobe")
INSTALL = "apt install ffmpeg"
RECHECK_SECONDS = 30.0
VERSION_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class Tool:
    name: str
    path: str
    version: str  # the first words of `<tool> -version`: "ffmpeg version 6.1.1-3"


class ToolFinder:
    """Finds ffmpeg and ffprobe on the PATH children get; each one's version is read once per path found."""

    def __init__(self, names: tuple[str, ...] = TOOLS):
        self.names = names
        self.found: dict[str, Tool] = {}

    def problems(self) -> list[str]:
        """What is wrong, each with the fix."""
        return [f"{problem}: {INSTALL}" for problem in self.check()]

    def check(self) -> list[str]:
        """What is wrong (the fix for every one of them: INSTALL).  The tools are looked for side by side: reading
        a version starts the tool, which takes a while on a busy host, and a daemon's start waits for it."""
        with ThreadPoolExecutor(len(self.names)) as pool:
            return [problem for problem in pool.map(self._look_for, self.names) if problem]

    def versions(self) -> str:
        return ", ".join(self.found[name].version for name in self.names if name in self.found)

    def _look_for(self, name: str) -> str | None:
        path = shutil.which(name, path=child_environment().get("PATH", os.defpath))
        if path is None:
            self.found.pop(name, None)
            return f"{name} not found on PATH"
        known = self.found.get(name)
        if known is not None and known.path == path:
            return None
        try:
            out = subprocess.run(
                [path, "-version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT, env=child_environment()
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{name} at {path} does not run ({exc})"
        if out.returncode != 0:
            return f"{name} at {path} does not run (exit {out.returncode})"
        self.found[name] = Tool(name, path, " ".join(out.stdout.split()[:3]) or name)
        return None


def data_dir_problem(folder: Path, min_free: int) -> str | None:
    """Why DATA_DIR cannot take a download (None: it can): created if missing, then a private temp file
    written and removed in it, then DOWNLOAD_MIN_FREE compared with its free space."""
    user = pwd.getpwuid(os.geteuid()).pw_name
    if folder.exists() and not folder.is_dir():
        return f"DATA_DIR {folder} is not a directory: move what is there or set DATA_DIR"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"DATA_DIR {folder} cannot be created by user {user}: {exc.strerror or exc}"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".preflight-") as probe:
            probe.write(b"\0")
            probe.flush()
    except OSError as exc:
        return f"DATA_DIR {folder} is not writable by user {user}: {exc.strerror or exc}"
    free = shutil.disk_usage(folder).free
    if free < min_free:
        return (
            f"DATA_DIR {folder} has {free // 2**20} MiB free, DOWNLOAD_MIN_FREE is {min_free // 2**20} MiB: "
            "free space or lower DOWNLOAD_MIN_FREE"
        )
    return None


class Preflight:
    """The tools and DATA_DIR, checked at most every RECHECK_SECONDS while they pass.  `ready()` runs the
    check when due (in the daemon's loop); `problems` is the last result (for /readyz, from any thread).
    The daemon's log gets one line when the check starts failing, another when it passes again."""

    def __init__(
        self,
        data_dir: Path,
        min_free: int,
        log: ContextLogger,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.data_dir = data_dir
        self.min_free = min_free
        self.log = log
        self.monotonic = monotonic
        self.tools = ToolFinder()
        self.problems: list[str] = []
        self._passed_at: float | None = None
        self._checked = False

    def ready(self) -> bool:
        now = self.monotonic()
        if self._passed_at is not None and now - self._passed_at < RECHECK_SECONDS:
            return True
        problems = self.tools.problems()
        folder = data_dir_problem(self.data_dir, self.min_free)
        if folder:
            problems.append(folder)
        if problems != self.problems or not self._checked:
            self._report(problems)
        self.problems = problems
        self._checked = True
        self._passed_at = None if problems else now
        return not problems

    def recheck(self) -> None:
        """Check again before the next claim (an attempt failed: maybe for a reason this check finds)."""
        self._passed_at = None

    def status(self) -> str:
        return "idle: " + "; ".join(self.problems)

    def _report(self, problems: list[str]) -> None:
        if problems:
            self.log.error("cannot work: nothing is claimed until this is fixed", problems="; ".join(problems))
        elif self._checked:
            self.log.info("tools and DATA_DIR usable again, working", tools=self.tools.versions())
