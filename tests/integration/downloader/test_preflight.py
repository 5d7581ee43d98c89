"""Missing tools and an unusable DATA_DIR are found before any work: the downloader (and the recorder) stay up
but idle, say what to install or fix in STATUS= and /readyz, claim nothing, leave the breaker alone, and work
once it is fixed, without a restart.  Attempts that do fail are counted and logged truly."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import DaemonProcess, wait_until
from tests.integration.downloader.conftest import TS_VOD, TwitchSite

TOOLS = ("ffmpeg", "ffprobe")


@pytest.fixture
def bin_without_ffmpeg(tmp_path: Path) -> Path:
    """The only folder on the daemon's PATH: empty (the daemon runs from an absolute interpreter path and needs
    no other program but ffmpeg and ffprobe); `put_ffmpeg_back` installs them as an operator would."""
    folder = tmp_path / "bin"
    folder.mkdir()
    return folder


def put_ffmpeg_back(folder: Path) -> None:
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found is not None, f"these tests need {tool} installed"
        (folder / tool).symlink_to(found)


@pytest.fixture
def read_only_data_dir(twitch: TwitchSite) -> Iterator[Path]:
    """DATA_DIR on a read-only tmpfs: a write fails even for root (the tests run as root, so a chmod would not)."""
    twitch.data_dir.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=16m,mode=0700", "tmpfs", str(twitch.data_dir)],
        capture_output=True,
        text=True,
    )
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr}"
    yield twitch.data_dir
    subprocess.run(["umount", "-l", str(twitch.data_dir)], check=False)


def heartbeat_status(twitch: TwitchSite, daemon: str) -> str:
    rows = twitch.sql(f"SELECT status FROM daemons WHERE daemon = '{daemon}'")
    return rows[0][0] if rows else ""


def readyz_lines(daemon: DaemonProcess) -> tuple[int, list[str]]:
    status, body = daemon.http("/readyz")
    return status, body.splitlines()


def test_missing_tools_and_a_read_only_data_dir_idle_the_downloader_until_fixed(
    twitch: TwitchSite, bin_without_ffmpeg: Path, read_only_data_dir: Path
) -> None:
    twitch.add_vod("3101", TS_VOD)
    user = pwd.getpwuid(os.geteuid()).pw_name
    not_writable = f"DATA_DIR {read_only_data_dir} is not writable by user {user}: Read-only file system"
    expected = [
        "ffmpeg not found on PATH: apt install ffmpeg",
        "ffprobe not found on PATH: apt install ffmpeg",
        not_writable,
    ]
    with twitch.downloader(PATH=str(bin_without_ffmpeg)) as daemon:
        daemon.wait_http("/healthz")
        assert wait_until(lambda: readyz_lines(daemon) == (503, expected), 15, 0.1, "/readyz naming every fix")
        status = wait_until(lambda: heartbeat_status(twitch, "downloader"), 15, 0.1, "the downloader's STATUS")
        assert status == "idle: " + "; ".join(expected)
        daemon.wait_for_log(r"cannot work: nothing is claimed until this is fixed")
        assert "downloader working" not in daemon.log()

        put_ffmpeg_back(bin_without_ffmpeg)  # the tools are installed: seen without a restart
        wait_until(lambda: readyz_lines(daemon) == (503, [not_writable]), 45, 0.2, "/readyz naming DATA_DIR only")
        row = twitch.vod("3101")  # nothing was claimed, fetched or counted meanwhile
        assert (row["download_state"], row["lease_owner"], row["download_retries"]) == ("discovered", None, 0)
        assert twitch.events("3101") == [] and sum(twitch.twitch.counts.values()) == 0
        assert twitch.sql("SELECT key FROM kv WHERE key LIKE 'circuit%'") == []  # the breaker untouched

        remounted = subprocess.run(["mount", "-o", "remount,rw", str(read_only_data_dir)], capture_output=True)
        assert remounted.returncode == 0, remounted.stderr
        row = twitch.wait_state("3101", ("downloaded",))
        assert Path(row["downloaded_path"]).read_bytes() == twitch.served("3101")
        assert readyz_lines(daemon) == (200, ["ready"])
        daemon.wait_for_log(r"tools and DATA_DIR usable again, working tools=\"?ffmpeg version")
    assert row["download_retries"] == 0 and [e["kind"] for e in twitch.events("3101")] == ["done"]


def test_the_recorder_needs_ffmpeg_too(twitch: TwitchSite, bin_without_ffmpeg: Path) -> None:
    env = twitch.env(PATH=str(bin_without_ffmpeg), LIVE_RECORD="chan")
    with DaemonProcess("recorder", twitch.workdir, env=env) as recorder:
        recorder.wait_http("/healthz")
        expected = ["ffmpeg not found on PATH: apt install ffmpeg", "ffprobe not found on PATH: apt install ffmpeg"]
        assert wait_until(lambda: readyz_lines(recorder) == (503, expected), 15, 0.1, "the recorder's /readyz")
        status = wait_until(lambda: heartbeat_status(twitch, "recorder"), 15, 0.1, "the recorder's STATUS")
        assert status == "idle: " + "; ".join(expected)

        put_ffmpeg_back(bin_without_ffmpeg)
        wait_until(lambda: readyz_lines(recorder) == (200, ["ready"]), 45, 0.2, "the recorder ready")
        recorder.wait_for_log(r"tools and DATA_DIR usable again, working tools=\"?ffmpeg version")


def test_each_failed_attempt_is_logged_with_its_number(twitch: TwitchSite) -> None:
    twitch.add_vod("3102", TS_VOD)
    twitch.network_down()  # systemic: the VOD never fails for it, but every attempt counts
    with twitch.downloader() as daemon:
        daemon.wait_for_log(r"download failed vod_id=3102 .*attempt=3", timeout=60)
        log = daemon.log()
    started = [int(n) for n in re.findall(r"download started vod_id=3102 .*attempt=(\d+)", log)]
    failed = [int(n) for n in re.findall(r"download failed vod_id=3102 .*attempt=(\d+)", log)]
    assert started[:3] == failed[:3] == [1, 2, 3]
    assert twitch.vod("3102")["download_retries"] >= 3
