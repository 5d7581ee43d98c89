"""What each daemon needs from the configuration, declared in one table (`DAEMON_NEEDS`).

A daemon whose needs are unmet comes up idle and says why, instead of crash-looping; the
chat recorder (and the live recorder without LIVE_RECORD) instead runs disabled and says so
itself (the runbook quotes the chat recorder's line).
`vodtender config check` reports every unmet need of every daemon.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Sequence

from vodtender.runtime.options import OPTIONS, Problem, Settings

Rule = Callable[[Settings], list[Problem]]


def needs_channels(s: Settings) -> list[Problem]:
    if not s.twitch_channel:
        return [Problem("TWITCH_CHANNEL is not set: no channel to archive", "TWITCH_CHANNEL")]
    return []


def needs_helix_app(s: Settings) -> list[Problem]:
    return [
        Problem(f"{env} is not set: Helix needs a Twitch application's client id and secret", env)
        for env, value in (("TWITCH_CLIENT_ID", s.twitch_client_id), ("TWITCH_CLIENT_SECRET", s.twitch_client_secret))
        if not value
    ]


def needs_chat_login_pair(s: Settings) -> list[Problem]:
    if s.twitch_bot_username and not s.twitch_oauth_token:
        return [
            Problem(
                "TWITCH_OAUTH_TOKEN is not set but TWITCH_BOT_USERNAME is: set both, or neither "
                "for anonymous read-only chat",
                "TWITCH_OAUTH_TOKEN",
            )
        ]
    return []


def needs_youtube_pair(s: Settings) -> list[Problem]:
    if bool(s.yt_client_id) != bool(s.yt_client_secret):
        missing = "YT_CLIENT_SECRET" if s.yt_client_id else "YT_CLIENT_ID"
        return [
            Problem(
                f"{missing} is not set: YouTube uploads need both YT_CLIENT_ID and YT_CLIENT_SECRET "
                "(or neither, for download-only)",
                missing,
            )
        ]
    return []


def needs_vod_id_in_url(s: Settings) -> list[Problem]:
    if "{id}" not in s.twitch_vod_url_template:
        return [Problem("TWITCH_VOD_URL_TEMPLATE must contain {id}", "TWITCH_VOD_URL_TEMPLATE")]
    return []


def needs_channel_in_live_url(s: Settings) -> list[Problem]:
    if "{channel}" not in s.twitch_live_url_template:
        return [Problem("TWITCH_LIVE_URL_TEMPLATE must contain {channel}", "TWITCH_LIVE_URL_TEMPLATE")]
    return []


def live_recording_switched_on(s: Settings) -> list[Problem]:
    if s.live_record.empty:
        return [Problem("LIVE_RECORD is empty", "LIVE_RECORD")]
    return []


def chat_switched_on(s: Settings) -> list[Problem]:
    if not s.chat_auto_start:
        return [Problem("CHAT_AUTO_START is 0", "CHAT_AUTO_START")]
    return []


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def needs_safe_web_access(s: Settings) -> list[Problem]:
    """The web viewer is open to anyone who reaches it: without WEB_AUTH, only on loopback."""
    if s.web_auth:
        if s.web_auth == "token" and not s.web_token:
            return [Problem("WEB_AUTH=token but WEB_TOKEN (credential web-token) is not set", "WEB_TOKEN")]
        return []
    host = s.web_addr[0]
    if is_loopback(host):
        return []
    return [
        Problem(
            f"WEB_ADDR {host}:{s.web_addr[1]} is not a loopback address: set WEB_AUTH (an htpasswd file, or token) "
            "to serve it, or use 127.0.0.1",
            "WEB_AUTH",
        )
    ]


def range_problems(s: Settings, sections: Sequence[str]) -> list[Problem]:
    """Values outside the range their option allows (`option(minimum=...)`), for options in these sections."""
    found = (o.range_problem(getattr(s, o.dest)) for o in OPTIONS if o.section in sections)
    return [problem for problem in found if problem is not None]


@dataclasses.dataclass(frozen=True)
class DaemonNeeds:
    sections: tuple[str, ...]  # options whose bad values (parse or range) idle the daemon
    http_addr: Callable[[Settings], tuple[str, int]]  # where it serves /metrics /healthz /readyz
    rules: tuple[Rule, ...] = ()  # settings needed beyond parsing; unmet, they idle the daemon too
    # Unmet, these leave the daemon running disabled: it says why itself.  `switch` turns it off on
    # purpose, so it is no problem for `config check`; the other rules are.
    switch: Rule | None = None
    disabling_rules: tuple[Rule, ...] = ()

    def idle_problems(self, s: Settings) -> list[Problem]:
        """Unmet needs beyond parsing that idle the daemon: its rules, then its sections' range problems."""
        return [p for rule in self.rules for p in rule(s)] + range_problems(s, self.sections)

    def disabled_reason(self, s: Settings) -> Problem | None:
        rules = (self.switch, *self.disabling_rules) if self.switch else self.disabling_rules
        problems = [p for rule in rules for p in rule(s)]
        return problems[0] if problems else None

    def reported_problems(self, s: Settings) -> list[Problem]:
        """What `config check` reports beyond parse problems."""
        return self.idle_problems(s) + [p for rule in self.disabling_rules for p in rule(s)]


DAEMON_NEEDS: dict[str, DaemonNeeds] = {
    "poller": DaemonNeeds(
        ("general", "twitch", "poller"), lambda s: s.poller_http_addr, rules=(needs_channels, needs_helix_app)
    ),
    "downloader": DaemonNeeds(
        ("general", "twitch", "downloader"), lambda s: s.downloader_http_addr, rules=(needs_vod_id_in_url,)
    ),
    "uploader": DaemonNeeds(("general", "uploader"), lambda s: s.uploader_http_addr, rules=(needs_youtube_pair,)),
    "chat": DaemonNeeds(
        ("general", "twitch", "chat"),
        lambda s: s.chat_http_addr,
        switch=chat_switched_on,
        disabling_rules=(needs_channels, needs_chat_login_pair),
    ),
    # Records live streams with the downloader's network and disk settings; a VOD still being
    # recorded is followed through TWITCH_VOD_URL_TEMPLATE.
    "recorder": DaemonNeeds(
        ("general", "twitch", "downloader", "recorder"),
        lambda s: s.recorder_http_addr,
        rules=(needs_channel_in_live_url, needs_vod_id_in_url),
        switch=live_recording_switched_on,
    ),
    "web": DaemonNeeds(("general", "web"), lambda s: s.web_addr, rules=(needs_safe_web_access,)),
}
