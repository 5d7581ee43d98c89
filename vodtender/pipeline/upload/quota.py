"""YouTube's two daily limits, and the holds after them.

The project's units (`quotaExceeded`, or our own count says the next upload would not fit):
YouTube resets them at midnight Pacific time, so every upload waits until then.  Units used are
counted in the shared `shared_limits` row `youtube_quota`, so uploaders on several hosts add up;
when YouTube says the units are gone, the count says so too (`status` and the messages show one
number).  The channel's count of uploads (`uploadLimitExceeded`, not units): YouTube does not
publish when it frees, so uploads wait `UPLOAD_LIMIT_HOLD` (24 h) from the refusal.

Each hold lives in `kv` (`upload_quota_hold_until` / `upload_limit_hold_until`, unix seconds),
so all uploaders share it and an operator (or a test) can lift it:
`DELETE FROM kv WHERE key='upload_quota_hold_until'` (or `'upload_limit_hold_until'`).
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from dataclasses import dataclass
from typing import Protocol

from vodtender.clients.youtube_terms import UPLOAD_LIMIT_REASON
from vodtender.pipeline.kv import (
    QUOTA_HOLD_REASON_KEY,
    QUOTA_HOLD_UNTIL_KEY,
    UPLOAD_LIMIT_HOLD_REASON_KEY,
    UPLOAD_LIMIT_HOLD_UNTIL_KEY,
    kv_delete,
    kv_get,
    kv_set,
)
from vodtender.pipeline.shared_limits import youtube_quota
from vodtender.runtime.logs import get_logger

PLAYLIST_INSERT_COST = 50

log = get_logger("quota")


class QuotaObserver(Protocol):
    """Told what the quota reads (the uploader's metrics); `vodtender status` passes none."""

    def used_seen(self, units: int) -> None: ...

    def hold_seen(self, until: float) -> None: ...

    def limit_hold_seen(self, until: float) -> None: ...


class _Unobserved:
    def used_seen(self, units: int) -> None:
        pass

    def hold_seen(self, until: float) -> None:
        pass

    def limit_hold_seen(self, until: float) -> None:
        pass


def _pacific() -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo("America/Los_Angeles")
    except zoneinfo.ZoneInfoNotFoundError:  # no tzdata: PST all year resets at 01:00 PDT in summer (late, safe)
        return dt.timezone(dt.timedelta(hours=-8), "PST")


def pacific_day(now: float) -> str:
    return dt.datetime.fromtimestamp(now, _pacific()).date().isoformat()


def next_reset(now: float) -> float:
    """The next midnight Pacific after `now`, as unix seconds."""
    tz = _pacific()
    local = dt.datetime.fromtimestamp(now, tz)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return midnight.timestamp()


@dataclass(frozen=True)
class HoldKind:
    """One of YouTube's limits: where its hold is kept and how it is told."""

    until_key: str
    reason_key: str
    default_reason: str
    words: str  # what is exhausted
    release: str  # when it frees, in words


UNITS = HoldKind(
    QUOTA_HOLD_UNTIL_KEY, QUOTA_HOLD_REASON_KEY, "quotaExceeded", "YouTube quota exhausted", "midnight Pacific"
)
UPLOAD_COUNT = HoldKind(
    UPLOAD_LIMIT_HOLD_UNTIL_KEY,
    UPLOAD_LIMIT_HOLD_REASON_KEY,
    UPLOAD_LIMIT_REASON,
    "YouTube upload limit reached (the channel's uploads per day, not quota units)",
    "UPLOAD_LIMIT_HOLD after YouTube refused; YouTube does not say when it frees",
)


@dataclass(frozen=True)
class Hold:
    until: float
    reason: str
    kind: HoldKind = UNITS

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.until))
        return f"{self.kind.words} ({self.reason}): uploads held until {when} ({self.kind.release})"


class Quota:
    def __init__(
        self, daily_units: int, upload_cost: int, observer: QuotaObserver | None = None, limit_hold: float = 86400.0
    ):
        self.daily_units = daily_units
        self.upload_cost = upload_cost
        self.limit_hold_seconds = limit_hold
        self.counter = youtube_quota(daily_units)
        self.observer = observer or _Unobserved()

    def hold(self, now: float | None = None) -> Hold | None:
        """The current hold of the units, if any (an expired one is cleared)."""
        until = self._read(UNITS, time.time() if now is None else now)
        self.observer.hold_seen(until)
        return Hold(until, kv_get(QUOTA_HOLD_REASON_KEY) or UNITS.default_reason) if until else None

    def limit_hold(self, now: float | None = None) -> Hold | None:
        """The current hold of the upload count, if any (an expired one is cleared)."""
        until = self._read(UPLOAD_COUNT, time.time() if now is None else now)
        self.observer.limit_hold_seen(until)
        reason = kv_get(UPLOAD_LIMIT_HOLD_REASON_KEY) or UPLOAD_COUNT.default_reason
        return Hold(until, reason, UPLOAD_COUNT) if until else None

    def holds(self, now: float | None = None) -> list[Hold]:
        return [hold for hold in (self.hold(now), self.limit_hold(now)) if hold is not None]

    @staticmethod
    def _read(kind: HoldKind, now: float) -> float:
        try:
            until = float(kv_get(kind.until_key) or 0)
        except ValueError:
            until = 0.0
        if until and until <= now:
            kv_delete(kind.until_key, kind.reason_key)
            log.info("hold over, uploads resume", hold=kind.default_reason)
            until = 0.0
        return until

    def start_hold(self, reason: str, now: float | None = None) -> Hold:
        """Hold every upload: until the channel's upload count frees (`uploadLimitExceeded`), or else
        until the units reset; YouTube's `quotaExceeded` also means our count is at the limit."""
        now = time.time() if now is None else now
        if reason == UPLOAD_LIMIT_REASON:
            hold = Hold(now + self.limit_hold_seconds, reason, UPLOAD_COUNT)
            self.observer.limit_hold_seen(hold.until)
        else:
            hold = Hold(next_reset(now), reason, UNITS)
            if reason in ("quotaExceeded", "dailyLimitExceeded"):
                self.counter.exhaust(pacific_day(now))
            self.observer.hold_seen(hold.until)
        kv_set(hold.kind.until_key, f"{hold.until:.0f}")
        kv_set(hold.kind.reason_key, reason)
        log.warning(
            f"{hold.kind.words}, holding all uploads",
            reason=reason,
            until=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(hold.until)),
            frees=hold.kind.release,
            quota_used_today=self.used_today(now),
            quota_daily=self.daily_units,
        )
        return hold

    def used_today(self, now: float | None = None) -> int:
        used = int(self.counter.used(pacific_day(time.time() if now is None else now)))
        self.observer.used_seen(used)
        return used

    def fits_upload(self, now: float | None = None) -> bool:
        return self.used_today(now) + self.upload_cost <= self.daily_units

    def spend(self, units: int, now: float | None = None) -> int:
        """Count units used today (one atomic update, shared by every uploader); returns today's total."""
        used = int(self.counter.spend(units, pacific_day(time.time() if now is None else now)))
        self.observer.used_seen(used)
        return used
