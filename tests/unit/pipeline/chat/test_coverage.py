"""Joins and drops of the channels turned into gap starts and ends, and the joined gauge."""

from __future__ import annotations

from prometheus_client import REGISTRY

from vodtender.pipeline.chat.coverage import ChannelCoverage
from vodtender.pipeline.chat.events import ChatItem, GapEnd, GapStart


def coverage(*channels: str) -> tuple[ChannelCoverage, list[ChatItem]]:
    sent: list[ChatItem] = []
    return ChannelCoverage(list(channels), sent.append), sent


def sample(name: str, channel: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"channel": channel})


def test_the_first_join_closes_the_gap_the_last_run_left() -> None:
    cov, sent = coverage("cov-a", "cov-b")
    cov.update({"cov-a"}, 10.0, "connection lost")
    assert sent == [GapEnd("cov-a", 10.0, first_of_run=True)]
    cov.update({"cov-a", "cov-b"}, 11.0, "connection lost")
    assert sent[1:] == [GapEnd("cov-b", 11.0, first_of_run=True)]
    assert cov.covered == {"cov-a", "cov-b"} and cov.ever_joined == {"cov-a", "cov-b"}
    assert sample("vodtender_chat_joined", "cov-a") == 1


def test_a_drop_opens_a_gap_per_channel_and_the_rejoin_closes_it() -> None:
    cov, sent = coverage("cov-c", "cov-d")
    cov.update({"cov-c", "cov-d"}, 100.0, "connection lost")
    sent.clear()
    gaps_before = sample("vodtender_chat_gaps_total", "cov-c") or 0.0
    seconds_before = sample("vodtender_chat_gap_seconds_total", "cov-c") or 0.0
    cov.update(set(), 200.0, "connection lost: reset")
    assert sent == [GapStart(channel, 200.0, "connection lost: reset") for channel in ("cov-c", "cov-d")]
    assert cov.covered == set() and sample("vodtender_chat_joined", "cov-c") == 0
    cov.update({"cov-c"}, 207.5, "connection lost")
    assert sent[2:] == [GapEnd("cov-c", 207.5)]
    assert sample("vodtender_chat_gaps_total", "cov-c") == gaps_before + 1
    assert sample("vodtender_chat_gap_seconds_total", "cov-c") == seconds_before + 7.5
    cov.update({"cov-c"}, 208.0, "connection lost")
    assert len(sent) == 3, "no change, nothing sent"


def test_channels_not_recorded_are_ignored() -> None:
    cov, sent = coverage("cov-e")
    cov.update({"cov-e", "elsewhere"}, 1.0, "connection lost")
    assert sent == [GapEnd("cov-e", 1.0, first_of_run=True)] and cov.covered == {"cov-e"}
