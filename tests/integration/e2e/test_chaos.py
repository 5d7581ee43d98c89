"""The happy path again, while a seeded fault driver breaks something every few seconds.

SIGKILL of a random daemon (started again at once, as systemd's Restart= would), Helix 429
and 5xx bursts, IRC RECONNECT and hard drops, Twitch CDN connections cut mid-segment, YouTube 503s.
The end state must be the happy path's: every VOD archived and uploaded once, every chat
message stored once on its real VOD unless it was sent inside a recorded gap, and the
stand-in's own list of lines nobody received lies inside those gaps; no `database is
locked` and no traceback in any log.  `E2E_SEED=<seed>` replays a run.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import DB_KINDS
from tests.e2e.checks import final_problems
from tests.e2e.faults import FaultDriver, run_seed
from tests.e2e.harness import FAST_HELIX_WINDOW, VOD_SEGMENTS, FakeTwitch, broadcast, wait_archived
from tests.e2e.stack import DAEMON_NAMES, Stack
from tests.standins.youtube import Fault

CHAT_RATE = 200
CHAT_SECONDS = 25
FAULT_INTERVAL = 3.0  # seconds between faults, on average
SEGMENT_RATE = 50_000  # bytes/s per segment request: downloads last long enough to be killed mid-way
# Dense enough that every stage is hit several times, sparse enough that a daemon restarted
# with backoff gets work done in between.  A forced 429 drains the whole bucket: the poller
# then waits for it to refill (FAST_HELIX_WINDOW).
FAILED = (429, 500, 502, 503)
WEIGHTS = {"helix_429": 0.3, "helix_5xx": 0.7, "irc_drop": 0.5, **{f"kill_{name}": 0.75 for name in DAEMON_NAMES}}


def fault_menu(world: FakeTwitch, stack: Stack) -> dict[str, Callable[[random.Random], str]]:
    def kill(name: str) -> Callable[[random.Random], str]:
        def action(rng: random.Random) -> str:
            stack.kill(name)
            time.sleep(rng.uniform(0, 1.0))  # RestartSec
            stack.start(name)
            return f"SIGKILL {name}"

        return action

    def helix_429(rng: random.Random) -> str:
        times = rng.randint(1, 5)
        world.helix.force_429(times=times)
        return f"{times}x 429"

    def helix_5xx(rng: random.Random) -> str:
        endpoint, status, times = (
            rng.choice(["streams", "videos", "users", "token"]),
            rng.choice([500, 502, 503]),
            rng.randint(1, 3),
        )
        world.helix.fail_next(endpoint, status=status, times=times)
        return f"{times}x {status} on {endpoint}"

    def irc_reconnect(rng: random.Random) -> str:
        world.irc.reconnect()
        return "RECONNECT"

    def irc_drop(rng: random.Random) -> str:
        world.irc.drop()
        return "drop"

    def hls_drop(rng: random.Random) -> str:
        after, times = rng.randint(1_000, 40_000), rng.randint(1, 3)
        world.twitch.add_rule(VOD_SEGMENTS, drop_after=after, times=times)
        return f"{times}x cut after {after} bytes"

    def youtube_503(rng: random.Random) -> str:
        step = rng.choice(["put", "put", "post", "status"])
        world.youtube.add_fault(Fault(on=step, status=503, reason="backendError", times=1))
        return f"503 on {step}"

    return {
        **{f"kill_{name}": kill(name) for name in DAEMON_NAMES},
        "helix_429": helix_429,
        "helix_5xx": helix_5xx,
        "irc_reconnect": irc_reconnect,
        "irc_drop": irc_drop,
        "hls_drop": hls_drop,
        "youtube_503": youtube_503,
    }


def faults_served(world: FakeTwitch) -> str:
    """What the stand-ins actually answered wrongly (an injected fault strikes only when a request comes)."""
    helix = Counter(str(entry["status"]) for entry in world.helix.state()["log"] if entry["status"] in FAILED)
    youtube = sum(1 for _, _, status in world.youtube.state()["requests"] if status in FAILED)
    cut = sum(rule.used for rule in world.twitch.rules if rule.drop_after is not None)
    return (
        f"served: Helix {dict(helix)}, HLS segments cut mid-body {cut}, YouTube errors {youtube}, "
        f"IRC connections {world.irc.connections_total}"
    )


@dataclasses.dataclass
class ChaosRun:
    seed: int
    driver: FaultDriver
    stack: Stack
    seconds: float
    unclean_stops: dict[str, int]
    problems: dict[str, list[str]]


@pytest.fixture(scope="module", params=DB_KINDS)
def chaos(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, vod_cache: Path
) -> Iterator[ChaosRun]:
    """One seeded run of the scenario under faults per database kind; the tests below each judge one
    part of its end state."""
    seed = run_seed()
    root = tmp_path_factory.mktemp("chaos")
    dsn = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        dsn = cluster.dsn(cluster.create_database("chaos"))
    with FakeTwitch(root / "world", vod_cache, helix_window=FAST_HELIX_WINDOW) as world:
        alice, bob = world.add_channel("alice"), world.add_channel("bob")
        world.twitch.add_rule(VOD_SEGMENTS, rate=SEGMENT_RATE)
        stack = Stack(root / "vodtender", world.settings(), dsn=dsn, env=world.environment())
        stack.migrate()
        world.seed_youtube_tokens(stack)
        began = time.monotonic()
        stack.start_all()
        driver = FaultDriver(fault_menu(world, stack), seed, interval=FAULT_INTERVAL, weights=WEIGHTS).start()
        streams = [world.plan_stream(alice, live_for=180), world.plan_stream(bob, live_for=120)]
        try:
            with stack.database():
                broadcast(world, streams, CHAT_RATE, CHAT_SECONDS, seed, timeout=360)  # a poller killed every few s
                wait_archived(streams, timeout=300)
                driver.stop()
                unclean = stack.stop_all()
                problems = final_problems(world, stack, streams, context=driver.last_before)
        finally:
            driver.stop()
            stack.kill_all()
            print(
                f"\nchaos ({request.param}) seed={seed}: {driver.summary()} in {time.monotonic() - began:.0f}s; "
                f"daemon starts {stack.starts}; {len(world.chat.sent)} chat messages, "
                f"{sum(1 for m in world.chat.sent if m.receivers == 0)} sent while nobody was joined"
            )
            print("  " + faults_served(world))
            for at, name, detail in driver.history:
                print(f"  {time.strftime('%H:%M:%S', time.localtime(at))} {name}: {detail}")
        yield ChaosRun(seed, driver, stack, time.monotonic() - began, unclean, problems)


def test_every_fault_was_injected(chaos: ChaosRun) -> None:
    assert not chaos.driver.errors, f"faults that could not be injected: {chaos.driver.errors}"
    assert set(chaos.driver.counts) == set(chaos.driver.names), f"not every kind of fault struck: {chaos.driver.counts}"


def test_every_vod_archived_and_uploaded_once_under_faults(chaos: ChaosRun) -> None:
    assert not chaos.problems["vods"], f"seed {chaos.seed}:\n" + "\n".join(chaos.problems["vods"])


def test_no_chat_message_lost_or_duplicated_outside_recorded_gaps(chaos: ChaosRun) -> None:
    assert not chaos.problems["chat"], f"seed {chaos.seed}:\n" + "\n".join(chaos.problems["chat"])


def test_no_database_is_locked_no_traceback_and_a_clean_stop(chaos: ChaosRun) -> None:
    assert not chaos.problems["logs"], f"seed {chaos.seed}:\n" + "\n".join(chaos.problems["logs"])
    assert not chaos.unclean_stops, f"daemons did not stop cleanly on SIGTERM: {chaos.unclean_stops}"
