"""Standing in for systemd's NOTIFY_SOCKET: a datagram socket for a daemon process, a list for a runtime in-process."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from vodtender.runtime.clock import Clock
from vodtender.runtime.notify import Notifier


class NotifySocket:
    def __init__(self, path: Path):
        self.path = path
        self.messages: list[tuple[float, str]] = []  # (monotonic time, one KEY=VALUE line)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            for line in data.decode(errors="replace").splitlines():
                self.messages.append((now, line))

    def lines(self, prefix: str) -> list[str]:
        return [m for _, m in self.messages if m.startswith(prefix)]

    def times(self, line: str) -> list[float]:
        return [t for t, m in self.messages if m == line]

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)


class RecordingNotifier(Notifier):
    """The runtime's notifier with a list where systemd's socket would be: for in-process tests."""

    def __init__(self, watchdog_interval: float | None = None, clock: Clock | None = None):
        self.messages: list[str] = []  # one KEY=VALUE line each, in the order sent
        super().__init__(lambda datagram: self.messages.extend(datagram.splitlines()), watchdog_interval, clock)

    def lines(self, prefix: str) -> list[str]:
        return [m for m in self.messages if m.startswith(prefix)]
