"""sd_notify: READY, STATUS, WATCHDOG and STOPPING for systemd (a no-op outside systemd)."""

from __future__ import annotations

import os
import time

import sdnotify


class Notifier:
    def __init__(self) -> None:
        self._notifier = sdnotify.SystemdNotifier()
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        pid = os.environ.get("WATCHDOG_PID")
        if pid and pid != str(os.getpid()):
            usec = 0  # the watchdog is meant for another process (e.g. `vodtender run`'s parent)
        # systemd recommends pinging at half the interval.
        self.watchdog_interval: float | None = usec / 2e6 if usec else None
        self._last_ping = 0.0
        self._last_status = ""

    def ready(self, status: str) -> None:
        self._last_status = status
        self._notifier.notify(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        status = status.replace("\n", " ")
        if status != self._last_status:
            self._last_status = status
            self._notifier.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        """Ping if due; call from the main loop only, so a hung loop stops the pings."""
        if self.watchdog_interval is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= self.watchdog_interval * 0.9:
            self._last_ping = now
            self._notifier.notify("WATCHDOG=1")

    def reloading(self) -> None:
        self._notifier.notify("RELOADING=1")

    def stopping(self) -> None:
        self._notifier.notify("STOPPING=1")
