"""The one small HTTP server: free ports, a thread per request (or one at a time), quiet errors, clean stops,
idle clients hung up, a cap on connections."""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.request

import pytest

from tests.helpers.processes import wait_until
from vodtender.runtime.httpserver import HttpServer, QuietHandler


class Gate:
    """Holds a `/wait` request: `entered` once it is being handled, answered once `release` is set."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


def handler(gate: Gate | None = None) -> type[QuietHandler]:
    """Answers with the request's path; `/wait` is held by `gate`; `/boom` raises."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            if self.path == "/boom":
                raise RuntimeError("handler bug")
            if self.path == "/wait" and gate is not None:
                gate.entered.set()
                gate.release.wait(10)
            self.reply(200, self.path.encode())

    return Handler


def get(server: HttpServer, path: str) -> str:
    with urllib.request.urlopen(server.url + path, timeout=10) as answer:
        return answer.read().decode()


def test_port_zero_picks_a_free_port_and_the_url_names_it() -> None:
    with HttpServer(("127.0.0.1", 0), handler(), name="test-http") as server:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0
        assert server.url == f"http://127.0.0.1:{port}"
        assert get(server, "/hello") == "/hello"


def test_threaded_serves_a_request_while_another_is_still_running() -> None:
    gate = Gate()
    with HttpServer(("127.0.0.1", 0), handler(gate), name="test-http") as server:
        slow = threading.Thread(target=get, args=(server, "/wait"))
        slow.start()
        assert gate.entered.wait(10)
        assert get(server, "/quick") == "/quick"  # would wait for /wait on a one-at-a-time server
        gate.release.set()
        slow.join(10)


def test_serial_serves_one_request_at_a_time() -> None:
    gate = Gate()
    with HttpServer(("127.0.0.1", 0), handler(gate), name="test-http", threaded=False) as server:
        slow = threading.Thread(target=get, args=(server, "/wait"))
        slow.start()
        assert gate.entered.wait(10)
        conn = http.client.HTTPConnection(*server.address, timeout=0.5)
        conn.request("GET", "/quick")
        with pytest.raises(TimeoutError):
            conn.getresponse()  # queued behind /wait
        gate.release.set()
        slow.join(10)
        assert get(server, "/after") == "/after"
        conn.close()


def test_stop_frees_the_port_and_is_safe_twice_or_without_start() -> None:
    server = HttpServer(("127.0.0.1", 0), handler(), name="test-http").start()
    port = server.address[1]
    server.stop()
    server.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free again
    HttpServer(("127.0.0.1", 0), handler(), name="test-http").stop()  # returns: nothing was serving


def test_an_address_in_use_fails_at_construction() -> None:
    with HttpServer(("127.0.0.1", 0), handler(), name="test-http") as server, pytest.raises(OSError):
        HttpServer(server.address, handler(), name="test-http")


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_errors_keep_handler_tracebacks_off_stderr(quiet: bool, capsys: pytest.CaptureFixture[str]) -> None:
    with HttpServer(("127.0.0.1", 0), handler(), name="test-http", quiet_errors=quiet) as server:
        with pytest.raises(http.client.RemoteDisconnected):
            get(server, "/boom")  # the server reports the error before it closes the connection
        printed = "RuntimeError: handler bug" in capsys.readouterr().err
    assert printed is not quiet


def closed_by_server(client: socket.socket, within: float = 5.0) -> bool:
    client.settimeout(within)
    try:
        return client.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("threaded", [True, False])
def test_a_client_that_sends_no_request_is_hung_up_and_the_next_one_served(threaded: bool) -> None:
    with HttpServer(("127.0.0.1", 0), handler(), name="test-http", threaded=threaded, request_timeout=0.5) as server:
        with socket.create_connection(server.address) as silent:
            assert closed_by_server(silent)
        assert get(server, "/next") == "/next"


def test_at_the_cap_the_longest_idle_connection_makes_room_and_a_busy_one_stays() -> None:
    gate, answers = Gate(), []
    with HttpServer(("127.0.0.1", 0), handler(gate), name="test-http", max_connections=2) as server:
        busy = threading.Thread(target=lambda: answers.append(get(server, "/wait")))
        busy.start()
        assert gate.entered.wait(10)
        with socket.create_connection(server.address) as idle:
            wait_until(lambda: server.open_connections == 2, timeout=5, what="the idle client accepted")
            assert get(server, "/newcomer") == "/newcomer"
            assert closed_by_server(idle)
        gate.release.set()
        busy.join(10)
    assert answers == ["/wait"]
