"""The poller dates each VOD's deletion by Twitch from its channel's broadcaster type, and says when one is near."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import peewee

from tests.helpers.processes import DaemonProcess, run_cli, wait_until
from tests.standins.helix import HelixStandin
from vodtender.runtime.clock import from_unix
from vodtender.runtime.models import Vod


def test_an_affiliates_vod_is_due_14_days_after_its_stream_and_reported_the_day_before(
    migrated_db: peewee.Database,
    helix: HelixStandin,
    start_poller: Callable[..., DaemonProcess],
    workdir: Path,
    db_dsn: str,
) -> None:
    helix.add_user("alice", broadcaster_type="affiliate")
    created = int(time.time() - 13.5 * 86400)  # half a day before Twitch may delete it
    old = helix.add_video("alice", created)
    highlight = helix.add_video("alice", time.time() - 3600, type="highlight")
    poller = start_poller("alice", VOD_CATALOG_TYPES="archive,highlight")
    poller.wait_for_log(r"catalog sync done channel=alice", timeout=30)

    assert Vod.get(Vod.twitch_vod_id == old["id"]).deletion_deadline == from_unix(created) + dt.timedelta(days=14)
    assert Vod.get(Vod.twitch_vod_id == highlight["id"]).deletion_deadline is None  # highlights are kept

    def scraped() -> float | None:
        series = 'vodtender_vod_deletion_seconds{channel="alice"}'
        lines = [x for x in poller.http("/metrics")[1].splitlines() if x.startswith(series)]
        return float(lines[0].split()[-1]) if lines else None

    left = wait_until(scraped, timeout=10, what="the deletion metric")
    assert 12 * 3600 - 120 < float(left) <= 12 * 3600  # type: ignore[arg-type]
    report = json.loads(run_cli(workdir, "status", "--json", env=poller.env).stdout)
    assert [v["twitch_vod_id"] for v in report["expiring"]] == [old["id"]]
    shown = run_cli(workdir, "show", old["id"], env=poller.env).stdout
    assert "deletion_rule: affiliate channel: past broadcasts kept 14 days" in shown
    poller.stop()
