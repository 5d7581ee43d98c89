"""The Helix stand-in as its own process, scripted over its control API (as an end-to-end harness does)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

from tests.helpers.processes import REPO, wait_until


def call(url: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url + path, data=data, headers=headers or {}, method="POST" if data is not None else "GET"
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def test_control_api_scripts_users_streams_and_vods_at_a_given_time() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.helix", "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        url = proc.stdout.readline().strip().removeprefix("HELIX_STANDIN_URL=")  # type: ignore[union-attr]
        user_id = call(url, "/control/add_user", {"login": "alice"})["result"]
        token = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    url + "/oauth2/token?client_id=standin-client-id&client_secret=standin-client-secret-1234"
                    "&grant_type=client_credentials",
                    data=b"",
                ),
                timeout=10,
            ).read()
        )["access_token"]
        auth = {"Client-Id": "standin-client-id", "Authorization": f"Bearer {token}"}
        soon = time.time() + 1
        call(url, "/control/go_live", {"login": "alice", "stream_id": "42", "started_at": 1764300000, "at": soon})
        assert call(url, f"/helix/streams?user_id={user_id}", headers=auth)["data"] == []
        live = wait_until(
            lambda: call(url, f"/helix/streams?user_id={user_id}", headers=auth)["data"],
            timeout=10,
            what="the scheduled go_live",
        )
        assert live[0]["id"] == "42" and live[0]["started_at"] == "2025-11-28T03:20:00Z"
        call(url, "/control/go_offline", {"login": "alice"})
        call(
            url,
            "/control/publish_vod",
            {"login": "alice", "stream_id": "42", "created_at": 1764300004, "video_id": "9001"},
        )
        videos = call(url, f"/helix/videos?user_id={user_id}&type=archive", headers=auth)
        assert [(v["id"], v["stream_id"]) for v in videos["data"]] == [("9001", "42")]
        state = call(url, "/control/state")
        assert state["violations"] == 0 and state["token_requests"] == 1
        assert {r["endpoint"] for r in state["log"]} >= {"streams", "videos", "token"}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
