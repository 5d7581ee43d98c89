"""VODs an operator asks for by id (`vodtender add`): looked up on Helix and queued like listed ones.

Any video Helix knows can be asked for: a past broadcast, a highlight or an upload, from a channel
not in `TWITCH_CHANNEL`, or older than the catalog's `VOD_CATALOG_MAX`.  The catalog never marks it
missing for being outside its range: it judges only the channels, types and dates it listed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from vodtender.clients.helix import MAX_PAGE_SIZE, HelixClient
from vodtender.pipeline import vods
from vodtender.pipeline.catalog.expiry import record_broadcaster_type
from vodtender.pipeline.catalog.helix_records import VideoRecord, parse_user, parse_video
from vodtender.pipeline.catalog.sync import upsert_videos
from vodtender.runtime.db import write
from vodtender.runtime.models import Vod

# A bare id, or a video page's address as a browser shows it (a `?t=1h2m` start time is ignored).
_VIDEO_REF = re.compile(r"(?:(?:https?://)?(?:www\.|m\.)?twitch\.tv/videos/)?(\d{1,20})/?(?:[?#]\S*)?", re.ASCII)


class BadReference(ValueError):
    """Neither a VOD id nor a twitch.tv/videos/ address."""


def parse_reference(text: str) -> str:
    """The Twitch video id in `text`: `123456789` or `https://www.twitch.tv/videos/123456789`."""
    match = _VIDEO_REF.fullmatch(text.strip())
    if match is None:
        raise BadReference(f"not a VOD id or a twitch.tv/videos/ address: {text[:80]!r}")
    return match.group(1)


@dataclasses.dataclass(frozen=True)
class Requested:
    """What became of one asked-for id: `record` is None when Helix does not know it."""

    vod_id: str
    record: VideoRecord | None
    new: bool = False
    state: str = ""  # the known VOD's download state
    old_priority: int = 0

    def describe(self, priority: int | None) -> str:
        r = self.record
        if r is None:
            return f"VOD {self.vod_id}: Twitch does not know it (deleted, private, or a wrong id); not queued"
        what = f"VOD {r.id} ({r.user_login}, {r.type}, {r.duration_seconds // 60} min): {r.title!r}"
        if self.new:
            return f"queued {what}" + (f", priority {priority}" if priority is not None else "")
        change = f", priority {self.old_priority} -> {priority}" if priority is not None else ""
        return f"already in the archive ({self.state}) {what}{change}"


def request_vods(client: HelixClient, vod_ids: Sequence[str], priority: int | None = None) -> list[Requested]:
    """Look the ids up on Helix, store what it knows as the catalog would, and set `priority` on them."""
    wanted = list(dict.fromkeys(vod_ids))
    found: dict[str, VideoRecord] = {}
    for start in range(0, len(wanted), MAX_PAGE_SIZE):
        for item in client.videos_by_id(wanted[start : start + MAX_PAGE_SIZE]):
            record = parse_video(item)  # an unreadable item is logged there and counts as unknown
            if record is not None and record.user_login:
                found[record.id] = record
    # How long Twitch keeps them: the channels' broadcaster types, as the poller keeps them for its own.
    user_ids = list(dict.fromkeys(r.user_id for r in found.values()))
    for start in range(0, len(user_ids), MAX_PAGE_SIZE):
        for user in filter(None, map(parse_user, client.users(ids=user_ids[start : start + MAX_PAGE_SIZE]))):
            record_broadcaster_type(user.login, user.broadcaster_type)

    def store() -> list[Requested]:
        known = {v.twitch_vod_id: v for v in Vod.select().where(Vod.twitch_vod_id.in_(list(found)))}
        by_channel: dict[str, list[VideoRecord]] = {}
        for listed in found.values():
            by_channel.setdefault(listed.user_login.lower(), []).append(listed)
        for channel, records in by_channel.items():
            upsert_videos(records, channel)
        out = []
        for vod_id in wanted:
            before = known.get(vod_id)
            if vod_id in found and priority is not None:
                vods.set_priority(Vod.get(Vod.twitch_vod_id == vod_id).id, priority)
            out.append(
                Requested(
                    vod_id,
                    found.get(vod_id),
                    new=before is None,
                    state=before.download_state if before else "",
                    old_priority=before.priority if before else 0,
                )
            )
        return out

    return write(store)
