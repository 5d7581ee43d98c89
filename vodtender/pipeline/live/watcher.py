"""Live detection: one `streams` request for all channels -> placeholder VODs the chat recorder binds to.

Going live creates a placeholder `Vod` (`twitch_vod_id = live-<unix start>`, `is_placeholder=1`,
the stream id and start time, `live_ended_at` NULL).  Going offline sets `live_ended_at`, and the
reconciler takes over.  A new stream id while a placeholder is open (a restart between two polls)
closes the old placeholder and opens a new one; the same stream id coming back after an
"offline" poll (a Helix hiccup) reopens its placeholder instead of starting a second one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from prometheus_client import Gauge

from vodtender.clients.helix import MAX_PAGE_SIZE, HelixClient
from vodtender.pipeline import vods
from vodtender.pipeline.catalog.channels import ChannelDirectory
from vodtender.pipeline.catalog.helix_records import StreamRecord, parse_stream
from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.db import write
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod, utcnow

log = get_logger("poller")

CHANNEL_LIVE = Gauge("vodtender_channel_live", "1 while the channel is live (as last polled)", ["channel"])


def placeholder_id(started_at: dt.datetime) -> str:
    return f"live-{int(unix_seconds(started_at))}"


def open_placeholders(channel: str | None = None) -> list[Vod]:
    cond = (Vod.is_placeholder == 1) & Vod.live_ended_at.is_null()
    if channel is not None:
        cond &= Vod.channel == channel
    return list(Vod.select().where(cond).order_by(Vod.date))


def live_stream_ids() -> set[str]:
    """Stream ids of streams still live: their archive VODs are still being recorded."""
    return {v.stream_id for v in open_placeholders() if v.stream_id}


class LiveWatcher:
    def __init__(self, client: HelixClient, directory: ChannelDirectory):
        self.client = client
        self.directory = directory
        self.live: dict[str, str] = {}  # channel -> stream id, as last polled

    def poll(self) -> None:
        """One streams request for every known channel (Helix takes up to 100 user ids at once)."""
        known = self.directory.known()
        user_ids = list(known.values())[:MAX_PAGE_SIZE]
        streams: dict[str, StreamRecord] = {}
        for record in map(parse_stream, self.client.streams(user_ids)):
            if record is not None:
                streams[record.user_id] = record
        for channel, user_id in known.items():
            self.apply(channel, user_id, streams.get(user_id))

    def apply(self, channel: str, user_id: str, stream: StreamRecord | None) -> None:
        """Bring the channel's placeholders in line with one poll's answer."""
        if stream is None:
            ended = write(lambda: self._close(open_placeholders(channel), utcnow()))
            for vod in ended:
                log.info(
                    "channel went offline; will look for its VOD",
                    channel=channel,
                    placeholder=vod.twitch_vod_id,
                    stream_id=vod.stream_id,
                )
            self.live.pop(channel, None)
            CHANNEL_LIVE.labels(channel).set(0)
            return
        event, vod, closed = write(lambda: self._go_live(channel, user_id, stream))
        for old in closed:
            log.info(
                "stream restarted under a new stream id; previous placeholder closed",
                channel=channel,
                placeholder=old.twitch_vod_id,
                stream_id=old.stream_id,
            )
        if event:
            log.info(
                f"channel {event}; chat is bound to its placeholder",
                channel=channel,
                placeholder=vod.twitch_vod_id,
                stream_id=stream.id,
                started_at=stream.started_at.isoformat(),
            )
        self.live[channel] = stream.id
        CHANNEL_LIVE.labels(channel).set(1)

    def _go_live(self, channel: str, user_id: str, stream: StreamRecord) -> tuple[str | None, Vod, list[Vod]]:
        current = open_placeholders(channel)
        same = [v for v in current if v.stream_id == stream.id]
        closed = self._close([v for v in current if v.stream_id != stream.id], utcnow())
        if same:
            vod = same[-1]
            if vod.title != stream.title:
                vods.retitle_placeholder(vod.id, stream.title)
            return None, vod, closed
        ended = (
            Vod.select()
            .where((Vod.is_placeholder == 1) & (Vod.channel == channel) & (Vod.stream_id == stream.id))
            .first()
        )
        if ended is not None:  # the stream never stopped: Helix briefly did not list it
            vods.reopen_placeholder(ended.id)
            return "back online", ended, closed
        if Vod.select().where((Vod.stream_id == stream.id) & (Vod.is_placeholder == 0)).exists():
            return None, Vod.get(Vod.stream_id == stream.id), closed  # already reconciled: a stale answer
        vod_id = placeholder_id(stream.started_at)
        if Vod.select().where(Vod.twitch_vod_id == vod_id).exists():
            vod_id = f"{vod_id}-{stream.id}"  # two channels went live in the same second
        vod = vods.open_placeholder(vod_id, channel, user_id, stream.id, stream.started_at, stream.title)
        return "went live", vod, closed

    @staticmethod
    def _close(placeholders: Sequence[Vod], at: dt.datetime) -> list[Vod]:
        vods.close_placeholders([v.id for v in placeholders], at)
        return list(placeholders)
