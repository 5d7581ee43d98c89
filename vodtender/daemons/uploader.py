"""The uploader: YouTube resumable uploads of downloaded VODs."""

from __future__ import annotations

from vodtender.daemons.requirements import youtube_problems
from vodtender.runtime.config import Config, Problem
from vodtender.runtime.daemon import Daemon


class Uploader(Daemon):
    name = "uploader"
    sections = ("general", "uploader")

    @classmethod
    def config_problems(cls, cfg: Config) -> list[Problem]:
        return youtube_problems(cfg)

    def run_once(self) -> float:
        return 60.0

    def status(self) -> str:
        if not self.cfg.yt_client_id:
            return "uploading is off (no YT_CLIENT_ID/YT_CLIENT_SECRET): download-only"
        return "uploading not implemented yet"
