"""sd_notify: READY, STATUS, WATCHDOG and STOPPING for systemd (a no-op outside systemd).

`Notifier` decides what to send and when (a STATUS only when it changed, a WATCHDOG ping only when
due); where it goes is a `send` function: systemd's socket in a daemon, a list in a test.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import sdnotify

from vodtender.runtime.clock import Clock, SystemClock


class Notifier:
    def __init__(
        self, send: Callable[[str], None], watchdog_interval: float | None = None, clock: Clock | None = None
    ) -> None:
        self._send = send
        self.watchdog_interval = watchdog_interval  # seconds between pings; None: no watchdog
        self._clock = clock or SystemClock()
        self._last_ping: float | None = None
        self._last_status = ""

    @classmethod
    def systemd(cls, clock: Clock | None = None) -> Notifier:
        """To $NOTIFY_SOCKET, pinging at half of $WATCHDOG_USEC (as systemd recommends)."""
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        pid = os.environ.get("WATCHDOG_PID")
        if pid and pid != str(os.getpid()):
            usec = 0  # the watchdog is meant for another process (e.g. `vodtender run`'s parent)
        return cls(sdnotify.SystemdNotifier().notify, usec / 2e6 if usec else None, clock)

    def ready(self, status: str) -> None:
        self._last_status = status
        self._send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        status = status.replace("\n", " ")
        if status != self._last_status:
            self._last_status = status
            self._send(f"STATUS={status}")

    def watchdog(self) -> None:
        """Ping if due; call from the main loop only, so a hung loop stops the pings."""
        if self.watchdog_interval is None:
            return
        now = self._clock.monotonic()
        if self._last_ping is None or now - self._last_ping >= self.watchdog_interval * 0.9:
            self._last_ping = now
            self._send("WATCHDOG=1")

    def reloading(self) -> None:
        self._send("RELOADING=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")
