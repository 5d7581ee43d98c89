"""The circuit breaker: opens at the threshold, one probe when half-open, closes on success."""

from __future__ import annotations

import time

import peewee
import pytest

from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.kv import kv_get, kv_set


def test_opens_after_threshold_consecutive_failures(
    migrated_db: peewee.Database, caplog: pytest.LogCaptureFixture
) -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=60)
    breaker.record_failure("x")
    breaker.record_failure("x")
    assert breaker.allow()
    breaker.record_failure("x")
    state = breaker.current()
    assert state.state == "open" and state.failures == 3 and state.open_until > time.time() + 50
    assert not breaker.allow()
    assert any("circuit opened" in r.getMessage() for r in caplog.records)
    assert kv_get("circuit_state") == "open"


def test_a_success_resets_the_count(migrated_db: peewee.Database) -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    breaker.record_failure("x")
    breaker.record_success()
    breaker.record_failure("x")
    assert breaker.current().state == "closed"


def test_half_open_lets_exactly_one_probe_through_then_closes_on_success(migrated_db: peewee.Database) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=0.2)
    breaker.record_failure("x")
    assert not breaker.allow()
    time.sleep(0.25)
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # nobody else while it runs
    breaker.record_success()
    assert breaker.current().state == "closed" and breaker.allow()


def test_a_failed_probe_opens_it_again(migrated_db: peewee.Database) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=0.2)
    breaker.record_failure("x")
    time.sleep(0.25)
    assert breaker.allow()
    breaker.record_failure("still broken")
    assert breaker.current().state == "open" and not breaker.allow()


def test_hand_edited_garbage_reads_as_closed(migrated_db: peewee.Database) -> None:
    kv_set("circuit_state", "open")
    kv_set("circuit_open_until", "tomorrow")
    assert CircuitBreaker(3, 60).allow()


def test_one_vod_failing_again_and_again_never_opens_it(migrated_db: peewee.Database) -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    for _ in range(5):
        breaker.record_failure("disk full", subject="1001")
    assert breaker.current().state == "closed" and breaker.current().failures == 1
    breaker.record_failure("disk full", subject="1002")  # a second VOD fails the same way: the system is at fault
    assert breaker.current().state == "open"


def test_a_probe_by_the_vod_that_failed_last_lets_another_vod_probe(migrated_db: peewee.Database) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=0.2)
    breaker.record_failure("network down", subject="1001")
    time.sleep(0.25)
    assert breaker.allow()
    breaker.record_failure("network down", subject="1001")  # the same bad VOD again
    state = breaker.current()
    assert state.state == "half_open" and breaker.allow()  # the next probe may start at once
    breaker.record_failure("network down", subject="1002")
    assert breaker.current().state == "open" and not breaker.allow()


def test_reset_forgets_the_last_subject(migrated_db: peewee.Database) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=60)
    breaker.record_failure("x", subject="1001")
    breaker.reset()
    breaker.record_failure("x", subject="1001")
    assert breaker.current().state == "open"
