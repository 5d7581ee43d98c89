"""The downloader's children (ffprobe, ffmpeg) start without any of its secrets in their environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.integration.downloader.conftest import TS_VOD, TwitchSite

SECRETS = {
    "TWITCH_CLIENT_SECRET": "client-secret-for-the-poller",
    "TWITCH_OAUTH_TOKEN": "bot-token-for-chat-and-downloads",
    "YT_CLIENT_SECRET": "youtube-secret-for-the-uploader",
    "ENCRYPTION_KEY": "token-key-for-the-uploader",
}


def recording_wrappers(folder: Path, log: Path) -> str:
    """ffprobe and ffmpeg that append what /proc says their environment is, then run the real tool."""
    folder.mkdir()
    for tool in ("ffprobe", "ffmpeg"):
        real = shutil.which(tool)
        assert real, f"{tool} is needed"
        wrapper = folder / tool
        wrapper.write_text(
            f"#!/bin/sh\n{{ echo '== {tool}'; tr '\\0' '\\n' < /proc/$$/environ; }} >> '{log}'\nexec '{real}' \"$@\"\n"
        )
        wrapper.chmod(0o755)
    return str(folder)


def test_ffprobe_and_ffmpeg_get_no_secret_and_no_dsn(twitch: TwitchSite, tmp_path: Path) -> None:
    log = tmp_path / "children.env"
    wrappers = recording_wrappers(tmp_path / "bin", log)
    twitch.add_vod("1001", TS_VOD)
    with twitch.downloader(**SECRETS, PATH=wrappers + os.pathsep + os.environ["PATH"]):
        twitch.wait_state("1001", ("downloaded",))
    seen = log.read_text()
    assert "== ffprobe" in seen, "the downloader ran no ffprobe: nothing was checked"
    for name, value in SECRETS.items():
        assert value not in seen and f"{name}=" not in seen
    assert "DB_DSN=" not in seen and f"PATH={wrappers}:" in seen
