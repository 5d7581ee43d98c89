"""`vodtender web`: the web viewer on the shared runtime.

It only reads the database and the archive's files, and writes only what an operator's action
does (ops/control.py).  The requests are served by cheroot's threads (web/server.py); the main loop
only checks that the server still serves, so the watchdog ping means the viewer answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vodtender.daemons.base import PipelineDaemon
from vodtender.runtime.daemon import Runtime
from vodtender.web.app import create_app
from vodtender.web.server import WebServer

if TYPE_CHECKING:
    from vodtender.runtime.daemon import HttpEndpoint

CHECK_EVERY = 5.0  # seconds between the loop's checks of the server


class ServerStopped(RuntimeError):
    """The web server's thread ended under the daemon."""


class WebViewer(PipelineDaemon):
    """Serves the viewer's app at WEB_ADDR (its /metrics has the queue length, as every daemon's)."""

    name = "web"

    @classmethod
    def http_endpoint(cls, runtime: Runtime, addr: tuple[str, int]) -> HttpEndpoint:
        return WebServer(addr, runtime.readiness)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.app = create_app(self.cfg, runtime.readiness)
        self.access = self.app.extensions["vodtender"].access

    def server(self) -> WebServer | None:
        """The runtime's endpoint (bound after the daemon is made, so looked up each time)."""
        http = self.runtime.http
        return http if isinstance(http, WebServer) else None

    def run_once(self) -> float:
        server = self.server()
        if server is not None:
            if not server.serving:
                raise ServerStopped("the web server stopped serving")
            server.mount(self.app)  # from the first step on (and again after a reload made a new app)
        return CHECK_EVERY

    def status(self) -> str:
        server = self.server()
        if server is None or not server.mounted(self.app):
            return "starting"
        host, port = server.address
        signin = {"none": "loopback, no sign-in", "token": "bearer token", "htpasswd": "htpasswd"}[self.access.mode]
        return f"serving http://{host}:{port} ({signin})"

    def readiness(self) -> list[str]:
        problems = [self.access.problem] if self.access.problem else []
        if self.runtime.http is None:
            host, port = self.cfg.web_addr
            problems.append(f"not serving: WEB_ADDR {host}:{port} could not be bound (see the journal)")
        return problems

    def shutdown(self) -> None:
        server = self.server()
        if server is not None:
            server.mount(None)
