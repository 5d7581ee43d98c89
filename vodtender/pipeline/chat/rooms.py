"""Twitch room ids -> channel logins, for naming the source of a shared-chat message.

A mirrored line names its source only by `source-room-id`.  The recorder learns ids from what it
reads anyway: every chat line's and ROOMSTATE's `room-id` (the id of the channel it was sent to),
and the Helix user ids the poller stored on the configured channels' VODs.  A source room no
joined channel and no VOD names stays unknown (NULL): it is never guessed.
"""

from __future__ import annotations

import peewee

from vodtender.runtime.models import Vod


class RoomNames:
    """room id -> login; one instance shared by every connection of the session."""

    def __init__(self, known: dict[str, str] | None = None):
        self._logins: dict[str, str] = dict(known or {})

    @classmethod
    def from_catalog(cls) -> RoomNames:
        """Seeded with the user id of every channel the catalog has a VOD of."""
        query = Vod.select(Vod.user_id, Vod.channel).where(Vod.user_id.is_null(False)).distinct()
        try:
            return cls({vod.user_id: vod.channel.lower() for vod in query if vod.user_id})
        except peewee.PeeweeException:  # a database not reachable yet: learned from the chat instead
            return cls()

    def learn(self, room_id: str | None, login: str) -> None:
        if room_id and login:
            self._logins[room_id] = login

    def login(self, room_id: str | None) -> str | None:
        return self._logins.get(room_id) if room_id else None
