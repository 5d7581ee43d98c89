"""/media/<id>: the VOD's file with HTTP Range, only from inside DATA_DIR."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.helpers.web_archive import Archive
from tests.helpers.web_openapi import problems
from tests.unit.web.conftest import MEDIA_BYTES, Viewer
from vodtender.runtime.models import Recording, Vod

pytestmark = pytest.mark.parametrize("db_dsn", ["sqlite"], indirect=True)  # files, not queries
SIZE = len(MEDIA_BYTES)


def test_ranges_answer_206_with_their_content_range(viewer: Viewer, archive: Archive) -> None:
    client, url = viewer(), f"/media/{archive.played.id}"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.data == MEDIA_BYTES and whole.mimetype == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    first = client.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.data == MEDIA_BYTES[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{SIZE}"
    suffix = client.get(url, headers={"Range": "bytes=-100"})
    assert suffix.status_code == 206 and suffix.data == MEDIA_BYTES[-100:]
    assert suffix.headers["Content-Range"] == f"bytes {SIZE - 100}-{SIZE - 1}/{SIZE}"
    beyond = client.get(url, headers={"Range": f"bytes={SIZE + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{SIZE}"
    assert problems(url, "get", 416, beyond.get_json()) == []


def test_a_file_outside_the_data_dir_is_a_404_and_one_log_line(
    viewer: Viewer, archive: Archive, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"not for the web")
    (tmp_path / "data" / "alpha" / "link.mp4").symlink_to(outside)
    client = viewer()
    for path in (outside, tmp_path / "data" / "alpha" / "link.mp4", tmp_path / "data" / ".." / "secret.mp4"):
        Vod.update(downloaded_path=str(path)).where(Vod.id == archive.played.id).execute()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="vodtender.web"):
            answer = client.get(f"/media/{archive.played.id}")
        assert answer.status_code == 404 and b"not for the web" not in answer.data
        assert [r.getMessage() for r in caplog.records] == ["media file outside DATA_DIR not served"]


def test_a_growing_live_recording_plays_as_mpeg_ts(viewer: Viewer, archive: Archive) -> None:
    assert archive.live is not None and archive.recording is not None
    answer = viewer().get(f"/media/{archive.live.id}", headers={"Range": "bytes=0-3"})
    assert answer.status_code == 206 and answer.mimetype == "video/mp2t" and answer.data[:1] == b"\x47"
    Recording.update(part_path=None).execute()
    assert viewer().get(f"/media/{archive.live.id}").status_code == 404
