"""One `vodtender run` per database and per address (the processes themselves:
tests/integration/runtime/test_run_command.py)."""

from __future__ import annotations

import os
import socket

import pytest

from vodtender.runtime.run_lock import Refused, RunLock, check_bindable


def test_a_database_is_locked_for_one_run_at_a_time(db_dsn: str) -> None:
    first = RunLock.take(db_dsn)
    try:
        with pytest.raises(Refused, match=rf"^another vodtender run \(pid {os.getpid()}\) is using the database "):
            RunLock.take(db_dsn)
    finally:
        first.release()
    RunLock.take(db_dsn).release()  # free again once released


def test_an_address_in_use_is_refused_and_a_free_one_is_not() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(Refused, match=rf"the poller's address 127.0.0.1:{port} cannot be bound"):
            check_bindable("poller", ("127.0.0.1", port))
    check_bindable("poller", ("127.0.0.1", port))
