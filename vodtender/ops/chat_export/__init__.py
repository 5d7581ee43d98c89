"""A VOD's chat in the formats people read and other tools render, one module per format.

rows.py reads the chat rows and gaps (shared by all); jsonl, vtt, srt, ass and twitchdownloader
turn them into lines of text.  Every format marks deletions, timeouts/bans/clears, recording gaps,
mirrored (shared-chat) and replayed messages; a VOD without any chat raises NoChat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from vodtender.ops.chat_export.ass import export_ass
from vodtender.ops.chat_export.jsonl import export_jsonl
from vodtender.ops.chat_export.rows import NoChat
from vodtender.ops.chat_export.srt import export_srt
from vodtender.ops.chat_export.twitchdownloader import export_twitchdownloader
from vodtender.ops.chat_export.vtt import export_webvtt
from vodtender.runtime.models import Vod

FORMATS: dict[str, Callable[[Vod], Iterator[str]]] = {
    "jsonl": export_jsonl,
    "vtt": export_webvtt,
    "twitchdownloader": export_twitchdownloader,
    "ass": export_ass,
    "srt": export_srt,
}

__all__ = ["FORMATS", "NoChat", "export_ass", "export_jsonl", "export_srt", "export_twitchdownloader", "export_webvtt"]
