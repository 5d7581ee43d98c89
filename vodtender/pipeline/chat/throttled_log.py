"""A warning that hostile input can repeat thousands of times a second: logged at most once per interval."""

from __future__ import annotations

import time
from collections.abc import Callable

from vodtender.runtime.logs import get_logger

log = get_logger("chat")


class ThrottledWarning:
    """`warn(**fields)` logs `message` at most once per `interval` seconds; the next line it logs says
    how many it held back (`suppressed_since_last`)."""

    def __init__(self, message: str, interval: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.message = message
        self.interval = interval
        self._clock = clock
        self._logged_at = -interval
        self._suppressed = 0

    def warn(self, **fields: object) -> None:
        now = self._clock()
        if now - self._logged_at < self.interval:
            self._suppressed += 1
            return
        log.warning(self.message, exc_info=None, **fields, suppressed_since_last=self._suppressed)
        self._logged_at, self._suppressed = now, 0
