"""The chat recorder: one Twitch IRC connection for every channel, batched writes."""

from __future__ import annotations

from vodtender.daemons.requirements import channels_problems, chat_login_problems
from vodtender.runtime.config import Config, Problem
from vodtender.runtime.daemon import Daemon


class ChatRecorder(Daemon):
    name = "chat"
    sections = ("general", "twitch", "chat")

    @classmethod
    def config_problems(cls, cfg: Config) -> list[Problem]:
        return channels_problems(cfg) + chat_login_problems(cfg)

    def run_once(self) -> float:
        return 60.0

    def status(self) -> str:
        return f"configured for {len(self.cfg.twitch_channel)} channel(s); chat recording not implemented yet"
