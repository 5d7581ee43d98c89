"""Settings a feature needs, shared by the daemons that need them and `vodtender config check`."""

from __future__ import annotations

from vodtender.runtime.config import Config, Problem


def channels_problems(cfg: Config) -> list[Problem]:
    if not cfg.twitch_channel:
        return [Problem("TWITCH_CHANNEL is not set: no channel to archive", "TWITCH_CHANNEL")]
    return []


def helix_problems(cfg: Config) -> list[Problem]:
    return [Problem(f"{env} is not set: Helix needs a Twitch application's client id and secret", env)
            for env, value in (("TWITCH_CLIENT_ID", cfg.twitch_client_id),
                               ("TWITCH_CLIENT_SECRET", cfg.twitch_client_secret)) if not value]


def chat_login_problems(cfg: Config) -> list[Problem]:
    if cfg.twitch_bot_username and not cfg.twitch_oauth_token:
        return [Problem("TWITCH_OAUTH_TOKEN is not set but TWITCH_BOT_USERNAME is: set both, or neither "
                        "for anonymous read-only chat", "TWITCH_OAUTH_TOKEN")]
    return []


def youtube_problems(cfg: Config) -> list[Problem]:
    if bool(cfg.yt_client_id) != bool(cfg.yt_client_secret):
        missing = "YT_CLIENT_SECRET" if cfg.yt_client_id else "YT_CLIENT_ID"
        return [Problem(f"{missing} is not set: YouTube uploads need both YT_CLIENT_ID and YT_CLIENT_SECRET "
                        "(or neither, for download-only)", missing)]
    return []
