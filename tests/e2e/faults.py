"""A seeded fault driver: every few seconds, one fault chosen at random, for the whole run.

Each fault is a named action (SIGKILL a daemon and start it again, a burst of Helix 429s,
an IRC RECONNECT, ...).  The seed fixes the sequence of choices and pauses, so a failing
run can be replayed with `E2E_SEED=<seed>`; what happened is counted for the report.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable


def run_seed() -> int:
    """`E2E_SEED` when given (a replay), else a fresh one; printed so the run can be replayed."""
    seed = int(os.environ.get("E2E_SEED") or random.SystemRandom().randrange(1, 10**9))
    print(f"\nE2E_SEED={seed}  (export E2E_SEED={seed} to replay this run)", file=sys.stderr, flush=True)
    return seed


class FaultDriver:
    """Runs `faults[name](rng)` every `interval` seconds (± half of it) from a thread, until stopped.

    The first round deals every fault once in a shuffled order, so each kind strikes early in
    the run (while the stream is live and chat flows); after that they are drawn by weight.
    """

    def __init__(
        self,
        faults: dict[str, Callable[[random.Random], str | None]],
        seed: int,
        interval: float = 3.0,
        weights: dict[str, float] | None = None,
    ):
        self.faults = faults
        self.names = sorted(faults)
        self.weights = [(weights or {}).get(name, 1.0) for name in self.names]
        self.random = random.Random(seed)
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self.history: list[tuple[float, str, str]] = []  # (when it began, fault, detail)
        self.errors: list[str] = []
        self._first_round = self.random.sample(self.names, len(self.names))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-driver", daemon=True)

    def start(self) -> FaultDriver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stop.wait(self.interval * self.random.uniform(0.5, 1.5)):
            name = self._first_round.pop() if self._first_round else self.random.choices(self.names, self.weights)[0]
            began = time.time()
            try:
                detail = self.faults[name](self.random) or ""
            except Exception as exc:  # a fault that cannot be injected is a harness bug: report it
                self.errors.append(f"{name}: {exc!r}")
                continue
            self.counts[name] += 1
            self.history.append((began, name, detail))

    def last_before(self, at: float) -> str:
        """What the driver did last before `at`, to explain a loss: ` (1.2s after SIGKILL chat)`."""
        earlier = [(t, name, detail) for t, name, detail in self.history if t <= at]
        if not earlier:
            return " (before any fault)"
        t, name, detail = earlier[-1]
        return f" ({at - t:.1f}s after the fault {name}: {detail})"

    def summary(self) -> str:
        total = sum(self.counts.values())
        parts = ", ".join(f"{name}={count}" for name, count in sorted(self.counts.items()))
        return f"{total} faults ({parts})"
