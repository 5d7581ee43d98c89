"""`--format ass` burned into a video by the real ffmpeg (libass): the chat column shows, nothing else changes."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from vodtender.ops.chat_export import export_ass
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatMessage, Vod

WIDTH, HEIGHT, FPS = 320, 180, 5
START = dt.datetime(2026, 3, 1, 12, 0, 0)


def frames(workdir: Path, *filters: str) -> list[bytes]:
    """Three seconds of a black test video, as raw RGB frames, with the given filters applied."""
    command = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"color=c=black:s={WIDTH}x{HEIGHT}:r={FPS}:d=3",
    ]
    command += [*filters, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    done = subprocess.run(command, cwd=workdir, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr.decode()
    size = WIDTH * HEIGHT * 3
    return [done.stdout[i : i + size] for i in range(0, len(done.stdout), size)]


def changed_columns(a: bytes, b: bytes) -> set[int]:
    return {(i // 3) % WIDTH for i in range(len(a)) if a[i] != b[i]}


def test_ass_overlay_burns_into_the_chat_column_only(tmp_path: Path, db_path: Path) -> None:
    migrate(open_database(str(db_path)))  # the overlay does not depend on the database kind: SQLite only
    vod = Vod.create(twitch_vod_id="v", channel="chan", date=START, duration_seconds=60, video_resolution="320x180")
    start = 1772366400.0
    ChatMessage.create(
        msg_id="m", channel="chan", vod_id="v", abs_timestamp=start + 1, rel_timestamp=1.0,
        username="alice", display_name="Alice", color="#FF4500", message="hello {\\b1} chat \\N",
    )  # fmt: skip
    (tmp_path / "chat.ass").write_text("\n".join(export_ass(vod)) + "\n", encoding="utf-8")
    plain, burned = frames(tmp_path), frames(tmp_path, "-vf", "ass=filename=chat.ass")
    assert len(plain) == len(burned) == 3 * FPS
    before, during = 2, 7  # 0.4 s: before the message; 1.4 s: on screen
    assert burned[before] == plain[before]
    columns = changed_columns(plain[during], burned[during])
    assert columns and min(columns) >= WIDTH * 7 // 10  # drawn in the column on the right, nowhere else
