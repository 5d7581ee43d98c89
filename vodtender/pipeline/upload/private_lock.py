"""YouTube's private lock: an API project Google has not audited gets every upload locked private.

YouTube accepts `privacyStatus` public or unlisted on the insert and then makes the video private
anyway ("videos uploaded via videos.insert from unverified API projects ... will be restricted to
private viewing mode" until the project passes Google's audit).  Seen on a processed video whose
privacy is not the one asked: said once (the `kv` key `youtube_private_locked` remembers it,
for every uploader and across restarts), shown by `vodtender status` and the metric
`vodtender_youtube_private_locked`; a later video with the asked privacy lifts it.
"""

from __future__ import annotations

from vodtender.pipeline.kv import PRIVATE_LOCKED_KEY, kv_delete, kv_get, kv_set
from vodtender.pipeline.upload.metrics import PRIVATE_LOCKED
from vodtender.runtime.logs import get_logger

log = get_logger("uploader")

WHY = (
    "YouTube locked an upload to private although UPLOAD_PRIVACY={asked}: this API project is not audited, "
    "so YouTube locks every upload private until Google audits it. Apply for the audit (YouTube API Services: "
    "audit and quota extension form) or set UPLOAD_PRIVACY=private; the videos can be published by hand in "
    "YouTube Studio"
)


def private_lock_note() -> str | None:
    """What the last locked video said (for `vodtender status`), None when no lock was seen."""
    return kv_get(PRIVATE_LOCKED_KEY)


class PrivateLock:
    def __init__(self) -> None:
        PRIVATE_LOCKED.set(1 if private_lock_note() else 0)

    def observe(self, asked: str, got: str | None, video_id: str | None) -> None:
        """A processed video's privacy, as YouTube reports it, against the one asked."""
        if got is None or asked == "private":  # nothing to compare: a lock cannot show
            return
        locked = private_lock_note()
        if got == asked:
            if locked:
                kv_delete(PRIVATE_LOCKED_KEY)
                PRIVATE_LOCKED.set(0)
                log.info("YouTube kept the privacy asked: uploads are no longer locked private", video_id=video_id)
            return
        PRIVATE_LOCKED.set(1)
        if locked:
            return
        kv_set(PRIVATE_LOCKED_KEY, f"video {video_id}: asked {asked}, YouTube made it {got}")
        log.warning(WHY.format(asked=asked), video_id=video_id, privacy=got)
