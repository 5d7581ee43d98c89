"""The circuit breaker, kept in `kv` so every daemon and the runbook's SQL see the same one.

closed -> (CIRCUIT_FAILURE_THRESHOLD consecutive systemic failures) -> open
open -> (CIRCUIT_OPEN_COOLDOWN passed) -> half_open: exactly one worker gets a probe
half_open -> success: closed;  failure: open again for another cooldown
A failure is counted only when it is not the same subject (VOD) as the one before: one VOD that
keeps failing says nothing about the system, so it can neither open the breaker nor keep it
open (its own retries back off, so the next probe is another VOD).
Missing keys mean closed: the runbook's `DELETE FROM kv WHERE key IN ('circuit_state',
'circuit_failures','circuit_open_until')` closes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from vodtender.pipeline.kv import (
    CIRCUIT_FAILURES_KEY,
    CIRCUIT_KEYS,
    CIRCUIT_LAST_SUBJECT_KEY,
    CIRCUIT_OPEN_UNTIL_KEY,
    CIRCUIT_STATE_KEY,
    kv_delete,
    kv_get_many,
    kv_set,
)
from vodtender.runtime.db import write
from vodtender.runtime.logs import get_logger

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}  # as the metric shows it

log = get_logger("breaker")


class BreakerObserver(Protocol):
    """Told what the breaker does (a daemon's metrics); the operator's commands pass none."""

    def state_seen(self, state: str) -> None: ...

    def opened(self) -> None: ...


class _Unobserved:
    def state_seen(self, state: str) -> None:
        pass

    def opened(self) -> None:
        pass


@dataclass
class BreakerState:
    state: str
    failures: int
    open_until: float  # unix seconds; also the half-open probe's deadline
    last_subject: str = ""

    @property
    def is_open(self) -> bool:
        return self.state != CLOSED

    def blocking(self, now: float) -> bool:
        """Open and still cooling down at `now` (unix seconds): no attempt may start yet."""
        return self.is_open and now < self.open_until


def _read() -> BreakerState:
    rows = kv_get_many(CIRCUIT_KEYS)
    try:
        failures = int(rows.get(CIRCUIT_FAILURES_KEY) or 0)
        open_until = float(rows.get(CIRCUIT_OPEN_UNTIL_KEY) or 0)
    except ValueError:  # hand-edited garbage: treat as closed rather than stall forever
        failures, open_until = 0, 0.0
    state = rows.get(CIRCUIT_STATE_KEY) or CLOSED
    subject = rows.get(CIRCUIT_LAST_SUBJECT_KEY) or ""
    return BreakerState(state if state in STATE_VALUE else CLOSED, failures, open_until, subject)


class CircuitBreaker:
    def __init__(self, threshold: int, cooldown: float, observer: BreakerObserver | None = None):
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self.observer = observer or _Unobserved()

    def current(self) -> BreakerState:
        state = _read()
        self.observer.state_seen(state.state)
        return state

    def _write(self, state: BreakerState) -> None:
        for key, value in (
            (CIRCUIT_STATE_KEY, state.state),
            (CIRCUIT_FAILURES_KEY, str(state.failures)),
            (CIRCUIT_OPEN_UNTIL_KEY, f"{state.open_until:.3f}"),
            (CIRCUIT_LAST_SUBJECT_KEY, state.last_subject),
        ):
            kv_set(key, value)
        self.observer.state_seen(state.state)

    def allow(self) -> bool:
        """May a worker start an attempt now?  In half-open, only the one that takes the probe."""

        def decide() -> bool:
            state = _read()
            now = time.time()
            if state.state == CLOSED:
                return True
            if now < state.open_until:
                return False
            # Cooldown over (or a half-open probe that never reported back): this caller probes.
            self._write(BreakerState(HALF_OPEN, state.failures, now + self.cooldown, state.last_subject))
            log.info("circuit half-open, letting one attempt through")
            return True

        return write(decide)

    def record_success(self) -> None:
        def close() -> None:
            state = _read()
            if state.state != CLOSED or state.failures:
                self._write(BreakerState(CLOSED, 0, 0.0))
                if state.state != CLOSED:
                    log.info("circuit closed")

        write(close)

    def record_failure(self, reason: str, subject: str | None = None) -> None:
        """A systemic failure (of `subject`, a VOD id, when it has one): count it, and open the
        breaker at the threshold."""

        def count() -> None:
            state = _read()
            if subject and subject == state.last_subject and state.state != OPEN:
                if state.state == HALF_OPEN:  # the probe was the same VOD again: let another one probe now
                    self._write(BreakerState(HALF_OPEN, state.failures, time.time(), subject))
                log.info("systemic failure of the same VOD again, not counted", subject=subject, reason=reason)
                return
            failures = state.failures + 1
            if state.state == HALF_OPEN or failures >= self.threshold:
                until = time.time() + self.cooldown
                self._write(BreakerState(OPEN, failures, until, subject or ""))
                self.observer.opened()
                log.error(
                    "circuit opened",
                    failures=failures,
                    reason=reason,
                    open_until=time.strftime("%H:%M:%S", time.localtime(until)),
                )
            else:
                self._write(BreakerState(state.state, failures, state.open_until, subject or ""))

        write(count)

    def reset(self) -> None:
        kv_delete(*CIRCUIT_KEYS)
        self.observer.state_seen(CLOSED)
