"""Which secrets each systemd unit may hold, by credential name: what the unit files and the system test check."""

from __future__ import annotations

OWN_SECRETS: dict[str, set[str]] = {
    "poller": {"twitch-client-secret"},
    "downloader": {"twitch-oauth-token"},  # sent with Twitch's playlist requests
    "recorder": {"twitch-oauth-token"},
    "chat": {"twitch-oauth-token"},  # the IRC login
    "uploader": {"yt-client-secret", "encryption-key"},
    "web": {"web-token"},  # the bearer token of WEB_AUTH=token
    "maintenance": set(),
}
