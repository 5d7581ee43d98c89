"""A downloader started with umask 022 still keeps what it writes private: the data folder, the
.partial folder and the finished video (0700 / 0600)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.downloader.conftest import TS_VOD, TwitchSite


def test_a_download_started_with_umask_022_is_private(loose_umask: None, twitch: TwitchSite) -> None:
    twitch.add_vod("1001", TS_VOD)
    with twitch.downloader():
        row = twitch.wait_state("1001", ("downloaded",))
    video = Path(row["downloaded_path"])
    folders = [twitch.data_dir, twitch.data_dir / ".partial", video.parent]
    assert [path.stat().st_mode & 0o777 for path in folders] == [0o700] * 3
    assert video.stat().st_mode & 0o777 == 0o600
    db = Path(twitch.dsn)
    assert db.stat().st_mode & 0o777 == 0o600
