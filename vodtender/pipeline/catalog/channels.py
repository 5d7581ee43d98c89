"""Configured channel logins -> Twitch user ids, kept in `kv` so a renamed channel is followed by id.

The first time a login is seen it is looked up by name; from then on by its user id
(`channel_user_id:<login>`).  A streamer who renames keeps their id, so their VODs and live
status are still found; the operator gets one warning to update TWITCH_CHANNEL (chat joins by
login).  Rows keep the configured login as `channel`, so one channel's history stays together.
"""

from __future__ import annotations

from collections.abc import Sequence

from vodtender.clients.helix import HelixClient
from vodtender.pipeline.catalog.expiry import record_broadcaster_type
from vodtender.pipeline.catalog.helix_records import parse_user
from vodtender.pipeline.kv import channel_user_id_key, kv_get, kv_set
from vodtender.runtime.logs import get_logger

log = get_logger("poller")


class ChannelDirectory:
    def __init__(self, logins: Sequence[str]):
        self.logins = list(logins)
        self._ids: dict[str, str] = {}
        self._warned: set[tuple[str, str]] = set()
        for login in self.logins:
            known = kv_get(channel_user_id_key(login))
            if known:
                self._ids[login] = known

    def user_id(self, login: str) -> str | None:
        return self._ids.get(login)

    def channel_of(self, user_id: str) -> str | None:
        return next((login for login, uid in self._ids.items() if uid == user_id), None)

    def known(self) -> dict[str, str]:
        """login -> user id, for the channels found on Twitch."""
        return {login: self._ids[login] for login in self.logins if login in self._ids}

    def resolve(self, client: HelixClient) -> None:
        """One users request: known ids by id (to notice renames), the others by login."""
        by_id = {uid: login for login, uid in self._ids.items()}
        unknown = [login for login in self.logins if login not in self._ids]
        users = [u for u in map(parse_user, client.users(logins=unknown, ids=list(by_id))) if u is not None]
        found_ids = {u.id for u in users}
        for user in users:
            configured = by_id.get(user.id)
            record_broadcaster_type(configured or user.login, user.broadcaster_type)
            if configured is None and user.login in unknown:
                self._ids[user.login] = user.id
                kv_set(channel_user_id_key(user.login), user.id)
                log.info("channel found on Twitch", channel=user.login, user_id=user.id)
            elif configured is not None and user.login != configured:
                self._warn_once(
                    configured,
                    f"renamed:{user.login}",
                    "channel renamed on Twitch; following it by "
                    "user id (update TWITCH_CHANNEL so chat joins the new name)",
                    new_login=user.login,
                    user_id=user.id,
                )
        for uid, login in by_id.items():
            if uid not in found_ids:
                self._warn_once(
                    login,
                    "gone",
                    "channel's Twitch account not found (deleted or suspended?); keeping its user id",
                    user_id=uid,
                )
        for login in unknown:
            if login not in self._ids:
                self._warn_once(login, "unknown", "channel not found on Twitch; check TWITCH_CHANNEL")

    def _warn_once(self, login: str, what: str, message: str, **context: str) -> None:
        if (login, what) not in self._warned:
            self._warned.add((login, what))
            log.bind(channel=login, **context).warning(message)
