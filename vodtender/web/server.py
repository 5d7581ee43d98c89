"""The web viewer's HTTP endpoint: cheroot serving whichever WSGI app is mounted, at WEB_ADDR.

The runtime binds it at start (`WebViewer.http_endpoint`), before the daemon exists: until the
viewer mounts its app (and again while it is idle or reloading) the idle app answers, which serves
/metrics /healthz /readyz like every daemon's endpoint and 503 with the reasons for anything else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import cheroot.wsgi

from vodtender.runtime.health import ReadinessCheck
from vodtender.runtime.logs import get_logger
from vodtender.web.app import create_idle_app

log = get_logger("web")

THREADS = 16  # requests served at once: a few players (a media stream holds one while it reads) and the pages
REQUEST_TIMEOUT = 10  # seconds a client may take to send its request, or stall reading the answer
SHUTDOWN_TIMEOUT = 2

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WebServer:
    """Bound on construction (an address in use fails here), serving once started; `mount()` swaps the app."""

    def __init__(self, addr: tuple[str, int], readiness: ReadinessCheck) -> None:
        self._idle: WsgiApp = create_idle_app(readiness)
        self._app: WsgiApp = self._idle
        self._server = cheroot.wsgi.Server(
            addr, self._dispatch, numthreads=THREADS, timeout=REQUEST_TIMEOUT, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        self._server.error_log = self._error_log  # type: ignore[method-assign]
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name="web", daemon=True)

    def _dispatch(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self._app(environ, start_response)

    @staticmethod
    def _error_log(msg: str = "", level: int = 20, traceback: bool = False) -> None:
        """cheroot's complaints (a client gone mid-answer, a malformed request) are the client's, not ours."""
        log.debug("web server", message=str(msg).strip())

    def mount(self, app: WsgiApp | None) -> None:
        """Serve `app` from the next request on; None: the idle app again."""
        self._app = app or self._idle

    def mounted(self, app: WsgiApp) -> bool:
        return self._app is app

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.bind_addr[:2]
        return str(host), int(port)

    @property
    def serving(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._thread.is_alive():
            self._thread.join(SHUTDOWN_TIMEOUT + 1)
