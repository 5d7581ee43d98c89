"""vodtender: archive Twitch channels (VODs, YouTube uploads, chat) unattended."""

__version__ = "0.1.0"
