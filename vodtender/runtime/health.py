"""The per-daemon HTTP endpoint: /metrics (Prometheus text format), /healthz, /readyz."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from vodtender.runtime.httpserver import HttpServer, QuietHandler

ReadinessCheck = Callable[[], list[str]]


def health_server(addr: tuple[str, int], readiness: ReadinessCheck) -> HttpServer:
    """Bound now, serving once started.  /readyz answers 503 with one reason a line while `readiness()` has any."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self.reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self.reply(200, b"ok\n")
            elif path == "/readyz":
                problems = readiness()
                body = ("ready\n" if not problems else "".join(p + "\n" for p in problems)).encode()
                self.reply(503 if problems else 200, body)
            else:
                self.reply(404, b"not found: try /metrics, /healthz or /readyz\n")

    return HttpServer(addr, Handler, name="http")
