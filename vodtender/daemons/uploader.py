"""The uploader: YouTube resumable uploads of downloaded VODs.

The loop decides whether an upload may start (credentials, quota hold, circuit breaker), takes
the next VOD from the queue (`pipeline/upload/queue.py`) and hands it to one worker thread
(`pipeline/upload/worker.py`); while it runs, the loop keeps its lease.  At every step it also
follows YouTube's processing of the videos already uploaded (`pipeline/upload/processing.py`).  Without YouTube
credentials the uploader marks downloaded VODs done (download-only).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from vodtender.daemons.base import PipelineDaemon
from vodtender.pipeline import vods
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.metrics import BreakerMetrics
from vodtender.pipeline.upload.metrics import UPLOAD_ENABLED, QuotaMetrics
from vodtender.pipeline.upload.options import UploadOptions
from vodtender.pipeline.upload.queue import UploadQueue
from vodtender.pipeline.upload.quota import Quota
from vodtender.runtime.daemon import Runtime

if TYPE_CHECKING:  # the Google client (~20 MB) is imported only when uploading is on
    from vodtender.pipeline.upload.context import UploadContext
    from vodtender.pipeline.upload.processing import ProcessingFollower
    from vodtender.pipeline.upload.tokens import AccessTokens
    from vodtender.pipeline.upload.worker import UploadWorker

STOP_GRACE = 20.0  # seconds shutdown waits for the aborted chunk to end


class Uploader(PipelineDaemon):
    name = "uploader"

    def __init__(self, runtime: Runtime):
        super().__init__(runtime)
        cfg = self.cfg
        options = UploadOptions.from_config(cfg)
        owner = runtime.instance
        self.stop = threading.Event()
        self.breaker = CircuitBreaker(cfg.circuit_failure_threshold, cfg.circuit_open_cooldown, BreakerMetrics())
        self.quota = Quota(options.quota_daily, options.quota_cost, QuotaMetrics(), options.limit_hold)
        uploading = vods.of_channels(cfg.upload_enabled, cfg.channels_overriding("upload_enabled"))
        self.queue = UploadQueue(options, owner, self.quota, uploading)
        self.uploads: UploadContext | None = None  # None: download-only
        self.follower: ProcessingFollower | None = None
        self.worker: UploadWorker | None = None
        self.blocked: str | None = None  # why no upload may start now
        self.marked_done = 0
        client_id, client_secret = cfg.yt_client_id, cfg.yt_client_secret
        if not (client_id and client_secret):
            UPLOAD_ENABLED.set(0)
            self.log.info("uploading is off (no YT_CLIENT_ID/YT_CLIENT_SECRET): downloaded VODs are marked done")
            return
        UPLOAD_ENABLED.set(1)
        from vodtender.pipeline.upload import context

        self.uploads = context.connect(
            cfg, options, owner, self.quota, self.breaker, self.stop, runtime.wake, self.clock
        )
        self.follower = context.processing_follower(cfg, self.uploads)

    # -- the loop --------------------------------------------------------------------------------
    def run_once(self) -> float:
        if self.follower is None:
            return self._upload_step()
        self.follower.run_once()
        return min(self._upload_step(), self.follower.next_check_in())

    def _upload_step(self) -> float:
        if self.worker is not None:
            if self.worker.is_alive():
                self.worker.keep_lease()
                return 1.0
            self.worker = None
        self.queue.done_already_on_youtube()
        self.marked_done += len(self.queue.done_without_upload(every=self.uploads is None))
        if self.uploads is None:
            return 5.0
        self.blocked = self._why_blocked(self.uploads.tokens)
        if self.blocked:
            return 5.0
        if not self.queue.has_due():
            return 2.0
        if not self.breaker.allow():
            until = self.breaker.current().open_until
            self.blocked = f"circuit open until {time.strftime('%H:%M', time.localtime(until))}"
            return 10.0
        vod = self.queue.claim()
        if vod is None:
            return 2.0
        if not self.queue.startable(vod):
            return 0.0
        from vodtender.pipeline.upload.worker import UploadWorker  # loaded with the context, in __init__

        self.worker = UploadWorker(self.uploads, vod)
        self.worker.start()
        return 1.0

    def _why_blocked(self, tokens: AccessTokens) -> str | None:
        reason = tokens.check()
        if reason:
            reason = "uploads paused: " + reason
            if reason != self.blocked:  # once per change, not every step
                self.log.error(reason)
            return reason
        self.quota.used_today()  # keeps the gauge right after a restart or a new Pacific day
        return "; ".join(hold.describe() for hold in self.quota.holds()) or None

    # -- state -----------------------------------------------------------------------------------
    def status(self) -> str:
        if self.uploads is None:
            return (
                "uploading is off (no YT_CLIENT_ID/YT_CLIENT_SECRET): download-only, "
                f"{self.marked_done} VOD(s) marked done"
            )
        worker = self.worker
        if worker is not None and worker.is_alive():
            return worker.status()
        return self.blocked or "waiting for downloaded VODs"

    def readiness(self) -> list[str]:
        return [self.blocked] if self.blocked and not self.blocked.startswith("circuit") else []

    def shutdown(self) -> None:
        self.stop.set()
        worker = self.worker
        if worker is not None and worker.is_alive():
            worker.abort(STOP_GRACE)
