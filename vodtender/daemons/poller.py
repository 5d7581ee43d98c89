"""The poller: Twitch Helix catalog backfill, live detection, placeholder reconciliation."""

from __future__ import annotations

from vodtender.daemons.requirements import channels_problems, helix_problems
from vodtender.runtime.config import Config, Problem
from vodtender.runtime.daemon import Daemon


class Poller(Daemon):
    name = "poller"
    sections = ("general", "twitch", "poller")

    @classmethod
    def config_problems(cls, cfg: Config) -> list[Problem]:
        return channels_problems(cfg) + helix_problems(cfg)

    def run_once(self) -> float:
        return 60.0

    def status(self) -> str:
        return f"configured for {len(self.cfg.twitch_channel)} channel(s); Helix polling not implemented yet"
