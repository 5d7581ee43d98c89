"""Several downloader processes share one queue: every VOD is downloaded exactly once."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.processes import DaemonProcess, wait_until
from tests.integration.downloader.conftest import Site
from tests.standins.hls import PLAYLIST, concatenated, segment_paths

VODS = [str(3001 + i) for i in range(12)]


def test_three_downloaders_twelve_vods_each_downloaded_once(site_any_db: Site) -> None:
    site = site_any_db
    for day, vod_id in enumerate(VODS, start=1):
        site.add_vod(vod_id, day=day)
    site.server.add_rule("*.ts", rate=2_000_000)  # slow enough that the three overlap
    daemons = [
        site.downloader(MAX_CONCURRENT_DOWNLOADS="2", DOWNLOAD_FRAGMENT_CONCURRENCY="4").start() for _ in range(3)
    ]
    try:
        wait_until(
            lambda: all(site.vod(v)["download_state"] == "downloaded" for v in VODS), 180, 0.2, "every VOD downloaded"
        )
    finally:
        for daemon in daemons:
            daemon.stop()
    expected = concatenated(site.source / PLAYLIST)
    owners = set()
    for vod_id in VODS:
        row = site.vod(vod_id)
        assert Path(row["downloaded_path"]).read_bytes() == expected
        assert [e["kind"] for e in site.events(vod_id)] == ["done"]
        for segment in segment_paths(site.source / PLAYLIST):
            assert site.server.counts[f"{vod_id}/{segment.name}"] == 1
        owners.add(next(n for n, line in _logs(daemons) if f"download complete vod_id={vod_id} " in line))
    assert len(owners) >= 2  # the work really was shared


def _logs(daemons: list[DaemonProcess]) -> list[tuple[int, str]]:
    return [(n, line) for n, d in enumerate(daemons) for line in d.log().splitlines()]
