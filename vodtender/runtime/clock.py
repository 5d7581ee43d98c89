"""Time as the database stores it (naive UTC datetimes) and as the wire carries it (unix seconds).

The one place where the two are converted; nothing else calls `.timestamp()` on a naive value
(which would read it as local time) or builds datetimes from unix seconds by hand.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


def utcnow() -> dt.datetime:
    """Now, as a naive UTC datetime (the form every timestamp column holds)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def unix_seconds(naive_utc: dt.datetime) -> float:
    """A stored naive-UTC datetime as unix seconds."""
    return naive_utc.replace(tzinfo=dt.UTC).timestamp()


def from_unix(seconds: float) -> dt.datetime:
    """Unix seconds as a naive-UTC datetime, ready to store."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


class Clock(Protocol):
    """What a daemon asks for the time; a test passes one it can move."""

    def time(self) -> float: ...  # unix seconds

    def monotonic(self) -> float: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
