"""The downloader: claims VODs, downloads them (yt-dlp / own HLS fetcher), checks the result."""

from __future__ import annotations

from vodtender.runtime.config import Config, Problem
from vodtender.runtime.daemon import Daemon


class Downloader(Daemon):
    name = "downloader"
    sections = ("general", "twitch", "downloader")

    @classmethod
    def config_problems(cls, cfg: Config) -> list[Problem]:
        return []

    def run_once(self) -> float:
        return 60.0

    def status(self) -> str:
        return "downloading not implemented yet"
