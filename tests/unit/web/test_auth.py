"""Who may use the viewer (WEB_AUTH) and who may act (a signed-in user, by POST, with the CSRF token)."""

from __future__ import annotations

import base64
import io
import logging
import re
from pathlib import Path

import bcrypt
import pytest
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from tests.helpers.web_archive import Archive
from tests.helpers.web_openapi import json_responses, problems
from tests.unit.web.conftest import Viewer
from vodtender.cli.main import main
from vodtender.runtime.models import Vod

PASSWORD = "correct horse battery staple"
TOKEN = "a-bearer-token-of-some-length-0123456789"
APR1 = "$apr1$abcdefgh$0123456789abcdefghijkl"  # htpasswd's MD5: refused

# Who may sign in does not depend on the database: these run on SQLite only (test_api.py runs both).
pytestmark = pytest.mark.parametrize("db_dsn", ["sqlite"], indirect=True)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    bcrypt_y = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)
    path.write_text(
        "# users of the viewer\n"
        f"ada:{bcrypt_y}\n"
        f"bob:{generate_password_hash(PASSWORD, method='scrypt:1024:8:1')}\n"
        f"cy:{generate_password_hash(PASSWORD, method='pbkdf2:sha256:1000')}\n"
        f"dee:{APR1}\n"
    )
    return path


@pytest.mark.parametrize("user", ["ada", "bob", "cy"])
def test_htpasswd_users_sign_in_by_bcrypt_scrypt_and_pbkdf2(viewer: Viewer, htpasswd: Path, user: str) -> None:
    client = viewer(remote="203.0.113.9", WEB_AUTH=str(htpasswd))
    assert client.get("/api/vods", headers=basic(user, PASSWORD)).status_code == 200
    wrong = client.get("/api/vods", headers=basic(user, PASSWORD + "!"))
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic ")


def test_other_hash_kinds_are_refused_with_one_line_naming_the_line_never_the_hash(
    viewer: Viewer, htpasswd: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        client = viewer(WEB_AUTH=str(htpasswd))
    assert client.get("/api/vods", headers=basic("dee", PASSWORD)).status_code == 401
    refused = [r for r in caplog.records if "line refused" in r.getMessage()]
    assert len(refused) == 1 and refused[0].context["line"] == 5  # type: ignore[attr-defined]
    logged = " ".join(f"{r.getMessage()} {getattr(r, 'context', '')}" for r in caplog.records)
    assert "$apr1$" not in logged and "$2y$" not in logged


def test_every_request_but_the_probes_needs_sign_in_loopback_included(
    viewer: Viewer, htpasswd: Path, archive: Archive
) -> None:
    client = viewer(WEB_AUTH=str(htpasswd))  # from 127.0.0.1: a reverse proxy on this host is loopback too
    for url in ("/api/vods", f"/api/vods/{archive.played.id}", "/api/search?q=x", "/media/1", "/", "/static/x.css"):
        answer = client.get(url)
        assert answer.status_code == 401, url
        if answer.mimetype == "application/json":
            assert problems(url, "get", 401, answer.get_json()) == []
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert client.get(probe).status_code == 200


def test_every_json_401_of_the_document_is_what_the_api_answers(viewer: Viewer, htpasswd: Path) -> None:
    client = viewer(WEB_AUTH=str(htpasswd))
    for template, method, status in json_responses():
        if status == "401" and method == "get":
            url = template.replace("{id}", "1")
            assert problems(url, "get", 401, client.get(url).get_json()) == []


def test_a_bearer_token_signs_in_compared_whole(viewer: Viewer) -> None:
    client = viewer(remote="203.0.113.9", WEB_AUTH="token", WEB_TOKEN=TOKEN)
    assert client.get("/api/vods", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    for wrong in (TOKEN[:-1], TOKEN + "x", ""):
        assert client.get("/api/vods", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    assert client.get("/api/vods", headers=basic("token", TOKEN)).status_code == 401


@pytest.mark.parametrize(
    "header", ["Basic !!!notbase64", "Basic " + base64.b64encode(b"\xff\xfe").decode(), "Digest x"]
)
def test_a_malformed_authorization_is_one_401(viewer: Viewer, htpasswd: Path, header: str) -> None:
    answer = viewer(WEB_AUTH=str(htpasswd)).get("/api/vods", headers={"Authorization": header})
    assert answer.status_code == 401 and list(answer.get_json()) == ["error"]


def test_without_web_auth_only_loopback_peers_are_served(viewer: Viewer) -> None:
    assert viewer(remote="127.0.0.1").get("/api/vods").status_code == 200
    assert viewer(remote="::1").get("/api/vods").status_code == 200
    refused = viewer(remote="203.0.113.9").get("/api/vods")
    assert refused.status_code == 401 and "WEB_AUTH" in refused.get_json()["error"]
    assert viewer(remote="203.0.113.9").get("/healthz").status_code == 200


# -- operator actions ----------------------------------------------------------------------------
def csrf_of(client: FlaskClient, vod_id: int, headers: dict[str, str]) -> str:
    page = client.get(f"/vods/{vod_id}", headers=headers).get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page)
    assert found, "no CSRF token on the page of a signed-in user"
    return found.group(1)


def test_an_action_needs_the_csrf_token_and_then_changes_the_vod(
    viewer: Viewer, htpasswd: Path, archive: Archive
) -> None:
    client, ada = viewer(WEB_AUTH=str(htpasswd)), basic("ada", PASSWORD)
    vod = archive.hostile
    url = f"/vods/{vod.id}/actions/priority"
    assert client.post(url, data={"priority": "7"}, headers=ada).status_code == 403
    assert client.post(url, data={"priority": "7", "csrf_token": "0" * 64}, headers=ada).status_code == 403
    assert Vod.get_by_id(vod.id).priority == 0
    token = csrf_of(client, vod.id, ada)
    done = client.post(url, data={"priority": "7", "csrf_token": token}, headers=ada)
    assert done.status_code == 303 and done.headers["Location"].startswith(f"/vods/{vod.id}?done=")
    assert Vod.get_by_id(vod.id).priority == 7
    assert client.post(url, data={"priority": "x", "csrf_token": token}, headers=ada).status_code == 400
    assert csrf_of(client, vod.id, basic("bob", PASSWORD)) != token  # a token is its user's


@pytest.mark.parametrize(
    "browser",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
    ids=["origin", "fetch-site", "hidden-origin"],
)
def test_an_action_from_another_site_is_refused_even_with_the_token(
    viewer: Viewer, htpasswd: Path, archive: Archive, browser: dict[str, str]
) -> None:
    client, ada = viewer(WEB_AUTH=str(htpasswd)), basic("ada", PASSWORD)
    token = csrf_of(client, archive.hostile.id, ada)
    url = f"/vods/{archive.hostile.id}/actions/cancel"
    assert client.post(url, data={"csrf_token": token}, headers={**ada, **browser}).status_code == 403
    same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    hidden = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # a proxy's no-referrer, as Chromium then posts
    assert client.post(url, data={"csrf_token": token}, headers={**ada, **hidden}).status_code == 303
    assert client.post(url, data={"csrf_token": token}, headers={**ada, **same}).status_code == 303
    assert Vod.get_by_id(archive.hostile.id).cancel_requested or Vod.get_by_id(archive.hostile.id).processing_error


def test_reprocess_says_what_it_did_or_why_not(viewer: Viewer, htpasswd: Path, archive: Archive) -> None:
    client, ada = viewer(WEB_AUTH=str(htpasswd)), basic("ada", PASSWORD)
    token = csrf_of(client, archive.played.id, ada)
    done = client.post(f"/vods/{archive.played.id}/actions/reprocess", data={"csrf_token": token}, headers=ada)
    assert done.status_code == 303 and "done=" in done.headers["Location"]
    assert Vod.get_by_id(archive.played.id).processed == 0  # on YouTube: downloaded and verified again


def test_without_web_auth_actions_are_refused_and_say_why(viewer: Viewer, archive: Archive) -> None:
    client = viewer()
    page = client.get(f"/vods/{archive.hostile.id}").get_data(as_text=True)
    assert '<meta name="csrf-token" content="">' in page
    refused = client.post(f"/vods/{archive.hostile.id}/actions/cancel", data={"csrf_token": "x"})
    assert refused.status_code == 403 and "WEB_AUTH" in refused.get_data(as_text=True)
    assert client.get(f"/vods/{archive.hostile.id}/actions/cancel").status_code == 405
    assert Vod.get_by_id(archive.hostile.id).cancel_requested == 0


def test_web_passwd_writes_a_line_the_viewer_signs_in_with(
    viewer: Viewer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("# kept\nbob:scrypt:stale\n")
    htpasswd.chmod(0o640)
    for password in ("first password", PASSWORD):
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        assert main(["web-passwd", "ada", str(htpasswd), "--stdin"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"added ada in {htpasswd}",
        f"changed the password of ada in {htpasswd}",
    ]
    lines = htpasswd.read_text().splitlines()
    assert lines[:2] == ["# kept", "bob:scrypt:stale"] and len(lines) == 3 and lines[2].startswith("ada:scrypt:")
    assert htpasswd.stat().st_mode & 0o777 == 0o640  # an existing file keeps its mode (and owner)
    client = viewer(WEB_AUTH=str(htpasswd))
    assert client.get("/api/vods", headers=basic("ada", PASSWORD)).status_code == 200
    assert client.get("/api/vods", headers=basic("ada", "first password")).status_code == 401
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    assert main(["web-passwd", "no:colon", str(tmp_path / "new"), "--stdin"]) == 2
    assert main(["web-passwd", "cy", str(tmp_path / "new"), "--stdin"]) == 0
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o600
