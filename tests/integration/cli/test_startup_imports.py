"""Imports on demand: a command or daemon loads only the libraries it runs.

Each case is a new interpreter (`python -X importtime`), so what it lists is what that process
imported, nothing a test before it left in `sys.modules`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.processes import base_env, run_cli

HEAVY = {"yt_dlp", "googleapiclient", "irc", "requests", "peewee", "prometheus_client", "cryptography", "psycopg2"}


def imported(workdir: Path, *args: str) -> set[str]:
    """Top-level package names a fresh `python -X importtime ARGS` process imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=workdir,
        env=base_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_help_imports_no_library(workdir: Path) -> None:
    loaded = imported(workdir, "-m", "vodtender", "--help")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & HEAVY)


def test_status_imports_only_the_database_layer(workdir: Path) -> None:
    run_cli(workdir, "db", "migrate")
    loaded = imported(workdir, "-m", "vodtender", "status")
    assert "peewee" in loaded  # it did read the database
    unneeded = {"yt_dlp", "googleapiclient", "irc", "requests", "prometheus_client", "cryptography"}
    assert loaded.isdisjoint(unneeded), sorted(loaded & unneeded)


@pytest.mark.parametrize(
    ("daemon", "not_needed"),
    [
        ("poller", {"yt_dlp", "googleapiclient", "irc", "cryptography"}),
        ("downloader", {"yt_dlp", "googleapiclient", "irc", "cryptography"}),  # yt-dlp: at the first VOD
        ("uploader", {"yt_dlp", "googleapiclient", "irc"}),  # the Google client: only when uploading is on
        ("chat", {"yt_dlp", "googleapiclient", "cryptography"}),
        ("recorder", {"yt_dlp", "googleapiclient", "irc", "cryptography"}),  # yt-dlp: at the first live stream
        ("web", {"yt_dlp", "googleapiclient", "irc", "cryptography"}),
    ],
)
def test_a_daemon_imports_only_what_it_runs(workdir: Path, daemon: str, not_needed: set[str]) -> None:
    code = f"from vodtender.daemons.registry import daemon_class; daemon_class({daemon!r})"
    loaded = imported(workdir, "-c", code)
    assert loaded.isdisjoint(not_needed), sorted(loaded & not_needed)
