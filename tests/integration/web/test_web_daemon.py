"""`vodtender web` as a real process: the archive over real HTTP, safe by default, signing in from another host.

The other host is a network namespace (tests/helpers/netns.py): its requests come from a
non-loopback address, as a browser on the LAN would.
"""

from __future__ import annotations

import base64
import json
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from tests.helpers import netns
from tests.helpers.netns import NetnsHost
from tests.helpers.processes import DaemonProcess, base_env, free_port, wait_until
from tests.helpers.web_archive import DELETED_AT, Archive, fill_archive, make_test_video
from tests.helpers.web_openapi import problems
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate

NETNS_INDEX = 200  # a /30 of its own, apart from the scale-out tests' hosts 1..4
PASSWORD = "open sesame, twice over"


@pytest.fixture
def archive(workdir: Path) -> Iterator[Archive]:
    """The fixture archive in the workdir's SQLite database, with a real (short) MP4."""
    db = open_database(str(workdir / "vodtender.db"))
    migrate(db)
    video = make_test_video(workdir / "data" / "alpha" / "vod.mp4", seconds=6)
    yield fill_archive(workdir / "data", video)
    db.close()


def env_of(workdir: Path, **extra: str) -> dict[str, str]:
    return base_env(workdir, DB_DSN=str(workdir / "vodtender.db"), DATA_DIR=str(workdir / "data"), **extra)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_daemon_serves_the_archive_its_file_and_its_metrics(workdir: Path, archive: Archive) -> None:
    with DaemonProcess("web", workdir, env=env_of(workdir)) as web:
        assert web.wait_http("/readyz", timeout=30)[0] == 200
        base = f"http://127.0.0.1:{web.http_port}"
        for url in ("/api/vods", f"/api/vods/{archive.played.id}", "/api/recordings", "/api/status"):
            status, _, body = get(base + url)
            assert status == 200 and problems(url, "get", 200, json.loads(body)) == [], url
        chat = f"/api/vods/{archive.played.id}/chat?from=119&to=121"
        _, _, body = get(base + chat)
        assert [m["offset"] for m in json.loads(body)["messages"] if m["deleted"]] == [DELETED_AT]
        video = (workdir / "data" / "alpha" / "vod.mp4").read_bytes()
        status, headers, tail = get(f"{base}/media/{archive.played.id}", {"Range": "bytes=-100"})
        assert status == 206 and tail == video[-100:] and headers["Content-Type"] == "video/mp4"
        assert headers["Content-Range"] == f"bytes {len(video) - 100}-{len(video) - 1}/{len(video)}"
        _, _, metrics = get(base + "/metrics")
        assert 'vodtender_web_requests_total{code="200",route="/api/vods/<int:vod_id>/chat"}' in metrics.decode()
        assert 'vodtender_web_request_seconds_count{route="/media/<int:vod_id>"}' in metrics.decode()

        def status_line() -> str | None:
            with sqlite3.connect(workdir / "vodtender.db") as conn:
                row = conn.execute("SELECT status FROM daemons WHERE daemon = 'web'").fetchone()
            return row[0] if row and row[0].startswith("serving") else None

        assert wait_until(status_line, 15, what="the web heartbeat") == f"serving {base} (loopback, no sign-in)"
        assert web.stop() == 0


def test_a_non_loopback_address_without_web_auth_serves_nothing_but_the_probes(workdir: Path, archive: Archive) -> None:
    port = free_port()
    with DaemonProcess("web", workdir, env=env_of(workdir), http_host="0.0.0.0", http_port=port) as web:
        web.http_host = "127.0.0.1"  # bound on every address; asked on loopback
        status, reasons = web.wait_http("/readyz", timeout=30)
        assert status == 503 and "set WEB_AUTH" in reasons
        status, _, body = get(f"http://127.0.0.1:{port}/api/vods")
        assert status == 503 and b"WEB_AUTH" in body and b"Speedrun" not in body
        assert web.http("/healthz")[0] == 200
        web.wait_for_log("web idle: configuration incomplete")


@pytest.fixture
def other_host() -> Iterator[NetnsHost]:
    if netns.available() is not None:
        pytest.fail(f"this test needs a network namespace: {netns.available()}")
    host = NetnsHost(NETNS_INDEX, "lanpeer").create()
    yield host
    host.destroy()


def fetch_from(host: NetnsHost, url: str, headers: dict[str, str]) -> int:
    """The status a client inside `host` gets for `url`."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "req = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[2]))\n"
        "try:\n    print(urllib.request.urlopen(req, timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )
    argv = host.wrap([sys.executable, "-c", script, url, json.dumps(headers)])
    return int(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout)


def test_a_peer_on_another_host_must_sign_in(workdir: Path, archive: Archive, other_host: NetnsHost) -> None:
    htpasswd = workdir / "etc" / "htpasswd"
    htpasswd.write_text(f"ada:{generate_password_hash(PASSWORD, method='scrypt:1024:8:1')}\n")
    env = env_of(workdir, WEB_AUTH=str(htpasswd))
    with DaemonProcess("web", workdir, env=env, http_host=other_host.gateway) as web:
        assert web.wait_http("/readyz", timeout=30)[0] == 200
        url = f"http://{other_host.gateway}:{web.http_port}"

        def signed(password: str) -> dict[str, str]:
            return {"Authorization": "Basic " + base64.b64encode(f"ada:{password}".encode()).decode()}

        assert fetch_from(other_host, f"{url}/api/vods", {}) == 401
        assert fetch_from(other_host, f"{url}/vods/{archive.played.id}", {}) == 401
        assert fetch_from(other_host, f"{url}/api/vods", signed("wrong")) == 401
        assert fetch_from(other_host, f"{url}/api/vods", signed(PASSWORD)) == 200
        assert fetch_from(other_host, f"{url}/healthz", {}) == 200


def test_a_reload_applies_web_auth_in_place(workdir: Path, archive: Archive) -> None:
    htpasswd = workdir / "etc" / "htpasswd"
    htpasswd.write_text(f"ada:{generate_password_hash(PASSWORD, method='scrypt:1024:8:1')}\n")
    with DaemonProcess("web", workdir, env=env_of(workdir)) as web:
        assert web.wait_http("/readyz", timeout=30)[0] == 200
        url = f"http://127.0.0.1:{web.http_port}/api/vods"
        assert get(url)[0] == 200
        (workdir / "etc" / "vodtender.conf").write_text(f"web-auth = {htpasswd}\n")
        web.signal(signal.SIGHUP)
        signed = {"Authorization": "Basic " + base64.b64encode(f"ada:{PASSWORD}".encode()).decode()}
        # While the daemon is built again the viewer answers 503 for a moment: wait until it asks for sign-in
        # and lets the signed-in user in (before the reload, a signed request passes too: nobody is asked).
        wait_until(
            lambda: get(url)[0] == 401 and get(url, signed)[0] == 200, 15, what="the reloaded viewer to ask for sign-in"
        )
        assert web.proc is not None and web.proc.poll() is None  # reloaded in place
