"""The downloader as a real process against the loopback HLS stand-in: complete, correct files."""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

from tests.helpers.processes import wait_until
from tests.integration.downloader.conftest import MUTED, SEGMENTS, Site
from tests.standins.hls import PLAYLIST, concatenated, segment_paths


def _data_paths(site: Site, vod_id: str) -> list[str]:
    """Server paths of the segments' data (a muted one in its muted form)."""
    return [f"{vod_id}/{p.name}" for p in segment_paths(site.source / PLAYLIST)]


def _metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def _ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout)["format"]["duration"])


def test_vod_downloads_to_a_playable_file_with_the_runbook_columns_filled(site: Site) -> None:
    site.add_vod("1001")
    with site.downloader() as daemon:
        row = site.wait_state("1001", ("downloaded",))
        status, metrics = daemon.http("/metrics")
    path = Path(row["downloaded_path"])
    assert path.is_absolute() and path.exists() and path.suffix == ".ts"
    assert "/" not in path.name and path.parent == site.data_dir.resolve() / "chan"
    assert path.read_bytes() == concatenated(site.source / PLAYLIST)
    assert abs(_ffprobe_duration(path) - SEGMENTS * 10) < 1.0
    size = path.stat().st_size
    assert (row["download_bytes"], row["download_total"]) == (size, size)
    assert row["download_host"] and row["progress_updated_at"] and row["lease_owner"] is None
    assert row["processed"] == 0 and row["processing_error"] is None
    assert [m["offset"] for m in json.loads(row["muted_segments"])] == [i * 10.0 for i in MUTED]
    assert all(site.server.counts[p] == 1 for p in _data_paths(site, "1001"))
    assert [e["kind"] for e in site.events("1001")] == ["done"]
    assert status == 200 and _metric(metrics, "vodtender_download_bytes_total") == size
    assert not list((site.data_dir / ".partial").glob("*"))


def test_drops_and_5xx_on_a_tenth_of_the_segments_still_give_a_correct_file(site: Site) -> None:
    site.add_vod("1002")
    rng = random.Random(4)
    faulty = rng.sample(range(SEGMENTS), SEGMENTS // 10 + 1)
    for index in faulty[::2]:
        site.server.add_rule(f"1002/{index}.ts", status=rng.choice([500, 502, 503]), times=2)
    for index in faulty[1::2]:
        site.server.add_rule(f"1002/{index}.ts", drop_after=5000, times=2)
    with site.downloader():
        row = site.wait_state("1002", ("downloaded",), timeout=90)
    assert Path(row["downloaded_path"]).read_bytes() == concatenated(site.source / PLAYLIST)
    assert all(site.server.counts[f"1002/{i}.ts"] == 3 for i in faulty)  # two failures, then the data
    assert row["download_retries"] == 0  # retried per fragment, within the one attempt


def test_sigkill_at_half_resumes_and_refetches_only_a_few_segments(site: Site) -> None:
    site.add_vod("1003")
    site.server.add_rule("1003/*.ts", rate=150_000)
    total = len(concatenated(site.source / PLAYLIST))
    concurrency = 3
    daemon = site.downloader(DOWNLOAD_FRAGMENT_CONCURRENCY=str(concurrency)).start()
    wait_until(lambda: site.vod("1003")["download_bytes"] >= total // 2, 90, 0.05, "half of the VOD on disk")
    daemon.kill()
    assert site.vod("1003")["download_state"] == "downloading"
    site.server.clear_rules()
    with site.downloader(DOWNLOAD_FRAGMENT_CONCURRENCY=str(concurrency)):
        row = site.wait_state("1003", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == concatenated(site.source / PLAYLIST)
    twice = [p for p in _data_paths(site, "1003") if site.server.counts[p] > 1]
    assert all(site.server.counts[p] <= 2 for p in _data_paths(site, "1003"))
    assert len(twice) <= 2 * concurrency  # at most the fragments in flight or waiting when it was killed


def test_sigkill_at_twenty_random_instants_always_ends_byte_identical(site: Site) -> None:
    site.add_vod("1004")
    site.server.add_rule("1004/*.ts", rate=200_000)  # a fragment takes ~1.3 s; two at a time
    rng = random.Random(20)
    for _ in range(20):
        daemon = site.downloader(DOWNLOAD_FRAGMENT_CONCURRENCY="2").start()
        assert daemon.proc is not None
        owner = f":{daemon.proc.pid}"
        wait_until(
            lambda owner=owner: (site.vod("1004")["lease_owner"] or "").endswith(owner),
            30,
            0.02,
            "this process's claim",
        )
        time.sleep(rng.uniform(0.0, 2.0))  # before, during and after fragment writes
        daemon.kill()
        assert site.vod("1004")["download_state"] == "downloading"  # every kill landed mid-download
    site.server.clear_rules()
    with site.downloader():
        row = site.wait_state("1004", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == concatenated(site.source / PLAYLIST)
    assert [e["kind"] for e in site.events("1004")] == ["done"]


def test_sigterm_checkpoints_releases_the_vod_and_a_restart_resumes(site: Site) -> None:
    site.add_vod("1005")
    site.server.add_rule("1005/*.ts", rate=150_000)
    daemon = site.downloader().start()
    wait_until(lambda: site.vod("1005")["download_bytes"] > 0, 60, 0.05, "download progress")
    assert daemon.stop(timeout=30) == 0
    row = site.vod("1005")
    assert row["lease_owner"] is None and row["download_state"] == "discovered" and row["processing_error"] is None
    assert (site.data_dir / ".partial" / "1005.part").stat().st_size > 0
    site.server.clear_rules()
    with site.downloader():
        row = site.wait_state("1005", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == concatenated(site.source / PLAYLIST)
    assert all(site.server.counts[p] <= 2 for p in _data_paths(site, "1005"))
