"""A daemon's jobs in flight, one thread each: started up to a limit, reaped when done, and at
shutdown asked to stop and given a grace to checkpoint (the downloader's and the recorder's pool)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from vodtender.runtime.db import close_thread_connection


class Job(Protocol):
    def run(self) -> str: ...

    def status(self) -> str: ...


J = TypeVar("J", bound=Job)


class Workers(Generic[J]):
    """Jobs by row id.  `stopping` is what every job is given to watch; `wake` wakes the daemon's loop
    when a job ends, so its slot is filled at once; `ended(job, outcome)` sees each job's outcome."""

    def __init__(self, wake: Callable[[], None], ended: Callable[[J, str], None] | None = None):
        self.stopping = threading.Event()
        self._wake = wake
        self._ended = ended
        self._running: dict[int, tuple[J, threading.Thread]] = {}

    def __len__(self) -> int:
        return len(self._running)

    @property
    def ids(self) -> list[int]:
        return list(self._running)

    @property
    def jobs(self) -> list[J]:
        return [job for job, _ in self._running.values()]

    def has_room(self, limit: int) -> bool:
        return len(self._running) < limit and not self.stopping.is_set()

    def reap(self) -> list[int]:
        """Forget the jobs that ended; their ids."""
        done = [key for key, (_, thread) in self._running.items() if not thread.is_alive()]
        for key in done:
            del self._running[key]
        return done

    def start(self, key: int, job: J, name: str) -> None:
        thread = threading.Thread(target=self._work, args=(job,), name=name, daemon=True)
        self._running[key] = (job, thread)
        thread.start()

    def status(self, idle: str) -> str:
        return "; ".join(job.status() for job in self.jobs) if self._running else idle

    def stop(self, grace: float) -> None:
        """Ask every job to stop and wait up to `grace` seconds (real time, whatever clock the loop runs on)."""
        self.stopping.set()
        deadline = time.monotonic() + grace
        for _, thread in list(self._running.values()):
            thread.join(max(0.0, deadline - time.monotonic()))

    def clear(self) -> None:
        self._running.clear()

    def _work(self, job: J) -> None:
        try:
            outcome = job.run()
            if self._ended is not None:
                self._ended(job, outcome)
        finally:
            close_thread_connection()
            self._wake()
