"""The lease keeper: a job's lease renewed (and its progress written) once a second, whatever the job
is doing at that moment — a slow resolve, a long fetch, ffmpeg joining — from a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import peewee

from vodtender.runtime.db import close_thread_connection
from vodtender.runtime.logs import get_logger

log = get_logger("lease")

INTERVAL = 1.0  # seconds between renewals: also how soon a cancel flag or a lost lease is seen


@contextmanager
def lease_kept(renew: Callable[[], object], held: Callable[[], bool], name: str) -> Iterator[None]:
    """While the block runs, call `renew()` every second for as long as `held()` is true.  A database
    error in one renewal is logged and the next second tries again (the lease outlasts a few misses)."""
    done = threading.Event()

    def keep() -> None:
        try:
            while not done.wait(INTERVAL) and held():
                try:
                    renew()
                except peewee.PeeweeException as exc:  # the database is briefly unavailable
                    log.warning("lease not renewed, trying again", job=name, error=str(exc))
        finally:
            close_thread_connection()

    keeper = threading.Thread(target=keep, daemon=True, name=f"lease-{name}")
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()
