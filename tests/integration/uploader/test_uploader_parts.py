"""A VOD longer than YouTube takes, uploaded by the uploader process as parts (stream copies of it)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import socket
import subprocess
from pathlib import Path

import peewee
import pytest

from tests.helpers.processes import DaemonProcess, run_cli, wait_until
from tests.integration.uploader.conftest import fresh, kill_while_held, store_tokens, uploader_env, wait_done
from tests.standins.youtube import Fault, YouTubeStandIn, check_metadata
from vodtender.pipeline.upload.parts import cut, file_duration
from vodtender.runtime.models import Upload, Vod

HOUR = 3600


def make_media(path: Path, seconds: int, rate: str, size: str, source: str, keyframes: int) -> Path:
    """A small H.264 file: long and sparse (a frame every few seconds) or short and busier;
    `source` is a lavfi source with its options begun (`color=c=black:`)."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", f"{source}s={size}:r={rate}", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-g", str(keyframes), "-bf", "0", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def thirteen_hours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """13 hours of black at a frame per 10 s: 76 kB, made in about a second."""
    return make_media(tmp_path_factory.mktemp("media") / "13h.mp4", 13 * HOUR, "0.1", "32x32", "color=c=black:", 6)


@pytest.fixture(scope="session")
def one_minute(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minute of test pattern, about 550 kB: parts of two 256 KiB chunks each."""
    return make_media(tmp_path_factory.mktemp("media") / "1m.mp4", 60, "5", "160x120", "testsrc=", 10)


def long_vod(workdir: Path, media: Path, seconds: float, **fields: object) -> Vod:
    path = workdir / "data" / "1001.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(media, path)
    return Vod.create(
        twitch_vod_id="1001",
        channel="somechannel",
        title="Subathon day 3",
        date=dt.datetime(2026, 3, 1, 18, 5),
        duration_seconds=seconds,
        download_state="downloaded",
        downloaded_path=str(path),
        download_host=socket.gethostname(),
        download_bytes=path.stat().st_size,
        download_total=path.stat().st_size,
        **fields,
    )


def expected_parts(media: Path, tmp: Path, parts: int) -> list[str]:
    """The sha256 of each part, from a stream copy of a copy (the cut is deterministic)."""
    copy = tmp / "expected" / media.name
    copy.parent.mkdir()
    shutil.copyfile(media, copy)
    return [hashlib.sha256(Path(part.path).read_bytes()).hexdigest() for part in cut(str(copy), parts)]


def test_a_13_hour_vod_is_uploaded_as_two_numbered_parts_that_add_up(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn, thirteen_hours: Path
) -> None:
    chapters = json.dumps([{"offset": 0, "game": "Celeste"}, {"offset": 3 * HOUR, "game": "Tetris"},
                           {"offset": 9 * HOUR, "game": "Doom"}, {"offset": 10 * HOUR, "game": "Quake"}])  # fmt: skip
    vod = long_vod(workdir, thirteen_hours, 13 * HOUR, chapters=chapters)
    store_tokens(youtube)
    env = uploader_env(workdir, db_path, youtube, UPLOAD_PLAYLIST="PL123")
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        row = wait_done(vod, uploader)
        wait_until(lambda: len(youtube.playlist_items) == 2, 10, what="both parts in the playlist")
    first, second = youtube.videos
    parts = list(Upload.select().where(Upload.vod == vod.id).order_by(Upload.part))
    assert [v.size for v in youtube.videos] == [p.size for p in parts]  # the bytes of each cut, whole
    assert [(p.part, p.parts, p.state, p.video_id) for p in parts] == [
        (1, 2, "processed", first.id),
        (2, 2, "processed", second.id),
    ]
    assert abs(sum(p.duration_seconds for p in parts) - file_duration(thirteen_hours)) <= 1.0
    assert parts[1].start_seconds == parts[0].duration_seconds and all(p.duration_seconds < 12 * HOUR for p in parts)
    assert row.youtube_url == f"https://www.youtube.com/watch?v={first.id}"
    one, two = (v.metadata["snippet"] for v in youtube.videos)
    assert one["title"] == "somechannel 2026-03-01: Subathon day 3 (part 1/2)"
    assert two["title"] == "somechannel 2026-03-01: Subathon day 3 (part 2/2)"
    assert "Part 2 follows" in one["description"] and "Chapters:\n0:00 Celeste\n3:00:00 Tetris" in one["description"]
    assert f"Part 1: https://www.youtube.com/watch?v={first.id}" in two["description"]
    assert "Chapters:\n0:00 Tetris\n2:30:00 Doom\n3:30:00 Quake" in two["description"]  # shifted by 6:30:00
    assert "Celeste" not in two["description"]
    assert all(check_metadata(v.metadata) is None for v in youtube.videos)
    assert [item["snippet"]["resourceId"]["videoId"] for item in youtube.playlist_items] == [first.id, second.id]
    assert not Path(vod.downloaded_path + ".parts").exists() and Path(vod.downloaded_path).exists()
    shown = run_cli(workdir, "show", "1001", "--color", "never", env=env).stdout
    assert f"round 1 part 2/2  processed  https://www.youtube.com/watch?v={second.id}" in shown
    listed = json.loads(run_cli(workdir, "show", "1001", "--json", env=env).stdout)["uploads"]
    assert [(u["part"], u["video_id"], u["size"]) for u in listed] == [(p.part, p.video_id, p.size) for p in parts]


def test_sigkill_in_part_2_resumes_part_2_and_never_sends_part_1_again(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn, one_minute: Path, tmp_path: Path
) -> None:
    vod = long_vod(workdir, one_minute, 60)
    store_tokens(youtube)
    youtube.add_fault(Fault(on="put", kind="hold", at_offset=270_000, session=2))
    env = uploader_env(workdir, db_path, youtube, UPLOAD_MAX_PART="30s", UPLOAD_CHUNK_SIZE="256K")

    def part_2_confirmed_up_to_its_last_chunk() -> None:
        part2 = Upload.get((Upload.vod == vod.id) & (Upload.part == 2))
        assert part2.state == "uploading" and part2.session_uri and part2.offset == 256 * 1024

    kill_while_held(workdir, env, youtube, "part 2 to reach 270 kB", 20, part_2_confirmed_up_to_its_last_chunk)
    with DaemonProcess("uploader", workdir, env=env) as second:
        wait_done(vod, second)
        second.wait_for_log(r"upload started from the stored session at 262144 bytes")
    assert youtube.count("POST", "post") == 2  # one session per part, none started again
    one, two = youtube.sessions.values()
    assert one.bytes_in == one.total, "part 1 was sent again"
    assert two.bytes_in - two.total < 256 * 1024, "more than one chunk of part 2 was sent twice"
    assert [v.sha256 for v in youtube.videos] == expected_parts(one_minute, tmp_path, 2)
    assert fresh(vod).youtube_url == f"https://www.youtube.com/watch?v={youtube.videos[0].id}"
