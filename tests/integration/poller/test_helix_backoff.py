"""HELIX_BACKOFF_BASE: the first retry delay of a failed Helix request, doubled per failure."""

from __future__ import annotations

from collections.abc import Callable

import peewee

from tests.helpers.processes import DaemonProcess
from tests.standins.helix import HelixStandin


def test_failed_requests_are_retried_on_the_configured_backoff(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess]
) -> None:
    helix.add_user("alice")
    helix.add_videos("alice", 3)
    helix.fail_next("videos", 503, times=5)
    # 0.1 + 0.2 + 0.4 + 0.8 + 1.6 s of backoff (±25%); on the 2 s default the same five take about a minute.
    poller = start_poller(HELIX_BACKOFF_BASE="100ms")
    poller.wait_for_log(r"helix catalog works again after_failures=5", timeout=15)
    poller.wait_for_log(r"catalog sync done channel=alice listed=3 new=3", timeout=15)
    assert [r["status"] for r in helix.requests_to("videos")][:6] == [503] * 5 + [200]
