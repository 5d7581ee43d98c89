"""After the bytes: YouTube's processing of each uploaded video, followed to its end.

A video whose every byte is in is not published yet: YouTube processes it and may end it
`rejected` (duplicate, length, copyright, ...) or `failed` (codec, conversion, ...).  The
uploader's loop calls `ProcessingFollower.run_once()` at every step, also while a worker uploads:
it asks `videos.list` (`part=status,processingDetails`, up to 50 videos a call, 1 quota unit) about
the `uploads` rows in state processing whose `next_check_at` has come (each claimed first, so two
uploaders never ask about one video at once: uploads.claim_processing_due), and checks again after
`UPLOAD_PROCESSING_CHECK`, doubling up to 30 minutes, at most `UPLOAD_PROCESSING_MAX_CHECKS`
times.  Only when every video of the VOD's round is processed is the VOD done (`youtube_url` =
part 1's); a rejected or failed one fails the VOD with YouTube's reason, the file kept.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from googleapiclient.errors import HttpError

from vodtender.clients.youtube import LIST_MAX_IDS, YouTubeClient, error_reason
from vodtender.clients.youtube_terms import WATCH_URL
from vodtender.pipeline import vods
from vodtender.pipeline.errors import ErrorClass
from vodtender.pipeline.upload import uploads
from vodtender.pipeline.upload.metrics import PROCESSING_CHECKS, PROCESSING_RESULTS
from vodtender.pipeline.upload.options import UploadOptions
from vodtender.pipeline.upload.private_lock import PrivateLock
from vodtender.pipeline.upload.quota import Quota
from vodtender.runtime.clock import utcnow
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Upload, Vod

MAX_CHECK_INTERVAL = 1800.0  # seconds: the backoff's ceiling
MIN_WAIT = 0.1  # seconds: checks due at once wait at least this long (a failed check retries no sooner)
UNITS_GONE = ("quotaExceeded", "dailyLimitExceeded")
IDLE = 3600.0  # seconds to the next check when no video is processing

log = get_logger("uploader")

# YouTube's words (Videos resource, status.rejectionReason / status.failureReason), said plainly.
REJECTIONS = {
    "duplicate": "YouTube rejected it as a duplicate of a video already on the channel",
    "length": "YouTube rejected it as too long (over 12 hours, or over the channel's limit)",
    "copyright": "YouTube rejected it for copyright infringement",
    "trademark": "YouTube rejected it for trademark infringement",
    "termsOfUse": "YouTube rejected it for violating the Terms of Service",
    "inappropriate": "YouTube rejected it as inappropriate",
    "legal": "YouTube rejected it for legal reasons",
    "claim": "YouTube rejected it after a claim on its content",
    "uploaderAccountSuspended": "YouTube rejected it: the channel's account is suspended",
    "uploaderAccountClosed": "YouTube rejected it: the channel's account is closed",
}
FAILURES = {
    "codec": "YouTube could not process it: a codec it does not support",
    "conversion": "YouTube could not convert it",
    "emptyFile": "YouTube received an empty file",
    "invalidFile": "YouTube could not read the file",
    "tooSmall": "YouTube found the file too small",
    "uploadAborted": "YouTube says the upload was aborted",
    "deleted": "the video was deleted from YouTube before its processing ended",
    "terminated": "YouTube terminated its processing",
}


@dataclass(frozen=True)
class Verdict:
    """What YouTube says of one video: still processing, or its end (state, reason, privacy)."""

    state: str  # uploads.PROCESSING, PROCESSED, REJECTED or FAILED
    reason: str | None = None
    privacy: str | None = None
    progress: str = ""


def verdict(video: dict[str, Any] | None) -> Verdict:
    """Read one `videos.list` item (None: YouTube no longer has the video)."""
    if video is None:
        return Verdict(uploads.FAILED, "deleted")
    status = video.get("status") or {}
    details = video.get("processingDetails") or {}
    privacy = status.get("privacyStatus")
    upload_status = status.get("uploadStatus")
    if upload_status == "processed":
        return Verdict(uploads.PROCESSED, None, privacy)
    if upload_status == "rejected":
        return Verdict(uploads.REJECTED, str(status.get("rejectionReason") or "unknown"), privacy)
    if upload_status in ("failed", "deleted"):
        return Verdict(uploads.FAILED, str(status.get("failureReason") or upload_status), privacy)
    if details.get("processingStatus") in ("failed", "terminated"):
        reason = details.get("processingFailureReason") or details["processingStatus"]
        return Verdict(uploads.FAILED, str(reason), privacy)
    progress = details.get("processingProgress") or {}
    done, total = progress.get("partsProcessed"), progress.get("partsTotal")
    return Verdict(uploads.PROCESSING, privacy=privacy, progress=f"{done}/{total}" if total else "")


def explain(upload: Upload, found: Verdict) -> str:
    """The `processing_error` of a rejected or failed video, in YouTube's words and ours."""
    words = {**REJECTIONS, **FAILURES}.get(found.reason or "", f"YouTube ended it {found.state}")
    text = f"video {upload.video_id} {found.state} ({found.reason}): {words}"
    if found.reason == "duplicate":
        earlier = earlier_video(upload)
        text += (
            f"; an earlier upload of this VOD is video {earlier}"
            if earlier
            else "; YouTube does not say which video it duplicates (an upload by other means?)"
        )
    return text


def earlier_video(upload: Upload) -> str | None:
    """A video of an earlier round of the same VOD and part: what a duplicate most likely repeats."""
    same = (Upload.vod == uploads.vod_of(upload)) & (Upload.part == upload.part) & (Upload.round < upload.round)
    row = Upload.select(Upload.video_id).where(same & Upload.video_id.is_null(False)).order_by(Upload.round.desc())
    found = row.first()
    return found.video_id if found else None


class ProcessingFollower:
    """Asks YouTube about videos still processing, and ends each VOD when YouTube has."""

    def __init__(
        self,
        client: YouTubeClient,
        quota: Quota,
        options: UploadOptions,
        private_lock: PrivateLock,
        options_for: Callable[[str], UploadOptions] | None = None,
    ):
        self.client = client
        self.quota = quota
        self.options = options
        self.private_lock = private_lock
        self.options_for = options_for or (lambda channel: options)  # the privacy asked: per channel
        self._failing: str | None = None  # the last failed check's error, said once
        self._held = False  # the units are held: no check until the hold ends

    def run_once(self, now: dt.datetime | None = None) -> None:
        now = now or utcnow()
        self._held = self.quota.hold() is not None
        if self._held:  # videos.list costs units too
            return
        due = uploads.claim_processing_due(LIST_MAX_IDS, now)
        if not due:
            return
        try:
            items = self.client.video_statuses([row.video_id for row in due if row.video_id])
        except HttpError as exc:
            if error_reason(exc) in UNITS_GONE:  # the units are gone for every call: hold them
                self.quota.start_hold(error_reason(exc))
            self._check_failed(due, now, exc)
            return
        except Exception as exc:  # an outage, a refused token: every video waits for its next check
            self._check_failed(due, now, exc)
            return
        self._failing = None
        PROCESSING_CHECKS.inc()
        self.quota.spend(1)
        by_id = {item.get("id"): item for item in items}
        for row in due:
            self._follow(row, verdict(by_id.get(row.video_id)), now)

    def _check_failed(self, due: list[Upload], now: dt.datetime, exc: Exception) -> None:
        """Every video of the batch waits for its next check; the error is said once, not per try."""
        if isinstance(exc, HttpError):  # its text names the ids asked, which change from call to call
            error = f"HTTP {exc.resp.status} {error_reason(exc) or exc.reason}"
        else:
            error = f"{type(exc).__name__}: {exc}"
        if error != self._failing:
            log.warning("could not ask YouTube about processing videos, checking again later", error=error)
        self._failing = error
        for row in due:
            self._later(row, now)

    def next_check_in(self, now: dt.datetime | None = None) -> float:
        """Seconds until the next video's check is due (a long time when none is processing)."""
        at = None if self._held else uploads.next_check_at()
        return IDLE if at is None else max(MIN_WAIT, (at - (now or utcnow())).total_seconds())

    def _follow(self, upload: Upload, found: Verdict, now: dt.datetime) -> None:
        if found.state != uploads.PROCESSING:
            if not uploads.processing_ended(upload, found.state, found.reason, found.privacy):
                return  # another uploader's follower recorded it first
            PROCESSING_RESULTS.labels(found.state).inc()
            if found.state == uploads.PROCESSED:
                self._processed(upload, found)
            else:
                self._refused(upload, explain(upload, found))
            return
        if upload.polls + 1 >= self.options.processing_max_checks:
            if not uploads.processing_ended(upload, uploads.FAILED, "still processing", found.privacy):
                return
            PROCESSING_RESULTS.labels("gave_up").inc()
            self._refused(
                upload,
                f"video {upload.video_id} still processing after {upload.polls + 1} checks "
                "(UPLOAD_PROCESSING_MAX_CHECKS): see it in YouTube Studio; reset the VOD to upload it again",
            )
            return
        self._later(upload, now)

    def _later(self, upload: Upload, now: dt.datetime) -> None:
        delay = min(self.options.processing_check * 2**upload.polls, MAX_CHECK_INTERVAL)
        uploads.check_again(upload, now + dt.timedelta(seconds=delay))

    def _processed(self, upload: Upload, found: Verdict) -> None:
        videos = uploads.round_of(upload)
        vod = Vod.get_by_id(uploads.vod_of(upload))
        self.private_lock.observe(self.options_for(vod.channel).metadata.privacy, found.privacy, upload.video_id)
        bound = log.bind(vod_id=vod.twitch_vod_id, channel=vod.channel)
        if len(videos) < upload.parts or any(v.state != uploads.PROCESSED for v in videos):
            bound.info("video processed, waiting for the VOD's other parts", video_id=upload.video_id)
            return
        url = WATCH_URL.format(id=videos[0].video_id)
        if not vods.mark_published(vod.id, url):
            bound.info("video processed, but the VOD was reset meanwhile: not marking it done", youtube_url=url)
            return
        bound.info("video processed, VOD published", youtube_url=url, privacy=found.privacy)
        if self.options.delete_local and vod.downloaded_path:
            delete_uploaded_file(vod, vod.downloaded_path)

    def _refused(self, upload: Upload, message: str) -> None:
        vod = Vod.get_by_id(uploads.vod_of(upload))
        log.error("YouTube did not publish the video, VOD marked failed", vod_id=vod.twitch_vod_id, error=message)
        vods.fail_processing(vod.id, message, ErrorClass.FATAL)


def delete_uploaded_file(vod: Vod, path: str) -> None:
    """UPLOAD_DELETE_LOCAL: the file goes once YouTube has published every video of it."""
    try:
        os.unlink(path)
    except OSError as exc:
        log.warning("could not delete the uploaded file", vod_id=vod.twitch_vod_id, path=path, error=str(exc))
        return
    log.info("local file deleted after confirmed upload (UPLOAD_DELETE_LOCAL)", vod_id=vod.twitch_vod_id, path=path)
    vods.record_event(vod.id, vods.UPLOAD_STAGE, "file_deleted", path)
