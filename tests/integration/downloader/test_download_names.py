"""File names from DOWNLOAD_NAME_TEMPLATE: the real downloader never replaces another VOD's file."""

from __future__ import annotations

from pathlib import Path

from tests.integration.downloader.conftest import SOURCE_TS, TS_VOD, TwitchSite
from tests.standins.twitch import VodSpec

TAKEN_LINE = "file name taken by another VOD's file; this VOD's id added"


def test_a_template_without_id_gets_the_second_vod_its_own_file(twitch: TwitchSite) -> None:
    twitch.add_vod("1001", TS_VOD, priority=1)  # first
    twitch.add_vod("1002", VodSpec((SOURCE_TS,), segments=12))  # same channel and day: same name
    with twitch.downloader(DOWNLOAD_NAME_TEMPLATE="{channel}/{date}.mp4") as daemon:
        first = twitch.wait_state("1001", ("downloaded",))
        second = twitch.wait_state("1002", ("downloaded",))
        log = daemon.log()
    first_path, second_path = Path(first["downloaded_path"]), Path(second["downloaded_path"])
    assert first_path == twitch.data_dir.resolve() / "chan" / "2026-11-01.ts"
    assert second_path == twitch.data_dir.resolve() / "chan" / "2026-11-01 [1002].ts"
    assert first_path.read_bytes() == twitch.served("1001"), "the first VOD's file is intact"
    assert second_path.read_bytes() == twitch.served("1002")
    assert log.count(TAKEN_LINE) == 1
    assert "other_vod_id=1001" in log
    assert [e["message"].split(";")[0] for e in twitch.events("1002") if e["kind"] == "done"] == [
        f"{second_path.stat().st_size} bytes at {second_path}"
    ]
