"""Provider limits shared by every host through the database: so two pollers, or two uploaders,
together stay inside one Helix rate-limit bucket or one YouTube daily quota.

Each limit is one `shared_limits` row, changed by ONE conditional UPDATE: the database applies
concurrent takes one after the other (SQLite: the write lock; PostgreSQL: the row lock), so a
grant can never be given twice and no read-modify-write race exists between hosts.

- `SharedBucket`: a token bucket (Helix: `Ratelimit-Limit` points refilled per minute).
  `try_take()` takes points or says how long to wait; `clamp()` lowers the bucket to what the
  server's headers report (another client of the same app may spend from it too); `hold_until()`
  empties it until the server's reset after a 429, for every process sharing it: the row's stamp
  moves to the reset, and a bucket refills only from its stamp on.
- `DailyCounter`: units used per day (YouTube: `UPLOAD_QUOTA_DAILY` per Pacific day).
  `reserve()` counts units only if they fit under the limit; `used()` reads today's total.

Times are each host's wall clock; a bucket never moves back in time when clocks differ.
"""

from __future__ import annotations

import threading
import time

import peewee

from vodtender.runtime.db import retry_on_busy
from vodtender.runtime.models import SharedLimit


def _least(a: object, b: object) -> peewee.Function:
    """The smaller of two values (SQLite's two-argument MIN, PostgreSQL's LEAST)."""
    is_sqlite = isinstance(SharedLimit._meta.database.obj, peewee.SqliteDatabase)
    return peewee.fn.MIN(a, b) if is_sqlite else peewee.fn.LEAST(a, b)


def _greatest(a: object, b: object) -> peewee.Function:
    is_sqlite = isinstance(SharedLimit._meta.database.obj, peewee.SqliteDatabase)
    return peewee.fn.MAX(a, b) if is_sqlite else peewee.fn.GREATEST(a, b)


def _ensure_row(name: str, **initial: object) -> None:
    SharedLimit.insert(name=name, **initial).on_conflict_ignore().execute()


class SharedBucket:
    """A token bucket of `capacity` points refilled at `refill_per_second`, shared by all hosts."""

    def __init__(self, name: str, capacity: float, refill_per_second: float):
        if capacity <= 0 or refill_per_second <= 0:
            raise ValueError("a bucket needs a positive capacity and refill rate")
        self.name = name
        self.capacity = float(capacity)
        self.refill = float(refill_per_second)

    def _level(self, now: float) -> peewee.ColumnBase:
        """The points in the bucket at `now`, as SQL over the row."""
        elapsed = _greatest(peewee.Value(now) - SharedLimit.stamp, 0.0)
        return _least(peewee.Value(self.capacity), SharedLimit.tokens + elapsed * self.refill)

    def try_take(self, cost: float = 1.0, now: float | None = None) -> float:
        """Take `cost` points: 0.0 if taken, else the seconds until they will be there (nothing taken)."""
        now = time.time() if now is None else now

        def take() -> float:
            _ensure_row(self.name, tokens=self.capacity, stamp=now)
            level = self._level(now)
            taken = (
                SharedLimit.update(tokens=level - cost, stamp=_greatest(SharedLimit.stamp, now))
                .where((SharedLimit.name == self.name) & (level >= cost))
                .execute()
            )
            if taken:
                return 0.0
            return max(0.001, self._wait(SharedLimit.get_by_id(self.name), cost, now))

        return retry_on_busy(take)

    def _wait(self, row: SharedLimit | None, cost: float, now: float) -> float:
        """Seconds until `cost` points are in the bucket `row` describes (a held bucket: after its stamp)."""
        if row is None:
            return max(0.0, (cost - self.capacity) / self.refill)
        current = min(self.capacity, row.tokens + max(0.0, now - row.stamp) * self.refill)
        return max(0.0, row.stamp - now) + max(0.0, (cost - current) / self.refill)

    def take(self, cost: float = 1.0, stop: threading.Event | None = None, max_wait: float = 300.0) -> bool:
        """Wait for `cost` points and take them; False if `stop` was set or `max_wait` passed first."""
        deadline = time.monotonic() + max_wait
        while True:
            wait = self.try_take(cost)
            if wait == 0.0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if stop is not None:
                if stop.wait(min(wait, remaining)):
                    return False
            else:
                time.sleep(min(wait, remaining))

    def clamp(self, remaining: float, now: float | None = None) -> None:
        """The server says only `remaining` points are left: never believe in more than that."""
        now = time.time() if now is None else now

        def lower() -> None:
            _ensure_row(self.name, tokens=self.capacity, stamp=now)
            level = self._level(now)
            (
                SharedLimit.update(tokens=_least(level, float(remaining)), stamp=_greatest(SharedLimit.stamp, now))
                .where(SharedLimit.name == self.name)
                .execute()
            )

        retry_on_busy(lower)

    def hold_until(self, reset: float, now: float | None = None) -> None:
        """The server answered 429 and is full again at `reset` (unix time): empty until then, for every host."""
        now = time.time() if now is None else now

        def hold() -> None:
            _ensure_row(self.name, tokens=self.capacity, stamp=now)
            (
                SharedLimit.update(tokens=0.0, stamp=_greatest(SharedLimit.stamp, float(reset)))
                .where(SharedLimit.name == self.name)
                .execute()
            )

        retry_on_busy(hold)

    def wait_for(self, cost: float = 1.0, now: float | None = None) -> float:
        """Seconds until `cost` points are there (0.0: now), without taking any."""
        now = time.time() if now is None else now
        return self._wait(SharedLimit.get_or_none(SharedLimit.name == self.name), cost, now)

    def level(self, now: float | None = None) -> float:
        """Points in the bucket now (for metrics and status)."""
        now = time.time() if now is None else now
        row = SharedLimit.get_or_none(SharedLimit.name == self.name)
        if row is None:
            return self.capacity
        return min(self.capacity, row.tokens + max(0.0, now - row.stamp) * self.refill)


class DailyCounter:
    """Units used per day (the caller names the day, e.g. the Pacific date), capped at `limit`."""

    def __init__(self, name: str, limit: float):
        self.name = name
        self.limit = float(limit)

    def _used_expr(self, day: str) -> peewee.ColumnBase:
        return peewee.Case(None, [(SharedLimit.period == day, SharedLimit.tokens)], 0.0)

    def reserve(self, units: float, day: str) -> bool:
        """Count `units` for `day` if they fit under the limit; False (nothing counted) if not."""

        def add() -> bool:
            _ensure_row(self.name, tokens=0.0, period=day)
            used = self._used_expr(day)
            return bool(
                SharedLimit.update(tokens=used + units, period=day)
                .where((SharedLimit.name == self.name) & (used + units <= self.limit))
                .execute()
            )

        return retry_on_busy(add)

    def spend(self, units: float, day: str) -> float:
        """Count `units` used for `day` even past the limit (YouTube charged them); returns the day's total."""

        def add() -> float:
            _ensure_row(self.name, tokens=0.0, period=day)
            used = self._used_expr(day)
            SharedLimit.update(tokens=used + units, period=day).where(SharedLimit.name == self.name).execute()
            return self.used(day)

        return retry_on_busy(add)

    def exhaust(self, day: str) -> None:
        """The provider said the quota is gone (e.g. `quotaExceeded`): nothing more fits today."""

        def fill() -> None:
            _ensure_row(self.name, tokens=0.0, period=day)
            (
                SharedLimit.update(tokens=_greatest(self._used_expr(day), self.limit), period=day)
                .where(SharedLimit.name == self.name)
                .execute()
            )

        retry_on_busy(fill)

    def used(self, day: str) -> float:
        row = SharedLimit.get_or_none(SharedLimit.name == self.name)
        return row.tokens if row is not None and row.period == day else 0.0


HELIX_POINTS_PER_MINUTE = 800  # Twitch's bucket for an app access token


def helix_bucket(points_per_minute: int = HELIX_POINTS_PER_MINUTE) -> SharedBucket:
    """The one Helix bucket of this client id, shared by every poller (and anything else calling Helix)."""
    return SharedBucket("helix", capacity=points_per_minute, refill_per_second=points_per_minute / 60.0)


def youtube_quota(daily_units: int) -> DailyCounter:
    """The YouTube Data API's daily quota (count per Pacific day), shared by every uploader."""
    return DailyCounter("youtube_quota", limit=daily_units)
