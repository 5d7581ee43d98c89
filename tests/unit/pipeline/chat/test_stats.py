"""The chat session's counting: events per minute for STATUS, per-channel series at scrape time."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from vodtender.clients.irc_lines import parse_line
from vodtender.pipeline.chat.events import ChatEvent, ChatEventBuilder
from vodtender.pipeline.chat.stats import JOINED, OTHER_CHANNELS, RECONNECTS, ChannelStats, EventRate, channel_stats


class Now:
    def __init__(self, at: float):
        self.at = at

    def __call__(self) -> float:
        return self.at


def event(channel: str, command: str, at: float) -> ChatEvent:
    line = {
        "PRIVMSG": f"@id={channel}{at} :u!u@u.tmi.twitch.tv PRIVMSG #{channel} :hi",
        "ACTION": f"@id={channel}{at}a :u!u@u.tmi.twitch.tv PRIVMSG #{channel} :\x01ACTION waves\x01",
        "CLEARCHAT": f"@ban-duration=60 :tmi.twitch.tv CLEARCHAT #{channel} :troll",
    }[command]
    built = ChatEventBuilder().build(parse_line(line), line, at)
    assert built is not None
    return built


def test_event_rate_counts_the_last_minute() -> None:
    now = Now(1000.0)
    rate = EventRate(now)
    for at in (940.0, 941.0, 941.5, 999.9):
        rate.add(at)
    assert rate.per_minute() == 3, "second 940 is a minute old"
    now.at = 1001.0
    assert rate.per_minute() == 1, "both events of second 941 leave together"
    now.at = 1060.0
    assert rate.per_minute() == 0
    rate.add(1060.2)
    assert rate.per_minute() == 1


def scrape(stats: ChannelStats) -> str:
    registry = CollectorRegistry()
    registry.register(stats)
    return generate_latest(registry).decode()


def test_every_channel_series_exists_from_the_first_scrape_at_zero() -> None:
    stats = ChannelStats()
    stats.watch(["alpha", "beta"])
    text = scrape(stats)
    for channel in ("alpha", "beta"):
        for kind in ("message", "action", "usernotice", "clearchat", "clearmsg"):
            assert f'vodtender_chat_events_total{{channel="{channel}",kind="{kind}"}} 0.0' in text
        assert f'vodtender_chat_messages_total{{channel="{channel}"}} 0.0' in text
    assert "vodtender_chat_last_message_timestamp_seconds{" not in text, "no event yet: no time"
    assert "# HELP vodtender_chat_events_total chat events received, by kind" in text
    assert "# HELP vodtender_chat_messages_total chat messages received (message and /me action)" in text
    assert "# HELP vodtender_chat_last_message_timestamp_seconds when the last chat event arrived" in text
    assert REGISTRY.get_sample_value("vodtender_chat_joined", {"channel": "alpha"}) == 0
    assert REGISTRY.get_sample_value("vodtender_chat_reconnects_total", {"channel": "beta"}) == 0


def test_messages_count_messages_and_actions_and_the_last_event_time_is_kept() -> None:
    stats = ChannelStats()
    stats.watch(["alpha"])
    for e in (event("alpha", "PRIVMSG", 10.0), event("alpha", "ACTION", 11.0), event("alpha", "CLEARCHAT", 12.5)):
        stats.event(e)
    text = scrape(stats)
    assert 'vodtender_chat_events_total{channel="alpha",kind="message"} 1.0' in text
    assert 'vodtender_chat_events_total{channel="alpha",kind="action"} 1.0' in text
    assert 'vodtender_chat_events_total{channel="alpha",kind="clearchat"} 1.0' in text
    assert 'vodtender_chat_messages_total{channel="alpha"} 2.0' in text
    assert 'vodtender_chat_last_message_timestamp_seconds{channel="alpha"} 12.5' in text


def test_watching_again_resets_joined_and_keeps_counts() -> None:
    stats = ChannelStats()
    stats.watch(["gamma"])
    JOINED.labels("gamma").set(1)
    RECONNECTS.labels("gamma").inc()
    stats.event(event("gamma", "PRIVMSG", 5.0))
    stats.watch(["gamma"])  # a new session after its thread ended
    assert REGISTRY.get_sample_value("vodtender_chat_joined", {"channel": "gamma"}) == 0
    assert REGISTRY.get_sample_value("vodtender_chat_reconnects_total", {"channel": "gamma"}) == 1
    assert 'vodtender_chat_messages_total{channel="gamma"} 1.0' in scrape(stats)


def test_the_process_collector_is_registered_once() -> None:
    stats = channel_stats()
    assert channel_stats() is stats, "a reload's recorder keeps counting on the same collector"
    stats.watch(["delta"])
    assert REGISTRY.get_sample_value("vodtender_chat_messages_total", {"channel": "delta"}) == 0


def test_a_channel_that_is_not_configured_is_counted_under_one_label() -> None:
    stats = ChannelStats()
    stats.watch(["alpha"])
    for number in range(50):  # a server naming a new channel in every line
        stats.event(event(f"spam{number}", "PRIVMSG", float(number)))
    stats.event(event("alpha", "PRIVMSG", 60.0))
    text = scrape(stats)
    assert "spam" not in text
    assert f'vodtender_chat_messages_total{{channel="{OTHER_CHANNELS}"}} 50.0' in text
    assert 'vodtender_chat_messages_total{channel="alpha"} 1.0' in text
    assert stats.label("alpha") == "alpha" and stats.label("spam1") == OTHER_CHANNELS
