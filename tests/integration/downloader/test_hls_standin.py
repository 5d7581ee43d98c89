"""The HLS stand-in itself: Range, Twitch's muted answers, fault rules and counters over its control API."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.standins.hls import PLAYLIST, HlsServer


def _get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_range_muted_names_rules_and_counts(vod_source: Path, tmp_path: Path) -> None:
    server = HlsServer(vod_source).start()
    try:
        data = (vod_source / "0.ts").read_bytes()
        assert _get(server.url("0.ts"), {"Range": "bytes=10-19"}) == (206, data[10:20])
        assert _get(server.url("0.ts"), {"Range": f"bytes={len(data)}-"})[0] == 416
        assert _get(server.url("5-unmuted.ts"))[0] == 403 and _get(server.url("5-muted.ts"))[0] == 200
        assert b"5-unmuted.ts" in _get(server.url(PLAYLIST))[1]

        rule = json.dumps({"pattern": "1.ts", "status": 503, "times": 1}).encode()
        assert _get(server.url("_control/rules"), method="POST", body=rule)[0] == 200
        assert _get(server.url("1.ts"))[0] == 503
        assert _get(server.url("1.ts")) == (200, (vod_source / "1.ts").read_bytes())
        server.add_rule("2.ts", drop_after=100)
        with pytest.raises(http.client.IncompleteRead):  # the body is cut after 100 bytes
            _get(server.url("2.ts"))
        counts = json.loads(_get(server.url("_control/counts"))[1])
        assert counts["1.ts"] == 2 and counts["2.ts"] == 1
        assert _get(server.url("_control/rules"), method="DELETE")[0] == 200
        assert _get(server.url("2.ts"))[0] == 200
        assert _get(server.url("../etc/passwd"))[0] == 404
    finally:
        server.stop()
