"""The one small HTTP server: a standard-library server on its own thread, bound at once, stopped cleanly.

Used by the daemons' /metrics endpoint, the OAuth loopback receiver and the tests' stand-ins.  Port 0
picks a free port (read it back from `address`).  Binding happens in the constructor, so an address in
use fails there, before anything is started.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from typing import Self

TEXT = "text/plain; charset=utf-8"


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps requests out of the log (scrapes and test traffic would flood it)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def reply(self, code: int, body: bytes, content_type: str = TEXT) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(HTTPServer):
    """Takes per instance what the standard server reads from class attributes."""

    def __init__(
        self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler], backlog: int, quiet_errors: bool
    ) -> None:
        self.request_queue_size = backlog  # read by listen(), inside the base constructor
        self.quiet_errors = quiet_errors
        super().__init__(addr, handler)

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        if not self.quiet_errors:
            super().handle_error(request, client_address)


class _ThreadingServer(ThreadingMixIn, _Server):
    daemon_threads = True  # a request still running must not hold up the process's exit


class HttpServer:
    """Serves `handler` at `addr` from a thread named `name` once started; `stop()` ends it and frees the port.

    `threaded`: a thread per request (else one request at a time).  `backlog`: connections the kernel
    queues before accepting.  `quiet_errors`: a client vanishing mid-request prints no traceback.
    """

    def __init__(
        self,
        addr: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        name: str,
        threaded: bool = True,
        backlog: int = 5,
        quiet_errors: bool = False,
    ) -> None:
        server_cls = _ThreadingServer if threaded else _Server
        self._server = server_cls(addr, handler, backlog, quiet_errors)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._stopped = False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """`http://host:port` (no trailing slash)."""
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice, or without `start()`."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._server.shutdown()  # waits for serve_forever to return: only when it runs
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
