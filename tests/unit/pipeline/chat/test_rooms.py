"""Room ids -> logins for shared chat's source: from the catalog, from what the chat itself says."""

from __future__ import annotations

import peewee

from vodtender.pipeline.chat.rooms import RoomNames
from vodtender.runtime.models import Vod


def test_the_catalog_names_the_rooms_of_the_channels_it_has_vods_of(migrated_db: peewee.Database) -> None:
    Vod.create(twitch_vod_id="1", channel="Friend", user_id="42")
    Vod.create(twitch_vod_id="2", channel="nouser")
    rooms = RoomNames.from_catalog()
    assert (rooms.login("42"), rooms.login("43"), rooms.login(None)) == ("friend", None, None)
    rooms.learn("43", "joined")
    rooms.learn("", "ignored")
    assert rooms.login("43") == "joined" and rooms.login("") is None
