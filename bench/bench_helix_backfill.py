"""Catalog backfill against the Helix stand-in at Twitch's real limit (800 points a minute).

    python3 bench/bench_helix_backfill.py          # a 10,000-VOD channel
    python3 bench/bench_helix_backfill.py --quick  # a 1,000-VOD channel

vodtender's catalog code (HelixClient + its pacer + CatalogSync, storing into SQLite) backfills
one channel; the stand-in counts requests and rate-limit violations.  Scenarios:
  full bucket   pages of 100 with the bucket full: the limit allows it at once (burst)
  empty bucket  pages of 100 with the bucket just emptied by another consumer of the client id
  small pages   pages of 10 (ten times the requests), bucket full: more than one bucket's worth
Per scenario: time, requests, violations (429s the client caused), and the minimum the limit
allows: max(0, (requests - points in the bucket at the start) / (800/60 per second)).  Side by
side, the peer: a naive client that fetches as fast as it can and, on 429, waits until
`Ratelimit-Reset` as Twitch asks (no pacing).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.standins.helix import HelixStandin  # noqa: E402
from vodtender.clients.helix import HelixClient  # noqa: E402
from vodtender.pipeline.catalog.channels import ChannelDirectory  # noqa: E402
from vodtender.pipeline.catalog.sync import CatalogSync  # noqa: E402
from vodtender.runtime.db import open_database  # noqa: E402
from vodtender.runtime.migrations import migrate  # noqa: E402
from vodtender.runtime.models import Vod  # noqa: E402

LIMIT, WINDOW = 800, 60.0


@dataclasses.dataclass
class Scenario:
    name: str
    vods: int
    page: int
    initial: float  # points in the bucket at the start

    def minimum(self, requests_made: int) -> float:
        return max(0.0, (requests_made - self.initial) / (LIMIT / WINDOW))


def make_standin(scenario: Scenario) -> HelixStandin:
    standin = HelixStandin(limit=LIMIT, window=WINDOW, initial_tokens=scenario.initial).start()
    standin.add_user("bench")
    standin.add_videos("bench", scenario.vods, spacing=600)
    return standin


def run_vodtender(scenario: Scenario) -> tuple[float, int, int, int]:
    """Backfill with vodtender's code; returns seconds, Helix requests, violations, rows stored."""
    standin = make_standin(scenario)
    with tempfile.TemporaryDirectory() as folder:
        db = open_database(str(Path(folder) / "bench.db"))
        migrate(db)
        client = HelixClient(standin.client_id, standin.client_secret, standin.helix_url, standin.auth_url)
        client.fetch_token()  # not a Helix request: not rate limited
        directory = ChannelDirectory(["bench"])
        catalog = CatalogSync(client, directory, ["archive"], 0, 0, set, page_size=scenario.page)
        started = time.monotonic()
        done = False
        while not done:
            time.sleep(client.ready_in())
            if not directory.resolved:
                directory.resolve(client)
                catalog.start_round()
            else:
                done = catalog.step()
        elapsed = time.monotonic() - started
        rows = Vod.select().count()
        db.close()
    helix_requests = len([r for r in standin.log if r["endpoint"] != "token"])
    violations = standin.violations
    standin.stop()
    return elapsed, helix_requests, violations, rows


def run_naive(scenario: Scenario) -> tuple[float, int, int]:
    """The peer: as fast as possible, on 429 wait until Ratelimit-Reset; returns seconds, requests, 429s."""
    standin = make_standin(scenario)
    session = requests.Session()
    token = session.post(
        f"{standin.auth_url}/token",
        data={
            "client_id": standin.client_id,
            "client_secret": standin.client_secret,
            "grant_type": "client_credentials",
        },
    ).json()["access_token"]
    headers = {"Client-Id": standin.client_id, "Authorization": f"Bearer {token}"}
    started = time.monotonic()

    def get(endpoint: str, params: list[tuple[str, str]]) -> dict:
        while True:
            resp = session.get(f"{standin.helix_url}/{endpoint}", params=params, headers=headers)
            if resp.status_code != 429:
                return resp.json()
            time.sleep(max(0.0, float(resp.headers["Ratelimit-Reset"]) - time.time()))

    user_id = get("users", [("login", "bench")])["data"][0]["id"]
    cursor = None
    while True:
        params = [("user_id", user_id), ("type", "archive"), ("first", str(scenario.page))]
        body = get("videos", params + ([("after", cursor)] if cursor else []))
        cursor = body.get("pagination", {}).get("cursor")
        if not cursor:
            break
    elapsed = time.monotonic() - started
    helix_requests = len([r for r in standin.log if r["endpoint"] != "token"])
    violations = standin.violations
    standin.stop()
    return elapsed, helix_requests, violations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 1,000-VOD channel")
    args = parser.parse_args()
    vods = 1000 if args.quick else 10_000
    scenarios = [
        Scenario("full bucket", vods, 100, LIMIT),
        Scenario("empty bucket", vods, 100, 0),
        Scenario("small pages", vods, 10, LIMIT if not args.quick else 20),
    ]
    print(
        f"Helix backfill of one {vods:,}-VOD channel, limit {LIMIT} points/{WINDOW:.0f}s "
        f"(other engineers share the CPU: take times as approximate)"
    )
    print(
        f"{'scenario':<13} {'client':<10} {'time s':>8} {'requests':>9} {'min req':>8} {'violations':>10} "
        f"{'limit min s':>11} {'time/min':>9}"
    )
    for scenario in scenarios:
        minimum_requests = math.ceil(scenario.vods / scenario.page) + 1
        elapsed, made, violations, rows = run_vodtender(scenario)
        assert rows == scenario.vods, f"stored {rows} of {scenario.vods}"
        limit_min = scenario.minimum(made)
        ratio = f"{elapsed / limit_min:.2f}" if limit_min > 0 else "burst"
        print(
            f"{scenario.name:<13} {'vodtender':<10} {elapsed:8.2f} {made:9d} {minimum_requests:8d} {violations:10d} "
            f"{limit_min:11.2f} {ratio:>9}",
            flush=True,
        )
        n_elapsed, n_made, n_violations = run_naive(scenario)
        n_ratio = f"{n_elapsed / limit_min:.2f}" if limit_min > 0 else "burst"
        print(
            f"{'':<13} {'naive':<10} {n_elapsed:8.2f} {n_made:9d} {minimum_requests:8d} {n_violations:10d} "
            f"{limit_min:11.2f} {n_ratio:>9}",
            flush=True,
        )
    print("time/min: elapsed time over the minimum the rate limit allows ('burst': the limit costs nothing)")


if __name__ == "__main__":
    main()
