"""Test-only: point yt-dlp's real Twitch extractor at the loopback Twitch stand-in (tests/standins/twitch.py).

Python imports `sitecustomize` at start from the first folder on sys.path that has one; a test puts this
folder first on a child's PYTHONPATH (`ytdlp_hook_env`).  Only when VODTENDER_TEST_TWITCH_BASE is set
(`http://127.0.0.1:PORT`) does it do anything: it waits for `yt_dlp.extractor.twitch` to be imported —
yt-dlp's lazy extractors import that module on demand, the downloader imports yt-dlp at its first VOD —
and then moves the two addresses the extractor hard-codes: the GraphQL URL and `_USHER_BASE`.  Nothing
else of yt-dlp changes, and yt-dlp is never imported here.  (A machine whose Python has its own
sitecustomize would have it shadowed in that child; none of ours has one.)
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

BASE_VARIABLE = "VODTENDER_TEST_TWITCH_BASE"
TWITCH_MODULE = "yt_dlp.extractor.twitch"
REAL_GQL = "https://gql.twitch.tv/gql"  # as written in TwitchBaseIE._download_base_gql


def point_twitch_at(module: ModuleType, base_url: str) -> Callable[[], None]:
    """Make the Twitch extractors of `module` (yt_dlp.extractor.twitch) ask `base_url`; returns the undo."""
    base = module.TwitchBaseIE
    real_usher = base.__dict__["_USHER_BASE"]
    standin_gql = base_url.rstrip("/") + "/gql"

    def _download_json(self: Any, url_or_request: Any, *args: Any, **kwargs: Any) -> Any:
        if url_or_request == REAL_GQL:
            url_or_request = standin_gql
        return super(base, self)._download_json(url_or_request, *args, **kwargs)

    base._USHER_BASE = base_url.rstrip("/") + "/usher"
    base._download_json = _download_json

    def undo() -> None:
        base._USHER_BASE = real_usher
        del base._download_json

    return undo


class _Loader(importlib.abc.Loader):
    """The module's own loader, then the redirection."""

    def __init__(self, loader: importlib.abc.Loader, base_url: str):
        self.loader = loader
        self.base_url = base_url

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        point_twitch_at(module, self.base_url)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, base_url: str):
        self.base_url = base_url

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != TWITCH_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, self.base_url)
        return spec


if __name__ == "sitecustomize" and os.environ.get(BASE_VARIABLE):
    sys.meta_path.insert(0, _Finder(os.environ[BASE_VARIABLE]))
