"""When Twitch deletes a VOD: its channel's broadcaster type and Twitch's published storage rules.

Twitch's Help Center ("Video on Demand", its storage section) keeps past broadcasts 7 days, 14 days
for Affiliates and 60 days for Partners; the broadcaster type is Helix `/users`' `broadcaster_type`
(`partner`, `affiliate` or empty).  A streamer with Turbo or Prime also gets 60 days, which Helix
does not tell: the deadline is the earliest Twitch may delete the VOD, never later than it does.
Highlights and uploads have no time limit (a channel over the 100-hour cap for them, since April 2025,
loses some, which no date predicts): they get no deadline.
"""

from __future__ import annotations

import datetime as dt

from vodtender.pipeline import vods
from vodtender.pipeline.kv import broadcaster_type_key, kv_get, kv_set
from vodtender.runtime.db import write
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod

log = get_logger("poller")

ARCHIVE_DAYS = {"partner": 60, "affiliate": 14, "": 7}  # by broadcaster_type
BROADCASTER_TYPES = tuple(ARCHIVE_DAYS)
EXPIRING_WITHIN = dt.timedelta(days=1)  # `status` warns of a VOD not downloaded this close to its deadline


def archive_days(broadcaster_type: str) -> int:
    return ARCHIVE_DAYS.get(broadcaster_type, ARCHIVE_DAYS[""])


def deletion_deadline(
    video_type: str, created_at: dt.datetime | None, broadcaster_type: str | None
) -> dt.datetime | None:
    """The earliest moment Twitch may delete this video; None when no rule sets one (or the type is unknown)."""
    if video_type != "archive" or created_at is None or broadcaster_type is None:
        return None
    return created_at + dt.timedelta(days=archive_days(broadcaster_type))


def describe_rule(broadcaster_type: str) -> str:
    kind = broadcaster_type or "regular"
    return f"{kind} channel: past broadcasts kept {archive_days(broadcaster_type)} days"


def record_broadcaster_type(channel: str, broadcaster_type: str) -> None:
    """Remember the channel's broadcaster type; when it changed, its VODs' deadlines follow."""
    key = broadcaster_type_key(channel)
    if kv_get(key) == broadcaster_type:
        return

    def apply() -> int:
        kv_set(key, broadcaster_type)
        archives = Vod.select(Vod.id, Vod.type, Vod.date).where((Vod.channel == channel) & (Vod.is_placeholder == 0))
        vods.set_deletion_deadlines({v.id: deletion_deadline(v.type, v.date, broadcaster_type) for v in archives})
        return len(archives)

    count = write(apply)
    log.info("channel's VOD storage on Twitch", channel=channel, rule=describe_rule(broadcaster_type), vods=count)
