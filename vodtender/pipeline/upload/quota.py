"""YouTube's daily quota: units used per (Pacific) day, and the hold after `quotaExceeded`.

YouTube resets quotas at midnight Pacific time.  When it answers `quotaExceeded` or
`uploadLimitExceeded`, or our own count says the next upload would not fit, every upload waits
until then.  Units used are counted in the shared `shared_limits` row `youtube_quota`, so
uploaders on several hosts add up.  The hold lives in `kv` (`upload_quota_hold_until`, unix seconds), so all uploaders
share it and an operator (or a test) can lift it: `DELETE FROM kv WHERE key='upload_quota_hold_until'`.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from dataclasses import dataclass
from typing import Protocol

from vodtender.pipeline.kv import QUOTA_HOLD_REASON_KEY, QUOTA_HOLD_UNTIL_KEY, kv_delete, kv_get, kv_set
from vodtender.pipeline.shared_limits import youtube_quota
from vodtender.runtime.logs import get_logger

PLAYLIST_INSERT_COST = 50

log = get_logger("quota")


class QuotaObserver(Protocol):
    """Told what the quota reads (the uploader's metrics); `vodtender status` passes none."""

    def used_seen(self, units: int) -> None: ...

    def hold_seen(self, until: float) -> None: ...


class _Unobserved:
    def used_seen(self, units: int) -> None:
        pass

    def hold_seen(self, until: float) -> None:
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
class Hold:
    until: float
    reason: str

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.until))
        return f"YouTube quota exhausted ({self.reason}): uploads held until {when} (midnight Pacific)"


class Quota:
    def __init__(self, daily_units: int, upload_cost: int, observer: QuotaObserver | None = None):
        self.daily_units = daily_units
        self.upload_cost = upload_cost
        self.counter = youtube_quota(daily_units)
        self.observer = observer or _Unobserved()

    def hold(self, now: float | None = None) -> Hold | None:
        """The current hold, if any (an expired one is cleared)."""
        now = time.time() if now is None else now
        try:
            until = float(kv_get(QUOTA_HOLD_UNTIL_KEY) or 0)
        except ValueError:
            until = 0.0
        if until and until <= now:
            kv_delete(QUOTA_HOLD_UNTIL_KEY, QUOTA_HOLD_REASON_KEY)
            log.info("quota hold over, uploads resume")
            until = 0.0
        self.observer.hold_seen(until)
        return Hold(until, kv_get(QUOTA_HOLD_REASON_KEY) or "quotaExceeded") if until else None

    def start_hold(self, reason: str, now: float | None = None) -> Hold:
        hold = Hold(next_reset(time.time() if now is None else now), reason)
        kv_set(QUOTA_HOLD_UNTIL_KEY, f"{hold.until:.0f}")
        kv_set(QUOTA_HOLD_REASON_KEY, reason)
        self.observer.hold_seen(hold.until)
        log.warning(
            "YouTube quota exhausted, holding all uploads until the daily reset",
            reason=reason,
            until=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(hold.until)),
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
