"""Which downloaded VOD is uploaded next, and what happens to one that cannot be.

A claimed VOD starts only if its file is there (else it goes back to the downloader), readable
(else it waits: a permissions problem is not the VOD's fault) and, for a new session, today's
quota still fits an upload (else every upload is held until the daily reset).  Without YouTube
credentials the queue is emptied instead: downloaded VODs are done without upload.
"""

from __future__ import annotations

import os

import peewee

from vodtender.pipeline import vods
from vodtender.pipeline.upload.metrics import UPLOAD_RESULTS
from vodtender.pipeline.upload.options import UploadOptions
from vodtender.pipeline.upload.quota import Quota
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod

log = get_logger("uploader")


class UploadQueue:
    """`uploading`: the VODs whose channel uploads (UPLOAD_ENABLED, and [channel] sections)."""

    def __init__(self, options: UploadOptions, owner: str, quota: Quota, uploading: peewee.ColumnBase):
        self.options = options
        self.owner = owner
        self.quota = quota
        self.uploading = uploading

    def _reachable(self) -> peewee.ColumnBase:
        return vods.reachable_files(self.options.data_dir_shared) & self.uploading

    def has_due(self) -> bool:
        return bool(Vod.select(Vod.id).where(vods.upload_due() & self._reachable()).exists())

    def claim(self) -> Vod | None:
        """The next VOD to upload, leased to us; None if none is due."""
        return vods.claim_upload(self.owner, self.options.lease_seconds, self._reachable())

    def startable(self, vod: Vod) -> bool:
        """Whether the claimed VOD's upload can start now; if not, it has been put where it belongs."""
        path = vod.downloaded_path
        if not path or not os.path.isfile(path):
            log.warning(
                "downloaded file vanished, handing the VOD back to the downloader", vod_id=vod.twitch_vod_id, path=path
            )
            vods.upload_file_vanished(vod.id, self.owner, path)
            UPLOAD_RESULTS.labels("requeued").inc()
            return False
        if not os.access(path, os.R_OK):
            log.error("downloaded file unreadable", vod_id=vod.twitch_vod_id, path=path)
            vods.hold_unreadable_file(vod.id, self.owner, path)
            return False
        if not vod.upload_session_uri and not self.quota.fits_upload():
            vods.give_back_upload(vod.id, self.owner)
            used = self.quota.used_today()
            self.quota.start_hold(
                f"{used} of UPLOAD_QUOTA_DAILY={self.options.quota_daily} units used today, an upload costs "
                f"{self.options.quota_cost}"
            )
            return False
        return True

    def done_already_on_youtube(self) -> list[Vod]:
        """VODs downloaded again to verify them (`reprocess` without `--reupload`): done, not uploaded again."""
        marked = vods.done_already_on_youtube()
        for vod in marked:
            log.info(
                "VOD verified, already on YouTube: not uploaded again",
                vod_id=vod.twitch_vod_id,
                youtube_url=vod.youtube_url,
            )
        return marked

    def done_without_upload(self, every: bool) -> list[Vod]:
        """Download-only mode (for `every` VOD, else for the channels that do not upload): mark the due
        VODs done (logged one by one); returns them."""
        marked = vods.done_without_upload(which=None if every else ~self.uploading)
        for vod in marked:
            log.info("VOD done without upload (download-only)", vod_id=vod.twitch_vod_id)
        return marked
