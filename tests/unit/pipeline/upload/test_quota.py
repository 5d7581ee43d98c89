"""Quota: the hold lasts until midnight Pacific, units are counted per Pacific day."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import peewee

from vodtender.pipeline.kv import QUOTA_HOLD_UNTIL_KEY, kv_get, kv_set
from vodtender.pipeline.upload.metrics import QUOTA_HOLD_UNTIL, QuotaMetrics
from vodtender.pipeline.upload.quota import Quota, next_reset

PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")


def ts(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp()


def test_next_reset_is_midnight_pacific_in_summer_and_winter() -> None:
    summer = next_reset(ts(2026, 7, 1, 20))  # 13:00 PDT
    assert dt.datetime.fromtimestamp(summer, dt.UTC) == dt.datetime(2026, 7, 2, 7, tzinfo=dt.UTC)
    winter = next_reset(ts(2026, 1, 15, 9))  # 01:00 PST
    assert dt.datetime.fromtimestamp(winter, dt.UTC) == dt.datetime(2026, 1, 16, 8, tzinfo=dt.UTC)
    local = dt.datetime.fromtimestamp(next_reset(ts(2026, 3, 8, 12)), PACIFIC)  # the day DST starts
    assert (local.hour, local.minute, local.day) == (0, 0, 9)


def test_hold_is_shared_in_kv_and_ends_by_itself(migrated_db: peewee.Database) -> None:
    quota = Quota(daily_units=10000, upload_cost=1600, observer=QuotaMetrics())
    now = ts(2026, 7, 1, 20)
    hold = quota.start_hold("quotaExceeded", now=now)
    assert float(kv_get(QUOTA_HOLD_UNTIL_KEY)) == hold.until == ts(2026, 7, 2, 7)
    assert quota.hold(now + 60).reason == "quotaExceeded"
    assert QUOTA_HOLD_UNTIL._value.get() == hold.until
    assert "midnight Pacific" in hold.describe()
    assert quota.hold(hold.until + 1) is None and kv_get(QUOTA_HOLD_UNTIL_KEY) is None
    assert QUOTA_HOLD_UNTIL._value.get() == 0


def test_hold_lifted_by_deleting_or_rewriting_the_key(migrated_db: peewee.Database) -> None:
    quota = Quota(10000, 1600)
    quota.start_hold("uploadLimitExceeded")
    kv_set(QUOTA_HOLD_UNTIL_KEY, "garbage")
    assert quota.hold() is None


def test_units_counted_per_pacific_day(migrated_db: peewee.Database) -> None:
    quota = Quota(daily_units=5000, upload_cost=1600)
    day1 = ts(2026, 7, 1, 20)
    assert quota.spend(1600, now=day1) == 1600
    assert quota.spend(1600, now=day1 + 3600) == 3200
    assert quota.fits_upload(now=day1 + 3600)
    quota.spend(1600, now=day1 + 7200)
    assert not quota.fits_upload(now=day1 + 7200)
    day2 = ts(2026, 7, 2, 8)  # 01:00 PDT the next day
    assert quota.used_today(now=day2) == 0 and quota.fits_upload(now=day2)
    assert quota.spend(50, now=day2) == 50


def test_upload_limit_holds_for_its_own_time_apart_from_the_units(migrated_db: peewee.Database) -> None:
    quota = Quota(10000, 1600, QuotaMetrics(), limit_hold=3600)
    now = ts(2026, 7, 1, 20)
    hold = quota.start_hold("uploadLimitExceeded", now=now)
    assert hold.until == now + 3600 and "not quota units" in hold.describe() and "midnight" not in hold.describe()
    assert quota.hold(now) is None and quota.used_today(now) == 0  # the units are untouched
    assert [h.reason for h in quota.holds(now + 60)] == ["uploadLimitExceeded"]
    units = quota.start_hold("quotaExceeded", now=now)
    assert quota.used_today(now) == 10000  # YouTube's word: the count shows the units gone
    assert len(quota.holds(now + 3601)) == 1 and quota.holds(units.until + 1) == []
