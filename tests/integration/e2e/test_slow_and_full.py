"""A slow VOD server and a DATA_DIR that fills up mid-download: the attempt fails as `disk full`, then the
downloader claims nothing and says why (DATA_DIR's check, without opening the breaker); once space is freed
the VOD is archived without anybody touching vodtender.

DATA_DIR is a small tmpfs mounted by the test (root is needed to mount one; the test says so
and is skipped otherwise, it never passes without having run).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.checks import archived_vod_problems
from tests.e2e.harness import VOD_SEGMENTS, FakeTwitch, vod_row, wait_archived
from tests.helpers.processes import wait_until
from vodtender.runtime.models import KV

DATA_DIR_SIZE = "12m"
SEGMENTS = 20  # 20 x 10 s at 160x90: about 5 MB
SEGMENT_RATE = 40_000  # bytes/s per connection: the download takes ~20 s


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:  # e.g. a container without CAP_SYS_ADMIN
        pytest.skip(f"cannot mount a small tmpfs as DATA_DIR here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Take every free byte of the file system (as another program filling the disk would)."""
    filler = folder / "filler.bin"
    block = b"\0" * (1 << 16)
    with open(filler, "wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(block)
            out.flush()
    return filler


def downloading(twitch_vod_id: str) -> bool:
    row = vod_row(twitch_vod_id)
    return row is not None and row.download_bytes > 0


def circuit_state() -> str | None:
    row = KV.get_or_none(KV.key == "circuit_state")
    return row.value if row else None


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs as DATA_DIR needs root")
def test_data_dir_fills_mid_download_downloader_waits_then_recovers_by_itself(
    world: FakeTwitch, make_stack, tmp_path: Path
) -> None:
    alice = world.add_channel("alice")
    world.twitch.add_rule(VOD_SEGMENTS, rate=SEGMENT_RATE)
    with small_tmpfs(tmp_path / "small-disk", DATA_DIR_SIZE) as data_dir:
        stack = make_stack(
            data_dir=data_dir / "data", CHAT_AUTO_START="0", CIRCUIT_FAILURE_THRESHOLD="2", CIRCUIT_OPEN_COOLDOWN="3s"
        )
        stack.start_all(("poller", "downloader", "uploader"))
        stream = world.plan_stream(alice, live_for=SEGMENTS * 10 - 20, segments=SEGMENTS)
        world.publish_vod(stream)  # found by the catalog backfill: a VOD of a stream vodtender did not see live
        with stack.database():
            wait_until(
                lambda: downloading(stream.vod_id), timeout=120, interval=0.2, what="the download to be under way"
            )
            filler = fill(data_dir)
            downloader = stack.processes["downloader"]
            failed = downloader.wait_for_log(r"download failed .*", timeout=120)
            idle = downloader.wait_for_log(r"cannot work: nothing is claimed until this is fixed.*", timeout=60)
            assert circuit_state() in (None, "closed")
            mid = vod_row(stream.vod_id)
            assert mid.processed == 0 and mid.download_state != "downloaded", "marked downloaded on a full disk"
            filler.unlink()
            freed_at = time.monotonic()
            wait_archived([stream], timeout=180)
            recovered_in = time.monotonic() - freed_at
            problems = archived_vod_problems(
                vod_row(stream.vod_id), stream.vod_id, world.served(stream), world.uploads_of(stream)
            )
            final_circuit = circuit_state()
        stack.stop_all()
    print(f"slow and full: {failed.group(0)!r}, then {idle.group(0)!r}; archived {recovered_in:.0f}s after space freed")
    assert "disk full" in failed.group(0) or "No space" in failed.group(0), failed.group(0)
    assert "DATA_DIR" in idle.group(0), idle.group(0)
    assert final_circuit in (None, "closed")
    assert not problems, "\n".join(problems)
    assert not stack.forbidden_log_lines()
