"""After the bytes: YouTube's processing followed to its end, and the private lock of an unaudited project.

One uploader process runs every case (the cases are the parameters of the tests that read its
results): videos YouTube processes, rejects (each class of reason) or fails, one it never finishes,
all on an unaudited API project that locks processed videos private.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import DaemonProcess, run_cli, wait_until
from tests.integration.uploader.conftest import MIB, downloaded_vod, metric, store_tokens, uploader_env
from tests.standins.youtube import Processing, YouTubeStandIn
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import Upload, Vod, VodEvent

# twitch id -> how YouTube's processing goes; uploaded in this order (priority), scripted in this order
CASES = {
    "4001": Processing(checks=2),  # two answers "processing", then processed
    "4002": Processing(outcome="rejected", reason="duplicate"),
    "4003": Processing(outcome="rejected", reason="length"),
    "4004": Processing(outcome="rejected", reason="copyright"),
    "4005": Processing(outcome="failed", reason="codec"),
    "4006": Processing(checks=100),  # never ends: the checks run out
    "4007": Processing(),  # processed at the first check
}
MAX_CHECKS = 4


@dataclasses.dataclass
class Run:
    vods: dict[str, Vod]
    uploads: dict[str, Upload]
    events: dict[str, list[tuple[str, str, str | None]]]
    log: str
    metrics: dict[str, float | None]
    status: str
    status_json: dict


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("processing")
    (workdir / "etc").mkdir()
    db_path = workdir / "vodtender.db"
    database = open_database(str(db_path))
    migrate(database)
    with YouTubeStandIn(client_id="unaudited-client-id") as youtube:
        for index, (twitch_id, script) in enumerate(CASES.items()):
            downloaded_vod(workdir, MIB, twitch_id=twitch_id, priority=100 - index)
            youtube.script_processing(script)
        store_tokens(youtube)
        env = uploader_env(
            workdir,
            db_path,
            youtube,
            UPLOAD_PRIVACY="unlisted",
            UPLOAD_PROCESSING_MAX_CHECKS=str(MAX_CHECKS),
            UPLOAD_QUOTA_DAILY="100000",
        )
        with DaemonProcess("uploader", workdir, env=env) as uploader:

            def ended() -> bool:
                return not Vod.select().where((Vod.processed == 0) & Vod.processing_error.is_null()).exists()

            try:
                wait_until(ended, 60, 0.1, what="every VOD's processing to end")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{uploader.log()[-4000:]}") from None
            names = (
                "vodtender_youtube_private_locked",
                *(
                    f'vodtender_youtube_processing_total{{outcome="{o}"}}'
                    for o in ("processed", "rejected", "failed", "gave_up")
                ),
            )
            metrics = {name: metric(uploader, name) for name in names}
            log = uploader.log()
        status = run_cli(workdir, "status", "--color", "never", env=env).stdout
        status_json = json.loads(run_cli(workdir, "status", "--json", env=env).stdout)
    vods = {v.twitch_vod_id: v for v in Vod.select()}
    yield Run(
        vods,
        {v.twitch_vod_id: Upload.get(Upload.vod == v.id) for v in vods.values()},
        {
            v.twitch_vod_id: [
                (e.kind, e.message, e.error_class)
                for e in VodEvent.select().where(VodEvent.vod == v.id).order_by(VodEvent.id)
            ]
            for v in vods.values()
        },
        log,
        metrics,
        status,
        status_json,
    )
    database.close()


@pytest.mark.parametrize("twitch_id", ["4001", "4007"])
def test_a_processed_video_publishes_the_vod(run: Run, twitch_id: str) -> None:
    vod, upload = run.vods[twitch_id], run.uploads[twitch_id]
    assert (vod.processed, vod.upload_state, vod.processing_error) == (1, "done", None)
    assert vod.youtube_url == f"https://www.youtube.com/watch?v={upload.video_id}"
    assert (upload.state, upload.part, upload.parts, upload.privacy) == ("processed", 1, 1, "private")
    assert upload.polls == CASES[twitch_id].checks + 1
    kinds = [kind for kind, _, _ in run.events[twitch_id]]
    assert kinds == ["uploaded", "done"]  # bytes in, then published


@pytest.mark.parametrize(
    ("twitch_id", "words"),
    [
        (
            "4002",
            "duplicate): YouTube rejected it as a duplicate of a video already on the channel; YouTube does "
            "not say which video it duplicates",
        ),
        ("4003", "length): YouTube rejected it as too long"),
        ("4004", "copyright): YouTube rejected it for copyright infringement"),
        ("4005", "codec): YouTube could not process it: a codec it does not support"),
        ("4006", f"still processing after {MAX_CHECKS} checks (UPLOAD_PROCESSING_MAX_CHECKS)"),
    ],
)
def test_a_rejected_or_failed_video_fails_the_vod_with_youtubes_reason(run: Run, twitch_id: str, words: str) -> None:
    vod, upload = run.vods[twitch_id], run.uploads[twitch_id]
    assert vod.processed == 0 and vod.youtube_url is None and vod.error_class == "fatal"
    assert vod.processing_error.startswith(f"youtube processing: video {upload.video_id} ")
    assert words in vod.processing_error
    assert Path(vod.downloaded_path).exists()  # kept for a new upload
    state = "failed" if twitch_id in ("4005", "4006") else "rejected"
    assert upload.state == state and upload.reason == (CASES[twitch_id].reason or "still processing")
    assert run.events[twitch_id][-1][0::2] == ("error", "fatal") and words in run.events[twitch_id][-1][1]
    assert f"YouTube did not publish the video, VOD marked failed vod_id={twitch_id}" in run.log


def test_processing_outcomes_are_counted(run: Run) -> None:
    counted = {name.split('"')[1]: value for name, value in run.metrics.items() if "outcome" in name}
    assert counted == {"processed": 2, "rejected": 3, "failed": 1, "gave_up": 1}


def test_an_unaudited_project_warns_once_and_shows_the_lock(run: Run) -> None:
    assert run.log.count("this API project is not audited") == 1  # two processed videos, one warning
    assert "<4>uploader: YouTube locked an upload to private although UPLOAD_PRIVACY=unlisted" in run.log
    assert run.metrics["vodtender_youtube_private_locked"] == 1
    assert "uploads locked private: video" in run.status
    assert run.status_json["youtube"]["private_locked"].endswith("asked unlisted, YouTube made it private")
