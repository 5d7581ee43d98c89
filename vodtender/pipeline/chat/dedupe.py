"""Dropping the second copy of a chat event before it reaches the write queue.

During a RECONNECT two connections are joined to every channel for a moment, so a message can
arrive twice; the database skips a known id too, but dropping it here saves the queue and the
write.  Only recent ids matter: a copy arrives within seconds of the original.
"""

from __future__ import annotations

import collections


class RecentIds:
    """The last `size` ids, for dropping the copy of a message seen on both connections."""

    def __init__(self, size: int):
        self._order: collections.deque[str] = collections.deque()
        self._ids: set[str] = set()
        self._size = size

    def add(self, msg_id: str) -> bool:
        """False if the id was seen recently."""
        if msg_id in self._ids:
            return False
        self._ids.add(msg_id)
        self._order.append(msg_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True
