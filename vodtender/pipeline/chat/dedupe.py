"""Dropping the second copy of a chat event before it reaches the write queue.

During a RECONNECT two connections are joined to every channel for a moment, so a message can
arrive twice; the database skips a known id too, but dropping it here saves the queue and the
write.  Only recent ids matter: a copy arrives within seconds of the original.  An id is unique in
its channel, not across channels (a shared chat sends the same message to each channel of the
session, sometimes with the same id), so the key is (channel, id).
"""

from __future__ import annotations

import collections
from collections.abc import Hashable


class RecentIds:
    """The last `size` keys, for dropping the copy of a message seen on both connections."""

    def __init__(self, size: int):
        self._order: collections.deque[Hashable] = collections.deque()
        self._ids: set[Hashable] = set()
        self._size = size

    def add(self, key: Hashable) -> bool:
        """False if the key was seen recently."""
        if key in self._ids:
            return False
        self._ids.add(key)
        self._order.append(key)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True
