"""The downloader's sweep of its files, once a minute.

Downloaded VODs whose file has gone go back to the download stage, as the runbook's reset promises:
a file can go while its VOD waits for the uploader (deleted by hand, a disk replaced).  The
downloader looks at the files this host can read, of VODs nobody holds.

What a finished download left in the partial folder goes: a downloader stopped in the moment
between committing a download and removing its pieces (a SIGKILL, a power cut) leaves the
fragment journal there, or the whole part file of a joined download, which nothing would remove.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from vodtender.pipeline import vods
from vodtender.pipeline.download.paths import PARTIAL_DIR, sanitise
from vodtender.runtime.clock import Clock
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod

log = get_logger("downloader")

FILE_SWEEP = 60.0  # seconds between sweeps


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


def discard_finished_partials(data_dir: Path) -> list[Path]:
    """Remove the partial folder's files of VODs whose download is committed.  Returns them.

    A file belongs to the VOD its name starts with (`<id>.part`, `<id>.part.frags`, yt-dlp's
    `<id>.*`); the files of a VOD downloading (or to be downloaded again) are never touched.
    """
    by_vod: dict[str, list[Path]] = defaultdict(list)
    try:
        for path in (data_dir / PARTIAL_DIR).iterdir():
            by_vod[path.name.split(".", 1)[0]].append(path)
    except FileNotFoundError:
        return []
    finished = Vod.select(Vod.twitch_vod_id).where(
        Vod.twitch_vod_id.in_(list(by_vod)) & (Vod.download_state == vods.DOWNLOADED)
    )
    removed = []
    for vod in finished:
        for path in by_vod.get(sanitise(vod.twitch_vod_id, 60), []):
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("cannot remove a finished download's partial file", path=str(path), error=exc.strerror)
                continue
            log.warning(
                "removed what a finished download left in the partial folder",
                vod_id=vod.twitch_vod_id,
                path=str(path),
                bytes=size,
            )
            removed.append(path)
    return removed


class FileSweep:
    """`run_if_due()` from the downloader's loop: the first call sweeps, then one per interval."""

    def __init__(self, data_dir: Path, data_dir_shared: bool, clock: Clock, interval: float = FILE_SWEEP):
        self.data_dir = data_dir
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
        discard_finished_partials(self.data_dir)
