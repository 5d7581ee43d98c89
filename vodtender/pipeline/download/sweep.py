"""Downloaded VODs whose file has gone go back to the download stage, as the runbook's reset promises.

A file can go while its VOD waits for the uploader (deleted by hand, a disk replaced).  The
downloader looks once a minute, at the files this host can read, of VODs nobody holds.
"""

from __future__ import annotations

import os

from vodtender.pipeline import vods
from vodtender.runtime.clock import Clock
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod

log = get_logger("downloader")

MISSING_FILE_SWEEP = 60.0  # seconds between checks for downloaded files that have disappeared


def requeue_missing_files(data_dir_shared: bool) -> list[Vod]:
    """Downloaded, unprocessed VODs whose file (on this host) is gone go back to the download stage.
    Returns them."""
    cond = (
        (Vod.processed == 0)
        & Vod.processing_error.is_null()
        & (Vod.download_state == vods.DOWNLOADED)
        & vods.lease_free()
        & vods.reachable_files(data_dir_shared)
    )
    gone = [
        v
        for v in Vod.select(Vod.id, Vod.downloaded_path, Vod.twitch_vod_id).where(cond)
        if not v.downloaded_path or not os.path.exists(v.downloaded_path)
    ]
    for vod in gone:
        vods.requeue_missing_file(vod.id, vod.downloaded_path)
    return gone


class MissingFileSweep:
    """`run_if_due()` from the downloader's loop: the first call sweeps, then one per interval."""

    def __init__(self, data_dir_shared: bool, clock: Clock, interval: float = MISSING_FILE_SWEEP):
        self.data_dir_shared = data_dir_shared
        self.clock = clock
        self.interval = interval
        self._last = 0.0

    def run_if_due(self) -> None:
        if self.clock.monotonic() - self._last < self.interval:
            return
        self._last = self.clock.monotonic()
        for vod in requeue_missing_files(self.data_dir_shared):
            log.warning(
                "downloaded file is gone, downloading again", vod_id=vod.twitch_vod_id, path=vod.downloaded_path
            )
