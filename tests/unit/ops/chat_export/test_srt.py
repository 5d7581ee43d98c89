"""`--format srt`: parsed back, every cue at its message's offset, marks and gaps in the text."""

from __future__ import annotations

import re

import peewee

from tests.unit.ops.chat_export.corpus_vod import corpus_vod
from vodtender.ops.chat_export import export_srt
from vodtender.runtime.models import ChatMessage

_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+)")


def seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse(text: str) -> list[tuple[int, float, float, str]]:
    """SubRip as players read it: blocks split by a blank line, number, times, one text line."""
    blocks = text.strip("\n").split("\n\n")
    cues = []
    for block in blocks:
        m = _CUE.fullmatch(block)
        assert m, block
        cues.append((int(m[1]), seconds(*m.groups()[1:5]), seconds(*m.groups()[5:9]), m[10]))
    return cues


def test_srt_parses_back_with_each_message_at_its_offset(migrated_db: peewee.Database) -> None:
    cues = parse("\n".join(export_srt(corpus_vod())))
    assert [number for number, *_ in cues] == list(range(1, len(cues) + 1))
    shown = ChatMessage.select().where(ChatMessage.kind != "clearmsg").count()
    assert len(cues) == shown + 1  # and the gap
    by_text = {text: (start, end) for _, start, end, text in cues}
    assert by_text["Guest: from next door [shared from #other]"] == (1.0, 6.0)
    assert by_text["Guest: from next door [replayed]"] == (3.0, 8.0)
    assert by_text["[chat not recorded: connection lost]"] == (30.0, 45.0)
    kappa = ChatMessage.get(ChatMessage.message == "Kappa 😂 Kappa")
    start, end = by_text["pajlada: Kappa 😂 Kappa"]
    assert start == round(kappa.rel_timestamp, 3) and end == round(kappa.rel_timestamp + 5, 3)
    assert sum(text.endswith("[deleted by a moderator]") for text in by_text) == 1
    assert any(re.fullmatch(r"\[\S+ timed out for \d+s\]", text) for text in by_text)
    assert any(re.fullmatch(r"\[\S+ banned\]", text) for text in by_text)
