"""The four daemons by command name."""

from __future__ import annotations

from vodtender.daemons.chat import ChatRecorder
from vodtender.daemons.downloader import Downloader
from vodtender.daemons.poller import Poller
from vodtender.daemons.uploader import Uploader
from vodtender.runtime.daemon import Daemon

DAEMONS: dict[str, type[Daemon]] = {d.name: d for d in (Poller, Downloader, Uploader, ChatRecorder)}
