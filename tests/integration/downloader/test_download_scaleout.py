"""Several downloader processes share one queue: every VOD is downloaded exactly once."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.processes import DaemonProcess, wait_until
from tests.integration.downloader.conftest import TS_VOD, TwitchSite

VODS = [str(3001 + i) for i in range(12)]


def test_three_downloaders_twelve_vods_each_downloaded_once(twitch_any_db: TwitchSite) -> None:
    twitch = twitch_any_db
    for day, vod_id in enumerate(VODS, start=1):
        twitch.add_vod(vod_id, TS_VOD, day=day)
        twitch.throttle(vod_id, seconds_per_segment=0.15)  # slow enough that the three overlap
    daemons = [
        twitch.downloader(MAX_CONCURRENT_DOWNLOADS="2", DOWNLOAD_FRAGMENT_CONCURRENCY="4").start() for _ in range(3)
    ]
    try:
        wait_until(
            lambda: all(twitch.vod(v)["download_state"] == "downloaded" for v in VODS),
            180,
            0.2,
            "every VOD downloaded",
        )
    finally:
        for daemon in daemons:
            daemon.stop()
    owners = set()
    for vod_id in VODS:
        row = twitch.vod(vod_id)
        assert Path(row["downloaded_path"]).read_bytes() == twitch.served(vod_id)
        assert [e["kind"] for e in twitch.events(vod_id)] == ["done"]
        assert twitch.segment_counts(vod_id) == [1] * TS_VOD.segments
        owners.add(next(n for n, line in _logs(daemons) if f"download complete vod_id={vod_id} " in line))
    assert len(owners) >= 2  # the work really was shared


def _logs(daemons: list[DaemonProcess]) -> list[tuple[int, str]]:
    return [(n, line) for n, d in enumerate(daemons) for line in d.log().splitlines()]
