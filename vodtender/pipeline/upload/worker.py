"""One claimed VOD's upload, in its own thread: drives `ResumableUpload`, writes every outcome.

The daemon's loop starts the worker and, while it runs, keeps its lease (`keep_lease`): a chunk
can take longer than a lease.  The worker stores the session and the confirmed offset after
every step, so a restart resumes there.  Outcomes: done (then the playlist and, if asked, the
local file), retry later or failed (by error class and attempts), given back when stopping or
when every upload must wait (quota, authorisation).  Each is written only if the database confirms
the claim is still ours (`vods`): an upload that finishes after its lease was taken marks nothing,
adds nothing to the playlist and deletes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

from vodtender.pipeline import vods
from vodtender.pipeline.errors import ErrorClass, PipelineError
from vodtender.pipeline.upload.context import UploadContext
from vodtender.pipeline.upload.metadata import build_metadata
from vodtender.pipeline.upload.metrics import UPLOAD_BYTES, UPLOAD_FAILURES, UPLOAD_RESULTS, UPLOAD_SPEED
from vodtender.pipeline.upload.quota import PLAYLIST_INSERT_COST
from vodtender.pipeline.upload.resumable import QuotaExhausted, ResumableUpload, Stopped
from vodtender.pipeline.upload.thumbnail import set_thumbnail
from vodtender.pipeline.upload.tokens import AuthPaused
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.clock import utcnow
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod
from vodtender.runtime.speed import SpeedMeter

WATCH_URL = "https://www.youtube.com/watch?v={id}"

log = get_logger("uploader")


class UploadWorker(threading.Thread):
    """Uploads one claimed VOD and records the outcome; the daemon's loop keeps its lease."""

    def __init__(self, ctx: UploadContext, vod: Vod):
        super().__init__(name=f"upload-{vod.twitch_vod_id}", daemon=True)
        self.ctx = ctx
        self.vod = vod
        assert vod.downloaded_path, "the queue starts only VODs whose file is there"
        self.path: str = vod.downloaded_path
        self.log = log.bind(vod_id=vod.twitch_vod_id, channel=vod.channel)
        self.size = os.path.getsize(self.path)
        self.offset = vod.upload_offset or 0
        self.lost_lease = False
        self.meter = SpeedMeter(clock=ctx.clock)
        self.meter.update(self.offset)
        self._lease_renewed = ctx.clock.monotonic()

    @property
    def speed(self) -> float:
        """Bytes per second YouTube confirmed over the last few seconds."""
        return self.meter.rate

    def status(self) -> str:
        pct = 100.0 * self.offset / self.size if self.size else 100.0
        return f"uploading {self.vod.twitch_vod_id} {pct:.0f}% at {self.speed / 2**20:.1f} MiB/s"

    def keep_lease(self) -> None:
        """Renew the lease every third of its length (called from the daemon's loop)."""
        now = self.ctx.clock.monotonic()
        if now - self._lease_renewed < self.ctx.options.lease_seconds / 3:
            return
        self._lease_renewed = now
        if not vods.renew(self.vod.id, self.ctx.owner, self.ctx.options.lease_seconds):
            self.lost_lease = True
            log.warning("lost the lease of the VOD being uploaded, stopping it", vod_id=self.vod.twitch_vod_id)

    def abort(self, grace: float) -> None:
        """Cut the chunk in flight and wait up to `grace` seconds; the daemon is stopping."""
        self.ctx.client.abort()  # YouTube keeps what it got, the session stays stored
        self.join(timeout=grace)
        if self.is_alive():  # stuck in one chunk: the session stays stored, the next run resumes it
            vods.give_back_upload(self.vod.id, self.ctx.owner)
            log.warning("upload still busy at stop; resuming it on the next start", vod_id=self.vod.twitch_vod_id)

    # -- UploadEvents ----------------------------------------------------------------------------
    def session_started(self, session_uri: str) -> None:
        used = self.ctx.quota.spend(self.ctx.quota.upload_cost)
        self._renew(session_uri, 0)
        self.log.info("upload session started", size=self.size, quota_used_today=used)

    def confirmed(self, session_uri: str, offset: int) -> None:
        if offset > self.offset:
            UPLOAD_BYTES.inc(offset - self.offset)
        UPLOAD_SPEED.set(self.meter.update(offset))
        self.offset = offset
        self._renew(session_uri or None, offset)

    def retrying(self, attempt: int, error: str, delay: float) -> None:
        UPLOAD_RESULTS.labels("retry").inc()
        self.log.warning(
            "upload step failed, resuming", attempt=attempt, error=error, retry_in=f"{delay:.1f}s", offset=self.offset
        )
        vods.record_event(
            self.vod.id, vods.UPLOAD_STAGE, "retry", f"attempt {attempt}: {error}", ErrorClass.TRANSIENT.value
        )

    def _renew(self, session_uri: str | None, offset: int) -> None:
        if not vods.renew_upload(self.vod.id, self.ctx.owner, self.ctx.options.lease_seconds, session_uri, offset):
            self.lost_lease = True

    # -- the upload ------------------------------------------------------------------------------
    def run(self) -> None:
        ctx, vod = self.ctx, self.vod
        body = build_metadata(vod, ctx.options.metadata).body()
        resumed = f" from the stored session at {vod.upload_offset} bytes" if vod.upload_session_uri else ""
        self.log.info("upload started" + resumed, size=self.size, title=body["snippet"]["title"])
        self._warn_if_uploaded_before()
        job = ResumableUpload(
            ctx.client,
            ctx.tokens,
            self.path,
            body,
            ctx.options.chunk_bytes,
            self,
            ctx.policy,
            ctx.stop,
            keep_going=lambda: not self.lost_lease,
        )
        try:
            video = job.run(vod.upload_session_uri, vod.upload_offset or 0)
        except Stopped:
            self.given_back("stopped", "upload paused, the session is kept for the next run")
        except QuotaExhausted as exc:
            ctx.quota.start_hold(exc.reason)
            self.given_back(
                "held",
                f"YouTube quota exhausted ({exc.reason}); waiting for the daily reset",
                event=f"quota: {exc.reason}",
            )
        except AuthPaused as exc:
            self.given_back("paused", str(exc), event=str(exc), error_class=ErrorClass.SYSTEMIC)
        except PipelineError as exc:
            self.failed(exc.error_class, str(exc))
        except Exception as exc:  # a bug or an unforeseen library error: retry later, never lose the VOD
            self.log.error("upload crashed", error=f"{type(exc).__name__}: {exc}", exc_info=True)
            self.failed(ErrorClass.TRANSIENT, f"{type(exc).__name__}: {exc}")
        else:
            self.done(video)
        finally:
            UPLOAD_SPEED.set(0)
            ctx.wake()

    # -- outcomes --------------------------------------------------------------------------------
    def given_back(
        self, result: str, message: str, event: str | None = None, error_class: ErrorClass | None = None
    ) -> None:
        """Back in the queue, the session kept; `event`: every upload waits, recorded with this message."""
        UPLOAD_RESULTS.labels(result).inc()
        self.log.info(message, offset=self.offset)
        if event is None:
            vods.give_back_upload(self.vod.id, self.ctx.owner)
        else:
            vods.hold_upload(self.vod.id, self.ctx.owner, result, event, error_class)

    def failed(self, error_class: ErrorClass, message: str) -> None:
        UPLOAD_RESULTS.labels("failed").inc()
        UPLOAD_FAILURES.labels(error_class.value).inc()
        options = self.ctx.options
        retries = (self.vod.upload_retries or 0) + 1
        retry_at: dt.datetime | None = None
        # A systemic failure is not this VOD's fault: it waits (and counts for the breaker), never fails.
        if error_class == ErrorClass.FATAL or (error_class == ErrorClass.TRANSIENT and retries >= options.max_attempts):
            self.log.error(
                "upload failed, VOD marked failed", error=message, error_class=error_class.value, attempt=retries
            )
        else:
            delay = backoff_delay(options.backoff_base, retries)
            retry_at = utcnow() + dt.timedelta(seconds=delay)
            self.log.warning(
                "upload failed, will retry",
                error=message,
                error_class=error_class.value,
                attempt=retries,
                retry_in=f"{delay:.0f}s",
            )
        if error_class != ErrorClass.FATAL:
            self.ctx.breaker.record_failure(f"upload: {message}")
        if retry_at is None:
            vods.fail_upload(self.vod.id, self.ctx.owner, retries, error_class, message)
        else:
            vods.retry_upload_later(self.vod.id, self.ctx.owner, retries, retry_at, error_class, message)

    def done(self, video: dict[str, Any]) -> None:
        video_id = str(video.get("id") or "")
        UPLOAD_BYTES.inc(max(0, self.size - self.offset))  # the last chunk, answered with the video
        url = WATCH_URL.format(id=video_id)
        if not vods.mark_uploaded(self.vod.id, self.ctx.owner, url, self.size):
            # Its new owner uploads it again: the file must stay, and this video is a duplicate to remove.
            UPLOAD_RESULTS.labels("lost").inc()
            self.log.warning(
                "upload finished but the lease was taken meanwhile; not marking it done, the file stays for the "
                "VOD's new owner (this upload is a duplicate)",
                youtube_url=url,
            )
            return
        UPLOAD_RESULTS.labels("done").inc()
        self.log.info("upload done", youtube_url=url, size=self.size)
        self.ctx.breaker.record_success()
        set_thumbnail(self.ctx.client, self.ctx.quota, self.vod, video_id)
        self._add_to_playlist(video_id)
        if self.ctx.options.delete_local:
            self._delete_local_file()

    def _warn_if_uploaded_before(self) -> None:
        """An operator reset a VOD that already had a video: this upload makes another one.  Said once
        per new upload (a resumed or retried one is not warned again)."""
        earlier = vods.earlier_video(self.vod.id)
        if earlier is None or vods.reupload_warned(self.vod.id):
            return
        message = f"uploading again: this VOD already has a video at {earlier}; this upload makes a new one"
        self.log.warning(message, earlier_video=earlier)
        vods.record_event(self.vod.id, vods.UPLOAD_STAGE, "reupload", message)

    def _add_to_playlist(self, video_id: str) -> None:
        playlist = self.ctx.options.playlist
        if not playlist or not video_id:
            return
        try:
            self.ctx.client.add_to_playlist(playlist, video_id)
        except Exception as exc:  # the video is uploaded; a playlist problem must not undo that
            self.log.warning(
                "could not add the video to the playlist", playlist=playlist, error=f"{type(exc).__name__}: {exc}"
            )
            vods.record_event(
                self.vod.id, vods.UPLOAD_STAGE, "warning", f"playlist {playlist}: {type(exc).__name__}: {exc}"
            )
            return
        self.ctx.quota.spend(PLAYLIST_INSERT_COST)

    def _delete_local_file(self) -> None:
        path = self.path
        try:
            os.unlink(path)
        except OSError as exc:
            self.log.warning("could not delete the uploaded file", path=path, error=str(exc))
            return
        self.log.info("local file deleted after confirmed upload (UPLOAD_DELETE_LOCAL)", path=path)
        vods.record_event(self.vod.id, vods.UPLOAD_STAGE, "file_deleted", path)
