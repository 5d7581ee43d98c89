"""The one small HTTP server: a standard-library server on its own thread, bound at once, stopped cleanly.

Used by the daemons' /metrics endpoint, the OAuth loopback receiver and the tests' stand-ins.  Port 0
picks a free port (read it back from `address`).  Binding happens in the constructor, so an address in
use fails there, before anything is started.

Bounded against idle or hostile clients: a connection must deliver its request within
`request_timeout` seconds (after it is accepted, and between requests of a kept-alive one) or it is
closed; at most `max_connections` are open at once, and when they are all full the one idle longest
makes room for a new one; when accepting fails for lack of descriptors or memory, the loop retries
every `ACCEPT_RETRY_SECONDS` instead of spinning.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from typing import Self, cast

TEXT = "text/plain; charset=utf-8"
POLL_SECONDS = 0.5  # how often the loop looks at stop requests and connection deadlines
ACCEPT_RETRY_SECONDS = 1.0
MAX_CONNECTIONS = 64  # a few scrapers and probes need far fewer
REQUEST_TIMEOUT_SECONDS = 5.0
# accept() failing for these goes on until some connection or descriptor is freed: wait, don't spin.
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

# Standard library only (the stand-ins run this module under a bare python3): the daemons' logging
# setup formats this logger like theirs.
log = logging.getLogger("vodtender.http")


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

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        cast(_Server, self.server).connections.serving(self.connection)  # its request is in: not idle
        return parsed

    def handle_one_request(self) -> None:
        super().handle_one_request()
        cast(_Server, self.server).connections.idle(self.connection)  # kept alive: waits for the next one


class Connections:
    """The open connections: at most `cap`, each idle one (waiting for its request) with a deadline."""

    def __init__(self, cap: int, request_timeout: float) -> None:
        self.cap = cap
        self.request_timeout = request_timeout
        self._room = threading.Condition()
        self._idle: dict[socket.socket, float] = {}  # -> the deadline of its request (monotonic)
        self._serving: set[socket.socket] = set()

    def admit(self, sock: socket.socket) -> None:
        with self._room:
            self._idle[sock] = time.monotonic() + self.request_timeout

    def serving(self, sock: socket.socket) -> None:
        with self._room:
            if self._idle.pop(sock, None) is not None:
                self._serving.add(sock)

    def idle(self, sock: socket.socket) -> None:
        with self._room:
            if sock in self._serving:
                self._serving.discard(sock)
                self._idle[sock] = time.monotonic() + self.request_timeout

    def closed(self, sock: socket.socket) -> None:
        with self._room:
            self._idle.pop(sock, None)
            self._serving.discard(sock)
            self._room.notify_all()

    def close_expired(self) -> None:
        now = time.monotonic()
        with self._room:
            expired = [sock for sock, deadline in self._idle.items() if deadline <= now]
        for sock in expired:
            _hang_up(sock)

    def make_room(self) -> bool:
        """True when one more may come in: there is room, or the longest idle one was hung up to make it."""
        with self._room:
            if len(self._idle) + len(self._serving) < self.cap:
                return True
            if not self._idle:
                return False
            longest_idle = min(self._idle, key=self._idle.__getitem__)
            del self._idle[longest_idle]  # counted out now; its handler closes it in a moment
        _hang_up(longest_idle)
        return True

    def wait_for_room(self, timeout: float) -> None:
        with self._room:
            self._room.wait(timeout)

    def __len__(self) -> int:
        with self._room:
            return len(self._idle) + len(self._serving)


def _hang_up(sock: socket.socket) -> None:
    """Ends the connection under its handler: a read blocked on it returns at once, and the handler ends."""
    with contextlib.suppress(OSError):  # already gone
        sock.shutdown(socket.SHUT_RDWR)


class _Server(HTTPServer):
    """Takes per instance what the standard server reads from class attributes; serves with bounds."""

    def __init__(
        self,
        addr: tuple[str, int],
        handler: type[QuietHandler],
        backlog: int,
        quiet_errors: bool,
        connections: Connections,
    ) -> None:
        self.request_queue_size = backlog  # read by listen(), inside the base constructor
        self.quiet_errors = quiet_errors
        self.connections = connections
        self.accepting = True
        super().__init__(addr, handler)

    @property
    def where(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def serve(self, stop: threading.Event) -> None:
        """Accepts and hands out connections until `stop` is set; never spins on a socket it cannot accept from."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            while not stop.is_set():
                self.connections.close_expired()
                if not selector.select(POLL_SECONDS):
                    continue
                if self.connections.make_room():
                    self._accept_one(stop)
                else:
                    self.connections.wait_for_room(POLL_SECONDS)  # every one is serving a request

    def _accept_one(self, stop: threading.Event) -> None:
        try:
            request, client_address = self.get_request()
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                if self.accepting:
                    log.warning(
                        f"cannot accept connections on {self.where}: "
                        f"{exc.strerror}; retrying every {ACCEPT_RETRY_SECONDS:g} s ({len(self.connections)} open)"
                    )
                    self.accepting = False
                stop.wait(ACCEPT_RETRY_SECONDS)
            return  # else the client left before it was accepted
        if not self.accepting:
            log.info(f"accepting connections on {self.where} again")
            self.accepting = True
        self.connections.admit(request)
        if self.verify_request(request, client_address):
            try:
                self.process_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
                self.shutdown_request(request)
        else:
            self.shutdown_request(request)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        self.connections.closed(request)
        super().shutdown_request(request)

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        if not self.quiet_errors:
            super().handle_error(request, client_address)


class _SerialServer(_Server):
    """One request at a time, in the serving thread: only a socket timeout can bound a stalled client."""

    def get_request(self) -> tuple[socket.socket, object]:
        request, client_address = super().get_request()
        request.settimeout(self.connections.request_timeout)
        return request, client_address


class _ThreadingServer(ThreadingMixIn, _Server):
    daemon_threads = True  # a request still running must not hold up the process's exit


class HttpServer:
    """Serves `handler` at `addr` from a thread named `name` once started; `stop()` ends it and frees the port.

    `threaded`: a thread per connection (else one request at a time).  `backlog`: connections the kernel
    queues before accepting.  `quiet_errors`: a client vanishing mid-request prints no traceback.
    `max_connections`, `request_timeout`: the bounds described in the module's docstring.
    """

    def __init__(
        self,
        addr: tuple[str, int],
        handler: type[QuietHandler],
        *,
        name: str,
        threaded: bool = True,
        backlog: int = 5,
        quiet_errors: bool = False,
        max_connections: int = MAX_CONNECTIONS,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        server_cls = _ThreadingServer if threaded else _SerialServer
        connections = Connections(max_connections if threaded else 1, request_timeout)
        self._server = server_cls(addr, handler, backlog, quiet_errors, connections)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._server.serve, args=(self._stop,), name=name, daemon=True)
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

    @property
    def open_connections(self) -> int:
        return len(self._server.connections)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice, or without `start()`."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()  # the loop looks at `_stop` at least every POLL_SECONDS
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
