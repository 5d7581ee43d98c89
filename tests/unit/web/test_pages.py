"""The pages: hostile titles render as text, every answer carries the security headers, unknown VODs are a 404 page."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers.web_archive import HOSTILE_TITLE, RTL, SCRIPT, Archive
from tests.unit.web.conftest import Viewer
from vodtender.web.app import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.parametrize("db_dsn", ["sqlite"], indirect=True)  # the pages read what test_api.py checks


def test_a_hostile_title_renders_as_text(viewer: Viewer, archive: Archive) -> None:
    page = viewer().get(f"/vods/{archive.hostile.id}").get_data(as_text=True)
    assert "<script>window.pwned" not in page and "<img src=x" not in page  # no element made of the title
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page
    assert RTL in page  # as text: the override character itself, inside an element's text
    embedded = re.search(r'<script type="application/json" id="vod-data">(.*?)</script>', page, re.S)
    assert embedded and "<" not in embedded.group(1)  # |tojson escapes markup inside the data block
    assert json.loads(embedded.group(1))["title"] == HOSTILE_TITLE


URLS = ["/", "/status", "/live", "/vods/{played}", "/vods/9999", "/api/vods", "/healthz", "/media/{played}", "/no/such"]


def test_every_answer_carries_the_security_headers(viewer: Viewer, archive: Archive) -> None:
    client = viewer()
    for url in URLS:
        answer = client.get(url.format(played=archive.played.id))
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
        assert answer.headers["X-Content-Type-Options"] == "nosniff", url
        assert answer.headers["Referrer-Policy"] == "same-origin", url


def test_pages_list_the_archive_and_an_unknown_vod_is_a_404_page(viewer: Viewer, archive: Archive) -> None:
    client = viewer()
    home = client.get("/").get_data(as_text=True)
    assert all(channel in home for channel in ("alpha", "bravo", "charlie"))
    missing = client.get("/vods/999999")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "no VOD with id 999999" in missing.get_data(as_text=True)
    assert client.get("/no/such/page").status_code == 404
    assert SCRIPT not in client.get(f"/vods/{archive.hostile.id}").get_data(as_text=True)
