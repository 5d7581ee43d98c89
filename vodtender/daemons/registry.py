"""The daemons by command name, imported only when one is run.

Naming a daemon costs nothing: `vodtender --help`, `vodtender run` and `vodtender config check`
list them without importing yt-dlp, the Google client or the IRC library; `daemon_class(name)`
imports the one module a process runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vodtender.runtime.daemon import Daemon

DAEMONS: dict[str, str] = {  # command name -> "module:class"
    "poller": "vodtender.daemons.poller:Poller",
    "downloader": "vodtender.daemons.downloader:Downloader",
    "uploader": "vodtender.daemons.uploader:Uploader",
    "chat": "vodtender.daemons.chat:ChatRecorder",
    "recorder": "vodtender.daemons.recorder:Recorder",
    "web": "vodtender.web.daemon:WebViewer",
}


def daemon_class(name: str) -> type[Daemon]:
    module, _, attr = DAEMONS[name].partition(":")
    cls: type[Daemon] = getattr(importlib.import_module(module), attr)
    return cls
