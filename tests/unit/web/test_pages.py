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


def rows_of(page: str) -> list[int]:
    return [int(vod_id) for vod_id in re.findall(r'<tr data-vod-id="(\d+)">', page)]


def test_the_archive_is_a_whole_page_without_javascript(viewer: Viewer, archive: Archive) -> None:
    client = viewer()
    page = client.get("/").get_data(as_text=True)
    newest_first = sorted(archive.vods, key=lambda v: (v.date, v.id), reverse=True)
    assert rows_of(page) == [v.id for v in newest_first] and "<script" not in page
    assert f"1\N{EN DASH}{len(newest_first)} of {len(newest_first)} VODs" in page
    hostile = re.search(rf'<tr data-vod-id="{archive.hostile.id}">(.*?)</tr>', page, re.S)
    assert hostile and 'aria-valuetext="25 %"' in hostile.group(1)  # 250 of 1000 bytes
    assert '<td class="num">1h</td>' in hostile.group(1)  # 3600 s, as `vodtender vods` shows it
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in hostile.group(1)

    charlie = client.get("/?channel=charlie&state=failed").get_data(as_text=True)
    assert rows_of(charlie) == [v.id for v in archive.others if v.title == "Failed download"]
    assert rows_of(client.get("/?q=chill+STREAM").get_data(as_text=True)) == [archive.others[0].id]

    # pages of two, the filters kept in the links
    first = client.get("/?channel=alpha&limit=2").get_data(as_text=True)
    older = re.search(r'<a href="(/\?[^"]*)">Older</a>', first)
    assert older and "channel=alpha" in older.group(1) and "Newer" not in first
    second = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    alpha = [v.id for v in newest_first if v.channel == "alpha"]
    assert rows_of(first) + rows_of(second) == alpha[:4] and ">Newer</a>" in second


def test_a_bad_filter_is_one_line_on_the_archive_page(viewer: Viewer, archive: Archive) -> None:
    answer = viewer().get("/?since=yesterday")
    assert answer.status_code == 400 and answer.mimetype == "text/html"
    assert "since: not a date &#39;yesterday&#39; (use YYYY-MM-DD)" in answer.get_data(as_text=True)
