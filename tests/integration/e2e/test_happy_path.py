"""Two channels go live with busy chat, end, and their VODs appear: everything archived, nothing lost.

The four daemons run as separate processes against the fake Twitch + YouTube, as systemd
runs them; the test plays the timeline and then checks what a user would check.
"""

from __future__ import annotations

import json
import time

from tests.e2e.checks import final_problems
from tests.e2e.harness import FakeTwitch, broadcast, wait_archived
from vodtender.runtime.db import is_postgres
from vodtender.runtime.models import ChatMessage

CHAT_RATE = 300  # messages/s per channel
CHAT_SECONDS = 10


def test_two_channels_live_with_chat_end_archived_and_uploaded(
    world: FakeTwitch, make_stack, seed: int, db_dsn: str
) -> None:
    """Once on SQLite, once on PostgreSQL (`db_dsn` is parametrised): the same four daemons, one database."""
    alice, bob = world.add_channel("alice"), world.add_channel("bob")
    stack = make_stack(dsn=db_dsn)
    began = time.monotonic()
    stack.start_all()
    streams = [world.plan_stream(alice, live_for=180), world.plan_stream(bob, live_for=150)]
    with stack.database():
        broadcast(world, streams, CHAT_RATE, CHAT_SECONDS, seed)
        wait_archived(streams, timeout=180)
        status = json.loads(stack.cli("status", "--json", stderr=False))
        unclean = stack.stop_all()
        problems = final_problems(world, stack, streams)
        stored = {m.msg_id for m in ChatMessage.select(ChatMessage.msg_id)}
    sent = world.chat.sent
    not_stored = [m for m in sent if m.msg_id not in stored]
    kind = "postgresql" if is_postgres(db_dsn) else "sqlite"
    print(f"happy path ({kind}): {len(sent)} chat messages, 2 VODs archived in {time.monotonic() - began:.0f}s")
    assert not unclean, f"daemons did not stop cleanly on SIGTERM: {unclean}"
    assert status["queue"]["done"] == 2 and status["ok"], f"`vodtender status` does not show it: {status}"
    # Without faults there is no excuse, not even a recorded gap: every message is stored.
    assert not not_stored, f"{len(not_stored)} of {len(sent)} messages not stored, e.g. {not_stored[:3]}"
    assert not any(problems.values()), "\n".join(line for lines in problems.values() for line in lines)
