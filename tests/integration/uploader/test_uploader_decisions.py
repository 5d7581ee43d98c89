"""What the uploader (a process) does around a video: a re-upload only on the operator's decision
(`reprocess --reupload`, the runbook's SQL reset) and said once, the Twitch thumbnail set (a
refusal remembered), a scheduled publication."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import peewee
import pytest

from tests.helpers.processes import DaemonProcess, run_cli, wait_until
from tests.integration.uploader.conftest import (
    MIB,
    downloaded_vod,
    fresh,
    quota_used_today,
    store_tokens,
    uploader_env,
    wait_done,
)
from tests.standins.youtube import YouTubeStandIn, check_metadata
from vodtender.runtime.httpserver import HttpServer, QuietHandler
from vodtender.runtime.models import Vod, VodEvent

REUPLOAD_WARNING = "uploading again: this VOD already has a video at"


def event_kinds(vod: Vod) -> list[str]:
    return [e.kind for e in VodEvent.select().where(VodEvent.vod == vod.id).order_by(VodEvent.id)]


def test_reprocess_verifies_without_a_new_video_unless_reupload_is_given(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    vod = downloaded_vod(workdir, MIB, twitch_id="90000001")
    path = vod.downloaded_path
    store_tokens(youtube)
    env = uploader_env(workdir, db_path, youtube)
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        first_url = wait_done(vod, uploader).youtube_url

        verify = run_cli(workdir, "reprocess", "90000001", env=env)
        assert verify.returncode == 0, verify.stderr
        assert "queued for download (verify only; not uploaded again)" in verify.stdout
        assert f"stays on YouTube at {first_url}" in verify.stdout
        assert "reprocess --reupload 90000001 (1600 quota units)" in verify.stdout
        # The downloader's part: the file downloaded and verified again.
        Vod.update(download_state="downloaded", downloaded_path=path).where(Vod.id == vod.id).execute()
        row = wait_done(vod, uploader)
        assert row.youtube_url == first_url and event_kinds(vod)[-1] == "verified"
        assert len(youtube.videos) == 1

        again = run_cli(workdir, "reprocess", "--reupload", "90000001", env=env)
        assert again.returncode == 0, again.stderr
        assert "queued for upload" in again.stdout
        assert f"uploaded again as a new video (1600 quota units); {first_url} stays on YouTube" in again.stdout
        row = wait_done(vod, uploader)
        assert len(youtube.videos) == 2 and row.youtube_url != first_url
        assert uploader.log().count(REUPLOAD_WARNING) == 1
    assert event_kinds(vod).count("reupload") == 1


def test_runbook_sql_reset_uploads_a_new_video_and_warns_once(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    vod = downloaded_vod(workdir, MIB, twitch_id="90000001")
    store_tokens(youtube)
    with DaemonProcess("uploader", workdir, env=uploader_env(workdir, db_path, youtube)) as uploader:
        first_url = wait_done(vod, uploader).youtube_url
        db.execute_sql(
            "UPDATE vods SET processed=0, processing_error=NULL, youtube_url=NULL WHERE twitch_vod_id='90000001'"
        )
        wait_done(vod, uploader)
        assert len(youtube.videos) == 2
        assert uploader.log().count(REUPLOAD_WARNING) == 1
    (warning,) = VodEvent.select().where((VodEvent.vod == vod.id) & (VodEvent.kind == "reupload"))
    assert first_url in warning.message


class ThumbnailServer:
    """Twitch's image server, for one JPEG at any `…-<w>x<h>.jpg` path; records the paths asked."""

    def __init__(self, image: bytes):
        self.image = image
        self.paths: list[str] = []
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(server.image)))
                self.end_headers()
                self.wfile.write(server.image)

        self._server = HttpServer(("127.0.0.1", 0), Handler, name="thumbnails", quiet_errors=True)
        self.template = self._server.url + "/cf_vods/abc/thumb/custom-%{width}x%{height}.jpg"

    def __enter__(self) -> ThumbnailServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


@pytest.fixture(scope="module")
def jpeg(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("thumb") / "thumb.jpg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=1280x720", "-frames:v", "1", str(path)],
        check=True,
    )
    return path.read_bytes()


def test_thumbnail_is_set_and_a_refusal_is_not_retried(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn, jpeg: bytes
) -> None:
    store_tokens(youtube)
    with (
        ThumbnailServer(jpeg) as twitch,
        DaemonProcess("uploader", workdir, env=uploader_env(workdir, db_path, youtube)) as uploader,
    ):
        first = wait_done(downloaded_vod(workdir, MIB, twitch_id="1", thumbnail_url=twitch.template), uploader)
        video_id = first.youtube_url.rsplit("=", 1)[1]
        wait_until(lambda: video_id in youtube.thumbnails, 10, what="thumbnail set")
        assert youtube.thumbnails[video_id] == ("image/jpeg", jpeg)
        assert twitch.paths == ["/cf_vods/abc/thumb/custom-1280x720.jpg"]

        youtube.refuse_thumbnails = True
        wait_done(downloaded_vod(workdir, MIB, twitch_id="2", thumbnail_url=twitch.template), uploader)
        uploader.wait_for_log(r"YouTube refuses custom thumbnails for this channel")
        third = wait_done(downloaded_vod(workdir, MIB, twitch_id="3", thumbnail_url=twitch.template), uploader)
        # three uploads, two thumbnails (the third not tried), a unit per processing check
        wait_until(lambda: quota_used_today() == 3 * 1600 + 2 * 50 + youtube.list_calls, 10, what="quota units counted")
        assert youtube.thumbnail_calls == 2 and len(youtube.videos) == 3
        assert third.processing_error is None and fresh(third).upload_state == "done"
        assert uploader.log().count("YouTube refuses custom thumbnails") == 1


def test_publish_delay_uploads_private_with_publish_at(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    vod = downloaded_vod(workdir, MIB)
    store_tokens(youtube)
    env = uploader_env(workdir, db_path, youtube, UPLOAD_PRIVACY="public", UPLOAD_PUBLISH_DELAY="24h")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        wait_done(vod, uploader)
    after = dt.datetime.now(dt.UTC)
    (video,) = youtube.videos
    status = video.metadata["status"]
    assert status["privacyStatus"] == "private"
    publish_at = dt.datetime.fromisoformat(status["publishAt"].replace("Z", "+00:00"))
    assert before + dt.timedelta(hours=24) <= publish_at <= after + dt.timedelta(hours=24)


def test_the_standin_refuses_publish_at_as_youtube_does() -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    snippet = {"title": "t", "description": ""}
    assert check_metadata({"snippet": snippet, "status": {"privacyStatus": "private", "publishAt": future}}) is None
    assert check_metadata({"snippet": snippet, "status": {"privacyStatus": "public", "publishAt": future}}) == (
        "invalidPublishAt"
    )
    assert check_metadata({"snippet": snippet, "status": {"privacyStatus": "private", "publishAt": past}}) == (
        "invalidPublishAt"
    )
