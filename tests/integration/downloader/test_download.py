"""The downloader as a real process, through yt-dlp's real Twitch extractor against the Twitch stand-in:
complete, correct files, whatever the network and the operator do to it."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from tests.helpers.media import duration
from tests.helpers.processes import wait_until
from tests.integration.downloader.conftest import TS_VOD, TwitchSite


def _metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_vod_downloads_to_a_playable_file_with_the_runbook_columns_filled(twitch: TwitchSite) -> None:
    twitch.add_vod("1001", TS_VOD)
    with twitch.downloader() as daemon:
        row = twitch.wait_state("1001", ("downloaded",))
        status, metrics = daemon.http("/metrics")
    path = Path(row["downloaded_path"])
    assert path.is_absolute() and path.exists() and path.suffix == ".ts"
    assert "/" not in path.name and path.parent == twitch.data_dir.resolve() / "chan"
    assert path.read_bytes() == twitch.served("1001")
    assert abs(duration(path) - twitch.twitch.expected("1001", "1080p60").duration) < 1.0
    size = path.stat().st_size
    assert (row["download_bytes"], row["download_total"]) == (size, size)
    assert row["download_host"] and row["progress_updated_at"] and row["lease_owner"] is None
    assert row["processed"] == 0 and row["processing_error"] is None
    assert [m["offset"] for m in json.loads(row["muted_segments"])] == [i * 2.0 for i in TS_VOD.muted]
    assert twitch.segment_counts("1001") == [1] * TS_VOD.segments  # each segment fetched once, the muted one too
    assert [e["kind"] for e in twitch.events("1001")] == ["done"]
    assert status == 200 and _metric(metrics, "vodtender_download_bytes_total") == size
    assert not list((twitch.data_dir / ".partial").glob("*"))


def test_drops_and_5xx_on_a_tenth_of_the_segments_still_give_a_correct_file(twitch: TwitchSite) -> None:
    twitch.add_vod("1002", TS_VOD)
    paths = twitch.segment_paths("1002")
    rng = random.Random(4)
    faulty = rng.sample(range(TS_VOD.segments), TS_VOD.segments // 10 + 1)
    for index in faulty[::2]:
        twitch.twitch.add_rule(paths[index], status=rng.choice([500, 502, 503]), times=2)
    for index in faulty[1::2]:
        twitch.twitch.add_rule(paths[index], drop_after=5000, times=2)
    with twitch.downloader():
        row = twitch.wait_state("1002", ("downloaded",), timeout=90)
    assert Path(row["downloaded_path"]).read_bytes() == twitch.served("1002")
    counts = twitch.segment_counts("1002")
    assert [counts[i] for i in faulty] == [3] * len(faulty)  # two failures, then the data
    assert row["download_retries"] == 0  # retried per fragment, within the one attempt


def test_sigkill_at_half_resumes_and_refetches_only_a_few_segments(twitch: TwitchSite) -> None:
    twitch.add_vod("1003", TS_VOD)
    twitch.throttle("1003", seconds_per_segment=1.0)
    total = len(twitch.served("1003"))
    concurrency = 3
    daemon = twitch.downloader(DOWNLOAD_FRAGMENT_CONCURRENCY=str(concurrency)).start()
    wait_until(lambda: twitch.vod("1003")["download_bytes"] >= total // 2, 90, 0.05, "half of the VOD on disk")
    daemon.kill()
    assert twitch.vod("1003")["download_state"] == "downloading"
    twitch.twitch.clear_rules()
    with twitch.downloader(DOWNLOAD_FRAGMENT_CONCURRENCY=str(concurrency)):
        row = twitch.wait_state("1003", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == twitch.served("1003")
    counts = twitch.segment_counts("1003")
    assert max(counts) <= 2
    assert len([n for n in counts if n > 1]) <= 2 * concurrency  # at most the fragments in flight or waiting


def test_sigkill_at_twenty_random_instants_always_ends_byte_identical(twitch: TwitchSite) -> None:
    twitch.add_vod("1004", TS_VOD)
    twitch.throttle("1004", seconds_per_segment=1.2)  # two at a time: a kill before, during or after a write
    rng = random.Random(20)
    for _ in range(20):
        daemon = twitch.downloader(DOWNLOAD_FRAGMENT_CONCURRENCY="2").start()
        assert daemon.proc is not None
        owner = f":{daemon.proc.pid}"
        wait_until(
            lambda owner=owner: (twitch.vod("1004")["lease_owner"] or "").endswith(owner),
            30,
            0.02,
            "this process's claim",
        )
        time.sleep(rng.uniform(0.0, 2.0))  # before, during and after fragment writes
        daemon.kill()
        assert twitch.vod("1004")["download_state"] == "downloading"  # every kill landed mid-download
    twitch.twitch.clear_rules()
    with twitch.downloader():
        row = twitch.wait_state("1004", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == twitch.served("1004")
    assert [e["kind"] for e in twitch.events("1004")] == ["done"]


def test_sigterm_checkpoints_releases_the_vod_and_a_restart_resumes(twitch: TwitchSite) -> None:
    twitch.add_vod("1005", TS_VOD)
    twitch.throttle("1005", seconds_per_segment=1.5)
    daemon = twitch.downloader().start()
    wait_until(lambda: twitch.vod("1005")["download_bytes"] > 0, 60, 0.05, "download progress")
    assert daemon.stop(timeout=30) == 0
    row = twitch.vod("1005")
    assert row["lease_owner"] is None and row["download_state"] == "discovered" and row["processing_error"] is None
    assert (twitch.data_dir / ".partial" / "1005.part").stat().st_size > 0
    twitch.twitch.clear_rules()
    with twitch.downloader():
        row = twitch.wait_state("1005", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == twitch.served("1005")
    assert max(twitch.segment_counts("1005")) <= 2
