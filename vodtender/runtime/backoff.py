"""The one backoff rule: exponential growth with jitter, capped.

Every retry in the service (a failed VOD, a dropped fragment, an IRC reconnect, a busy database,
a failing loop step) waits `backoff_delay(base, attempt, cap)`; only the base and the cap differ.
Jitter keeps several workers that failed together from retrying together.
"""

from __future__ import annotations

import random

JITTER = 0.25  # +-25 %


def backoff_delay(base: float, attempt: int, cap: float = 6 * 3600, jitter: float = JITTER) -> float:
    """Delay before retry number `attempt` (1-based): base * 2^(attempt-1), capped, then +-`jitter`."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * random.uniform(1 - jitter, 1 + jitter)
