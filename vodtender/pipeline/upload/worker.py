"""One claimed VOD's upload, in its own thread: drives `ResumableUpload`, writes every outcome.

The daemon's loop starts the worker and, while it runs, keeps its lease (`keep_lease`): a chunk
can take longer than a lease.  The worker stores the session and the confirmed offset after
every step, so a restart resumes there.  Outcomes: done (every byte in: the VOD waits for
YouTube's processing, `processing.py`; then the playlist), retry later or failed (by error class
and attempts), given back when stopping or when every upload must wait (quota, upload limit,
authorisation).  Each is written only if the database confirms
the claim is still ours (`vods`): an upload that finishes after its lease was taken marks nothing,
adds nothing to the playlist and deletes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import threading

from vodtender.clients.youtube_terms import UPLOAD_LIMIT_REASON, WATCH_URL
from vodtender.pipeline import vods
from vodtender.pipeline.errors import ErrorClass, PipelineError
from vodtender.pipeline.upload import uploads
from vodtender.pipeline.upload.context import UploadContext
from vodtender.pipeline.upload.metadata import PartPlace, build_part_metadata
from vodtender.pipeline.upload.metrics import UPLOAD_BYTES, UPLOAD_FAILURES, UPLOAD_RESULTS, UPLOAD_SPEED
from vodtender.pipeline.upload.quota import PLAYLIST_INSERT_COST
from vodtender.pipeline.upload.resumable import QuotaExhausted, ResumableUpload, Stopped
from vodtender.pipeline.upload.thumbnail import set_thumbnail
from vodtender.pipeline.upload.tokens import AuthPaused
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.clock import utcnow
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Upload, Vod
from vodtender.runtime.speed import SpeedMeter

log = get_logger("uploader")


class UploadWorker(threading.Thread):
    """Uploads one claimed VOD and records the outcome; the daemon's loop keeps its lease."""

    def __init__(self, ctx: UploadContext, vod: Vod):
        super().__init__(name=f"upload-{vod.twitch_vod_id}", daemon=True)
        self.ctx = ctx
        self.vod = vod
        self.options = ctx.options_for(vod.channel)
        assert vod.downloaded_path, "the queue starts only VODs whose file is there"
        self.path: str = vod.downloaded_path
        self.log = log.bind(vod_id=vod.twitch_vod_id, channel=vod.channel)
        self.size = os.path.getsize(self.path)
        self.offset = vod.upload_offset or 0
        self.part: Upload | None = None  # the part in flight; its row takes every step
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
        part = f" part {self.part.part}/{self.part.parts}" if self.part and self.part.parts > 1 else ""
        return f"uploading {self.vod.twitch_vod_id}{part} {pct:.0f}% at {self.speed / 2**20:.1f} MiB/s"

    def keep_lease(self) -> None:
        """Renew the lease every third of its length (called from the daemon's loop)."""
        now = self.ctx.clock.monotonic()
        if now - self._lease_renewed < self.options.lease_seconds / 3:
            return
        self._lease_renewed = now
        if not vods.renew(self.vod.id, self.ctx.owner, self.options.lease_seconds):
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
        if not vods.renew_upload(self.vod.id, self.ctx.owner, self.options.lease_seconds, session_uri, offset):
            self.lost_lease = True
        elif self.part is not None:
            uploads.store_session(self.part.id, session_uri, offset)

    # -- the upload ------------------------------------------------------------------------------
    def run(self) -> None:
        ctx = self.ctx
        try:
            rows = uploads.plan_round(self.vod, self.options.part_limits)
            if all(row.state == uploads.PENDING for row in rows):  # a new upload, not a resumed one
                self._warn_if_uploaded_before()
            for row in rows:
                if row.state in uploads.NOT_IN:
                    self._upload_part(row, rows)
                    if self.lost_lease:
                        raise Stopped("lost the lease")
        except Stopped:
            self.given_back("stopped", "upload paused, the session is kept for the next run")
        except QuotaExhausted as exc:
            hold = ctx.quota.start_hold(exc.reason)
            limit = exc.reason == UPLOAD_LIMIT_REASON
            self.given_back("held", hold.describe(), event=f"{'upload limit' if limit else 'quota'}: {exc.reason}")
        except AuthPaused as exc:
            self.given_back("paused", str(exc), event=str(exc), error_class=ErrorClass.SYSTEMIC)
        except PipelineError as exc:
            self.failed(exc.error_class, str(exc))
        except Exception as exc:  # a bug or an unforeseen library error: retry later, never lose the VOD
            self.log.error("upload crashed", error=f"{type(exc).__name__}: {exc}", exc_info=True)
            self.failed(ErrorClass.TRANSIENT, f"{type(exc).__name__}: {exc}")
        else:
            self.done(rows)
        finally:
            UPLOAD_SPEED.set(0)
            ctx.wake()

    def _upload_part(self, row: Upload, rows: list[Upload]) -> None:
        """One part's resumable upload, from its stored session if it has one; its row then says its bytes are in."""
        assert row.path
        ctx = self.ctx
        self.part, self.path, self.size, self.offset = row, row.path, row.size, row.offset or 0
        self.meter.update(self.offset)
        earlier = tuple(str(r.video_id) for r in rows if r.part < row.part)
        place = PartPlace(row.part, row.parts, row.start_seconds, row.start_seconds + row.duration_seconds, earlier)
        body = build_part_metadata(self.vod, self.options.metadata, place, WATCH_URL).body()
        resumed = f" from the stored session at {row.offset} bytes" if row.session_uri else ""
        self.log.info("upload started" + resumed, size=self.size, title=body["snippet"]["title"], part=row.part)
        job = ResumableUpload(
            ctx.client,
            ctx.tokens,
            self.path,
            body,
            self.options.chunk_bytes,
            self,
            ctx.policy,
            ctx.stop,
            keep_going=lambda: not self.lost_lease,
        )
        video = job.run(row.session_uri, row.offset or 0)
        UPLOAD_BYTES.inc(max(0, self.size - self.offset))  # the last chunk, answered with the video
        row.video_id = str(video.get("id") or "")
        if not self.lost_lease:
            uploads.bytes_in(row.id, row.video_id, self.size, self._first_check())
            row.state = uploads.PROCESSING

    def _first_check(self) -> dt.datetime:
        """When the processing follower first asks YouTube about a video whose bytes just went in."""
        return utcnow() + dt.timedelta(seconds=self.options.processing_check)

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
        options = self.options
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

    def done(self, rows: list[Upload]) -> None:
        """Every part's bytes are in: the VOD waits, unleased, for YouTube to process its videos (the
        follower in `processing.py` publishes it); the parts go to the playlist in order."""
        size = sum(row.size for row in rows) if rows[0].parts > 1 else rows[0].size
        video_ids = [str(row.video_id or "") for row in rows]
        message = f"every byte on YouTube as video {', '.join(video_ids)}; following its processing"
        if not vods.await_processing(self.vod.id, self.ctx.owner, size, message):
            # Its new owner uploads it again: the file must stay, and these videos are duplicates to remove.
            UPLOAD_RESULTS.labels("lost").inc()
            self.log.warning(
                "upload finished but the lease was taken meanwhile; not marking it done, the file stays for the "
                "VOD's new owner (this upload is a duplicate)",
                youtube_url=WATCH_URL.format(id=video_ids[0]),
            )
            return
        UPLOAD_RESULTS.labels("done").inc()
        self.log.info("upload done", video_id=video_ids[0], size=size, parts=len(rows), next="YouTube processes it")
        self.ctx.breaker.record_success()
        uploads.round_finished(self.vod)
        for video_id in video_ids:  # in order, so the playlist plays the stream through
            set_thumbnail(self.ctx.client, self.ctx.quota, self.vod, video_id)
            self._add_to_playlist(video_id)

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
        playlist = self.options.playlist
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
