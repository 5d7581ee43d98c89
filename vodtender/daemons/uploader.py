"""The uploader: YouTube resumable uploads of downloaded VODs.

The main loop decides whether an upload may start (credentials, quota hold, circuit breaker),
claims the next downloaded VOD and hands it to one worker thread; while it runs, the loop
renews the lease.  The worker (`UploadWorker`) drives `pipeline.upload.ResumableUpload` and
writes every outcome to the VOD row.  Without YouTube credentials the uploader marks downloaded
VODs done (download-only).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from typing import Any

import peewee
from prometheus_client import Counter, Gauge

from vodtender.clients.google_oauth import TokenEndpoint
from vodtender.clients.youtube import YouTubeClient
from vodtender.daemons.requirements import youtube_problems
from vodtender.pipeline import vods
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.errors import ErrorClass, PipelineError
from vodtender.pipeline.upload.metadata import UploadSettings, build_metadata
from vodtender.pipeline.upload.quota import PLAYLIST_INSERT_COST, Quota
from vodtender.pipeline.upload.resumable import QuotaExhausted, ResumableUpload, RetryPolicy, Stopped
from vodtender.pipeline.upload.tokens import AccessTokens, AuthPaused, TokenCipher, TokenStore
from vodtender.pipeline.vods import DISCOVERED, UPLOADING
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.config import Config, Problem
from vodtender.runtime.daemon import Daemon
from vodtender.runtime.db import write
from vodtender.runtime.models import Vod, VodEvent, utcnow

UPLOAD_BYTES = Counter("vodtender_upload_bytes_total", "bytes YouTube confirmed receiving")
UPLOAD_RESULTS = Counter("vodtender_upload_results_total",
                         "upload attempts by outcome: done, retry, failed, held, paused, requeued, stopped", ["result"])
UPLOAD_FAILURES = Counter("vodtender_upload_failures_total", "failed upload attempts by error class", ["error_class"])
UPLOAD_ENABLED = Gauge("vodtender_upload_enabled", "1 when YouTube uploading is configured, 0 in download-only mode")
UPLOAD_SPEED = Gauge("vodtender_upload_speed_bytes_per_second", "throughput of the current upload")

for _result in ("done", "retry", "failed", "held", "paused", "requeued", "stopped"):
    UPLOAD_RESULTS.labels(_result)  # present from the start, so rate() and alerts see every series
for _class in (ErrorClass.TRANSIENT, ErrorClass.FATAL, ErrorClass.SYSTEMIC):
    UPLOAD_FAILURES.labels(_class.value)

DOWNLOAD_ONLY = "skipped"  # upload_state of a VOD done without uploading
DONE = "done"
WATCH_URL = "https://www.youtube.com/watch?v={id}"


def add_event(vod_id: int, kind: str, message: str, error_class: str | None = None) -> None:
    write(lambda: VodEvent.create(vod=vod_id, stage="upload", kind=kind, error_class=error_class,
                                  message=message[:2000]))


class UploadWorker(threading.Thread):
    """Uploads one claimed VOD and records the outcome; the daemon's loop keeps its lease."""

    def __init__(self, uploader: Uploader, vod: Vod):
        super().__init__(name=f"upload-{vod.twitch_vod_id}", daemon=True)
        self.up = uploader
        self.vod = vod
        self.log = uploader.log.bind(vod_id=vod.twitch_vod_id, channel=vod.channel)
        self.size = os.path.getsize(vod.downloaded_path)
        self.offset = vod.upload_offset or 0
        self.lost_lease = False
        self.speed = 0.0  # bytes/s over the last second or so
        self._speed_mark = (time.monotonic(), self.offset)

    # -- UploadEvents ----------------------------------------------------------------------------
    def session_started(self, session_uri: str) -> None:
        used = self.up.quota.spend(self.up.cfg.upload_quota_cost)
        self._renew(upload_session_uri=session_uri, upload_offset=0)
        self.log.info("upload session started", size=self.size, quota_used_today=used)

    def confirmed(self, session_uri: str, offset: int) -> None:
        if offset > self.offset:
            UPLOAD_BYTES.inc(offset - self.offset)
        now = time.monotonic()
        mark_time, mark_offset = self._speed_mark
        if now - mark_time >= 1.0:
            self.speed = max(0, offset - mark_offset) / (now - mark_time)
            UPLOAD_SPEED.set(self.speed)
            self._speed_mark = (now, offset)
        self.offset = offset
        self._renew(upload_session_uri=session_uri or None, upload_offset=offset)

    def retrying(self, attempt: int, error: str, delay: float) -> None:
        UPLOAD_RESULTS.labels("retry").inc()
        self.log.warning("upload step failed, resuming", attempt=attempt, error=error, retry_in=f"{delay:.1f}s",
                         offset=self.offset)
        add_event(self.vod.id, "retry", f"attempt {attempt}: {error}", ErrorClass.TRANSIENT)

    def _renew(self, **fields: Any) -> None:
        if not vods.renew(self.vod.id, self.up.owner, self.up.cfg.lease_duration, **fields):
            self.lost_lease = True

    # -- the upload ------------------------------------------------------------------------------
    def run(self) -> None:
        vod = self.vod
        body = build_metadata(vod, self.up.settings).body()
        resumed = f" from the stored session at {vod.upload_offset} bytes" if vod.upload_session_uri else ""
        self.log.info("upload started" + resumed, size=self.size, title=body["snippet"]["title"])
        job = ResumableUpload(self.up.client, self.up.tokens, vod.downloaded_path, body, self.up.cfg.upload_chunk_size,
                              self, self.up.policy, self.up.stop, keep_going=lambda: not self.lost_lease)
        try:
            video = job.run(vod.upload_session_uri, vod.upload_offset or 0)
        except Stopped:
            self._give_back("stopped", "upload paused, the session is kept for the next run")
        except QuotaExhausted as exc:
            self.up.quota.start_hold(exc.reason)
            self._give_back("held", f"YouTube quota exhausted ({exc.reason}); waiting for the daily reset")
            add_event(vod.id, "held", f"quota: {exc.reason}")
        except AuthPaused as exc:
            self._give_back("paused", str(exc))
            add_event(vod.id, "paused", str(exc), ErrorClass.SYSTEMIC)
        except PipelineError as exc:
            self._failed(exc.error_class, str(exc))
        except Exception as exc:  # a bug or an unforeseen library error: retry later, never lose the VOD
            self.log.error("upload crashed", error=f"{type(exc).__name__}: {exc}", exc_info=True)
            self._failed(ErrorClass.TRANSIENT, f"{type(exc).__name__}: {exc}")
        else:
            self._done(video)
        finally:
            UPLOAD_SPEED.set(0)
            self.up.runtime.wake()

    def _give_back(self, result: str, message: str) -> None:
        UPLOAD_RESULTS.labels(result).inc()
        self.log.info(message, offset=self.offset)
        vods.release(self.vod.id, self.up.owner, upload_state=None)

    def _failed(self, error_class: ErrorClass, message: str) -> None:
        UPLOAD_RESULTS.labels("failed").inc()
        UPLOAD_FAILURES.labels(error_class.value).inc()
        retries = (self.vod.upload_retries or 0) + 1
        fields: dict[str, Any] = {"upload_state": None, "error_class": error_class.value, "upload_retries": retries}
        # A systemic failure is not this VOD's fault: it waits (and counts for the breaker), never fails.
        if error_class == ErrorClass.FATAL or (error_class == ErrorClass.TRANSIENT
                                               and retries >= self.up.cfg.upload_max_attempts):
            fields["processing_error"] = f"upload: {message}"
            self.log.error("upload failed, VOD marked failed", error=message, error_class=error_class.value,
                           attempt=retries)
        else:
            delay = backoff_delay(self.up.cfg.upload_backoff_base, retries)
            fields["next_attempt_at"] = utcnow() + dt.timedelta(seconds=delay)
            self.log.warning("upload failed, will retry", error=message, error_class=error_class.value,
                             attempt=retries, retry_in=f"{delay:.0f}s")
        if error_class != ErrorClass.FATAL:
            self.up.breaker.record_failure(f"upload: {message}")
        vods.release(self.vod.id, self.up.owner, **fields)
        add_event(self.vod.id, "error", message, error_class.value)

    def _done(self, video: dict[str, Any]) -> None:
        video_id = str(video.get("id") or "")
        UPLOAD_BYTES.inc(max(0, self.size - self.offset))  # the last chunk, answered with the video
        url = WATCH_URL.format(id=video_id)
        vods.release(self.vod.id, self.up.owner, youtube_url=url, processed=1, upload_state=DONE,
                       upload_session_uri=None, upload_offset=self.size, processing_error=None, error_class=None,
                       next_attempt_at=None)
        UPLOAD_RESULTS.labels("done").inc()
        add_event(self.vod.id, "done", url)
        self.log.info("upload done", youtube_url=url, size=self.size)
        self.up.breaker.record_success()
        self._add_to_playlist(video_id)
        if self.up.cfg.upload_delete_local:
            self._delete_local_file()

    def _add_to_playlist(self, video_id: str) -> None:
        playlist = self.up.cfg.upload_playlist
        if not playlist or not video_id:
            return
        try:
            self.up.client.add_to_playlist(playlist, video_id)
        except Exception as exc:  # the video is uploaded; a playlist problem must not undo that
            self.log.warning("could not add the video to the playlist", playlist=playlist,
                             error=f"{type(exc).__name__}: {exc}")
            add_event(self.vod.id, "warning", f"playlist {playlist}: {type(exc).__name__}: {exc}")
            return
        self.up.quota.spend(PLAYLIST_INSERT_COST)

    def _delete_local_file(self) -> None:
        try:
            os.unlink(self.vod.downloaded_path)
        except OSError as exc:
            self.log.warning("could not delete the uploaded file", path=self.vod.downloaded_path, error=str(exc))
            return
        self.log.info("local file deleted after confirmed upload (UPLOAD_DELETE_LOCAL)", path=self.vod.downloaded_path)
        add_event(self.vod.id, "file_deleted", self.vod.downloaded_path)


class Uploader(Daemon):
    name = "uploader"
    sections = ("general", "uploader")

    @classmethod
    def config_problems(cls, cfg: Config) -> list[Problem]:
        return youtube_problems(cfg)

    def setup(self) -> None:
        cfg = self.cfg
        self.owner = vods.owner_name()
        self.enabled = bool(cfg.yt_client_id and cfg.yt_client_secret)
        self.stop = threading.Event()
        self.breaker = CircuitBreaker(cfg.circuit_failure_threshold, cfg.circuit_open_cooldown)
        self.quota = Quota(cfg.upload_quota_daily, cfg.upload_quota_cost)
        self.policy = RetryPolicy(max(1, cfg.upload_max_attempts), cfg.upload_backoff_base)
        self.settings = UploadSettings(cfg.upload_title_template, cfg.upload_description_template, cfg.upload_privacy,
                                       cfg.upload_category, tuple(cfg.upload_tags or ()), cfg.twitch_vod_url_template)
        self.worker: UploadWorker | None = None
        self.blocked: str | None = None  # why no upload may start now
        self.marked_done = 0
        self._last_lease_renewal = 0.0
        UPLOAD_ENABLED.set(1 if self.enabled else 0)
        if self.enabled:
            store = TokenStore(TokenCipher(cfg.encryption_key))
            endpoint = TokenEndpoint(cfg.youtube_token_url, cfg.yt_client_id, cfg.yt_client_secret, cfg.upload_timeout)
            self.tokens = AccessTokens(store, endpoint)
            self.client = YouTubeClient(cfg.youtube_api_url, self.tokens.access_token, cfg.upload_timeout)
            self.log.info("uploading to YouTube", privacy=self.settings.privacy,
                          tokens="encrypted" if store.cipher.encrypting else "plaintext")
        else:
            self.log.info("uploading is off (no YT_CLIENT_ID/YT_CLIENT_SECRET): downloaded VODs are marked done")

    # -- the loop --------------------------------------------------------------------------------
    def run_once(self) -> float:
        if self.worker is not None:
            if self.worker.is_alive():
                self._keep_lease()
                return 1.0
            self.worker = None
        if not self.enabled:
            self._mark_download_only()
            return 5.0
        self.blocked = self._why_blocked()
        if self.blocked:
            return 5.0
        if not Vod.select(Vod.id).where(vods.upload_due() & self._reachable()).exists():
            return 2.0
        if not self.breaker.allow():
            until = self.breaker.current().open_until
            self.blocked = f"circuit open until {time.strftime('%H:%M', time.localtime(until))}"
            return 10.0
        vod = vods.claim(vods.upload_due(), self.owner, self.cfg.lease_duration, extra=self._reachable(),
                           upload_state=UPLOADING)
        if vod is None:
            return 2.0
        if not vod.downloaded_path or not os.path.isfile(vod.downloaded_path):
            self._back_to_download(vod)
            return 0.0
        if not os.access(vod.downloaded_path, os.R_OK):
            self._unreadable(vod)
            return 0.0
        if not vod.upload_session_uri and not self.quota.fits_upload():
            vods.release(vod.id, self.owner, upload_state=None)
            self.quota.start_hold(f"UPLOAD_QUOTA_DAILY={self.cfg.upload_quota_daily} units used today")
            return 0.0
        self.worker = UploadWorker(self, vod)
        self._last_lease_renewal = time.monotonic()
        self.worker.start()
        return 1.0

    def _why_blocked(self) -> str | None:
        reason = self.tokens.check()
        if reason:
            reason = "uploads paused: " + reason
            if reason != self.blocked:  # once per change, not every step
                self.log.error(reason)
            return reason
        self.quota.used_today()  # keeps the gauge right after a restart or a new Pacific day
        hold = self.quota.hold()
        return hold.describe() if hold else None

    def _reachable(self) -> peewee.Expression:
        return vods.reachable_files(self.cfg.data_dir_shared)

    def _keep_lease(self) -> None:
        assert self.worker is not None
        if time.monotonic() - self._last_lease_renewal < self.cfg.lease_duration / 3:
            return
        self._last_lease_renewal = time.monotonic()
        if not vods.renew(self.worker.vod.id, self.owner, self.cfg.lease_duration):
            self.worker.lost_lease = True
            self.log.warning("lost the lease of the VOD being uploaded, stopping it",
                             vod_id=self.worker.vod.twitch_vod_id)

    def _back_to_download(self, vod: Vod) -> None:
        self.log.warning("downloaded file vanished, handing the VOD back to the downloader",
                         vod_id=vod.twitch_vod_id, path=vod.downloaded_path)
        vods.release(vod.id, self.owner, download_state=DISCOVERED, downloaded_path=None, download_bytes=0,
                       upload_state=None, upload_session_uri=None, upload_offset=0)
        UPLOAD_RESULTS.labels("requeued").inc()
        add_event(vod.id, "requeued", f"file {vod.downloaded_path} vanished before upload: back to download")

    def _unreadable(self, vod: Vod) -> None:
        message = f"cannot read {vod.downloaded_path} (permissions?): retrying in 10 minutes"
        self.log.error("downloaded file unreadable", vod_id=vod.twitch_vod_id, path=vod.downloaded_path)
        vods.release(vod.id, self.owner, upload_state=None, error_class=ErrorClass.SYSTEMIC.value,
                       next_attempt_at=utcnow() + dt.timedelta(minutes=10))
        add_event(vod.id, "error", message, ErrorClass.SYSTEMIC.value)

    def _mark_download_only(self) -> None:
        def mark() -> list[Vod]:
            free = Vod.lease_owner.is_null() | (Vod.lease_until <= utcnow())
            due = list(Vod.select(Vod.id, Vod.twitch_vod_id).where(vods.upload_due() & free).limit(200))
            if due:
                ids = [v.id for v in due]
                Vod.update(processed=1, upload_state=DOWNLOAD_ONLY, updated_at=utcnow()).where(
                    Vod.id.in_(ids)).execute()
                VodEvent.insert_many([{"vod": i, "stage": "upload", "kind": "done",
                                       "message": "download-only: uploading is off"} for i in ids]).execute()
            return due

        for vod in write(mark):
            self.marked_done += 1
            self.log.info("VOD done without upload (download-only)", vod_id=vod.twitch_vod_id)

    # -- state -----------------------------------------------------------------------------------
    def status(self) -> str:
        if not self.enabled:
            return ("uploading is off (no YT_CLIENT_ID/YT_CLIENT_SECRET): download-only, "
                    f"{self.marked_done} VOD(s) marked done")
        worker = self.worker
        if worker is not None and worker.is_alive():
            pct = 100.0 * worker.offset / worker.size if worker.size else 100.0
            return f"uploading {worker.vod.twitch_vod_id} {pct:.0f}% at {worker.speed / 2**20:.1f} MiB/s"
        return self.blocked or "waiting for downloaded VODs"

    def readiness(self) -> list[str]:
        return [self.blocked] if self.blocked and not self.blocked.startswith("circuit") else []

    def shutdown(self) -> None:
        if not getattr(self, "stop", None):
            return
        self.stop.set()
        worker = self.worker
        if worker is not None and worker.is_alive():
            self.client.abort()  # the chunk in flight is cut; YouTube keeps what it got, the session stays stored
            worker.join(timeout=20.0)
            if worker.is_alive():  # stuck in one chunk: the session stays stored, the next run resumes it
                vods.release(worker.vod.id, self.owner, upload_state=None)
                self.log.warning("upload still busy at stop; resuming it on the next start",
                                 vod_id=worker.vod.twitch_vod_id)
