"""The JSON API answers with the archive's real rows, in the shapes its OpenAPI document gives (errors too)."""

from __future__ import annotations

from tests.helpers.web_archive import DELETED_AT, EMOJI, GAP, HOSTILE_TITLE, RTL, SCRIPT, TIMEOUT_AT, Archive
from tests.helpers.web_openapi import (
    document,
    embedded_status,
    json_responses,
    problems,
    recording_schema,
    template_of,
)
from tests.unit.web.conftest import Viewer

# Every JSON answer the document lists, as (url, status): {played}, {hostile}, {live} are the fixture VODs' ids.
CASES = [
    ("/api/vods", 200),
    ("/api/vods?channel=alpha&state=done&since=2026-03-01&until=2026-03-01&q=speedrun&limit=5&offset=0", 200),
    ("/api/vods?state=nonsense", 400),
    ("/api/vods?since=yesterday", 400),
    ("/api/vods?limit=501", 400),
    ("/api/vods/{played}", 200),
    ("/api/vods/{hostile}", 200),
    ("/api/vods/{live}", 200),
    ("/api/vods/999999", 404),
    ("/api/vods/{played}/chat?from=115&to=125", 200),
    ("/api/vods/{hostile}/chat", 200),
    ("/api/vods/{played}/chat?from=10&to=5", 400),
    ("/api/vods/{played}/chat?from=nan", 400),
    ("/api/vods/{played}/chat?limit=2001", 400),
    ("/api/vods/999999/chat", 404),
    ("/api/search?q=deleted", 200),
    ("/api/search?q=message&vod={played_twitch}&channel=alpha&user=user1&since=2026-01-01&limit=3", 200),
    ("/api/search?q=%22*%22", 400),
    ("/api/search?q=x&vod=no-such-vod", 404),
    ("/api/status", 200),
    ("/api/recordings", 200),
    ("/api/openapi.json", 200),
    ("/media/999999", 404),
    ("/media/{hostile}", 404),
]


def url_of(case: str, archive: Archive) -> str:
    assert archive.live is not None
    ids = {"played": archive.played.id, "hostile": archive.hostile.id, "live": archive.live.id}
    return case.format(**ids, played_twitch=archive.played.twitch_vod_id)


def test_every_answer_matches_the_openapi_document(viewer: Viewer, archive: Archive) -> None:
    """One archive for all the cases (a database each costs more than the requests)."""
    client, wrong = viewer(), []
    for case, status in CASES:
        url = url_of(case, archive)
        answer = client.get(url)
        if answer.status_code != status or answer.mimetype != "application/json":
            wrong.append(f"{url}: {answer.status_code} {answer.mimetype} {answer.get_data(as_text=True)[:200]}")
        else:
            wrong += [f"{url}: {problem}" for problem in problems(url, "get", status, answer.get_json())]
    assert wrong == []


def test_the_cases_cover_every_json_answer_of_the_document() -> None:
    covered = {(template_of(url), "get", str(status)) for url, status in CASES}
    covered |= {(path, "get", "401") for path, method, _ in json_responses() if method == "get"}  # test_auth.py
    covered.add(("/media/{id}", "get", "416"))  # test_media.py
    assert set(json_responses()) <= covered, sorted(set(json_responses()) - covered)


def test_the_document_embeds_the_status_schema_as_shipped() -> None:
    schemas = document()["components"]["schemas"]
    fix = "the status schema changed: run `python -m tests.helpers.web_openapi`"
    assert schemas["Status"] == embedded_status(), fix
    assert schemas["Recording"] == recording_schema(embedded_status()), fix


def test_the_served_document_is_the_package_file(viewer: Viewer) -> None:
    assert viewer().get("/api/openapi.json").get_json() == document()


def test_the_list_is_newest_first_and_filters_by_channel_state_date_and_title(viewer: Viewer, archive: Archive) -> None:
    client = viewer()
    listed = client.get("/api/vods").get_json()
    assert listed["total"] == len(archive.vods)
    dates = [v["date"] for v in listed["vods"]]
    assert dates == sorted(dates, reverse=True)
    by_id = {v["id"]: v for v in listed["vods"]}
    played = by_id[archive.played.id]
    assert played["state"] == "done" and played["has_media"] and played["progress"] == 1.0
    assert played["gaps"] == [{"offset": 90.0, "duration": 4.0}]
    assert played["muted_segments"] == [{"offset": 60.0, "duration": 30.0}]
    assert by_id[archive.hostile.id]["progress"] == 0.25
    assert archive.live is not None and by_id[archive.live.id]["live"] and by_id[archive.live.id]["has_media"]

    def ids(query: str) -> list[int]:
        return [v["id"] for v in client.get(f"/api/vods?{query}").get_json()["vods"]]

    assert ids("channel=charlie") == [v.id for v in archive.others if v.channel == "charlie"]
    assert ids("state=failed") == [archive.others[1].id]
    assert ids("since=2026-03-01&until=2026-03-01") == [archive.played.id]
    assert ids("q=SPEEDRUN+night") == [archive.played.id]
    assert ids("limit=2&offset=1") == [v["id"] for v in listed["vods"][1:3]]


def test_the_chat_window_holds_the_moment_with_its_marks_in_vod_order(viewer: Viewer, archive: Archive) -> None:
    window = viewer().get(f"/api/vods/{archive.played.id}/chat?from=115&to=125").get_json()
    offsets = [m["offset"] for m in window["messages"]]
    assert offsets == sorted(offsets) and all(115 <= o < 125 for o in offsets)
    by_offset = {m["offset"]: m for m in window["messages"]}
    deleted = by_offset[DELETED_AT]
    assert deleted["deleted"] and deleted["marks"] == ["deleted"] and deleted["text"] == "this one was deleted"
    timeout = by_offset[TIMEOUT_AT]
    assert timeout["kind"] == "clearchat" and timeout["marks"] == ["timeout"] and timeout["ban_duration"] == 600
    assert window["gaps"] == [] and not window["truncated"]
    gap = viewer().get(f"/api/vods/{archive.played.id}/chat?from=140&to=170").get_json()
    assert gap["gaps"] == [{"offset": GAP[0], "duration": GAP[1] - GAP[0], "reason": "reconnect"}]
    assert all(not GAP[0] <= m["offset"] < GAP[1] for m in gap["messages"])


def test_a_full_window_is_cut_at_the_limit_and_says_so(viewer: Viewer, archive: Archive) -> None:
    window = viewer().get(f"/api/vods/{archive.played.id}/chat?from=0&to=180&limit=3").get_json()
    assert [m["offset"] for m in window["messages"]] == [1.0, 3.0, 5.0] and window["truncated"]


def test_hostile_titles_and_chat_come_back_as_the_same_data(viewer: Viewer, archive: Archive) -> None:
    client = viewer()
    assert client.get(f"/api/vods/{archive.hostile.id}").get_json()["title"] == HOSTILE_TITLE
    texts = [m["text"] for m in client.get(f"/api/vods/{archive.hostile.id}/chat").get_json()["messages"]]
    assert texts == [SCRIPT, RTL, EMOJI]


def test_search_hits_name_their_vod_page_and_offset(viewer: Viewer, archive: Archive) -> None:
    hits = viewer().get("/api/search?q=%22this+one+was+deleted%22").get_json()["hits"]
    assert [(h["vod_id"], h["offset"], h["marks"]) for h in hits] == [(archive.played.id, DELETED_AT, ["deleted"])]


def test_recordings_name_the_vod_page_of_their_stream(viewer: Viewer, archive: Archive) -> None:
    recordings = viewer().get("/api/recordings").get_json()["recordings"]
    assert archive.live is not None
    assert [(r["stream_id"], r["vod_id"]) for r in recordings] == [("stream-alpha-2", archive.live.id)]
