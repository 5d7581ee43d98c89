"""Cancel, fatal and systemic failures, the circuit breaker and a full disk, with real processes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import run_cli, wait_until
from tests.integration.downloader.conftest import TS_VOD, TwitchSite
from vodtender.clients.hls import HttpClient, parse_media_playlist
from vodtender.pipeline.download.classify import classify_fetch_error
from vodtender.pipeline.download.fetcher import HlsFetch
from vodtender.pipeline.errors import ErrorClass

CLEAR_BREAKER = "DELETE FROM kv WHERE key IN ('circuit_state','circuit_failures','circuit_open_until');"


def _final_files(twitch: TwitchSite) -> list[Path]:
    """Files that look like finished downloads (anything outside the partial folder)."""
    return [p for p in twitch.data_dir.rglob("*") if p.is_file() and ".partial" not in p.parts]


def test_cancel_stops_the_download_and_reprocess_downloads_it_again(twitch: TwitchSite) -> None:
    twitch.add_vod("2001", TS_VOD)
    twitch.throttle("2001", seconds_per_segment=1.5)
    env = twitch.env()
    with twitch.downloader():
        wait_until(lambda: twitch.vod("2001")["download_bytes"] > 0, 60, 0.05, "download progress")
        asked = time.monotonic()
        result = run_cli(twitch.workdir, "cancel", "2001", env=env)
        assert result.returncode == 0 and "cancel requested" in result.stdout, result.stderr
        row = twitch.wait_state("2001", ("cancelled",), timeout=30)
        print(f"cancel took effect after {time.monotonic() - asked:.2f}s")
        assert (row["processing_error"], row["error_class"]) == ("cancelled by operator", "cancelled")
        assert row["lease_owner"] is None and row["download_bytes"] < len(twitch.served("2001"))
        time.sleep(1.0)  # in-flight fragment requests wind down
        requests = sum(twitch.twitch.counts.values())
        time.sleep(3.0)
        assert sum(twitch.twitch.counts.values()) == requests  # nothing fetched any more
        assert twitch.vod("2001")["download_state"] == "cancelled"  # and not picked up again
        assert _final_files(twitch) == [] and not list((twitch.data_dir / ".partial").glob("2001*"))

        twitch.twitch.clear_rules()
        result = run_cli(twitch.workdir, "reprocess", "2001", env=env)
        assert result.returncode == 0 and "queued for download" in result.stdout, result.stderr
        row = twitch.wait_state("2001", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == twitch.served("2001")
    assert [e["kind"] for e in twitch.events("2001")] == ["cancel", "cancelled", "reprocess", "done"]


def test_runbook_reset_requeues_a_cancelled_vod(twitch: TwitchSite) -> None:
    twitch.add_vod("2002", TS_VOD)
    env = twitch.env()
    assert run_cli(twitch.workdir, "cancel", "2002", env=env).returncode == 0  # nobody holds it: cancelled at once
    assert twitch.vod("2002")["download_state"] == "cancelled"
    twitch.sql("UPDATE vods SET processed=0, processing_error=NULL, youtube_url=NULL WHERE twitch_vod_id='2002'")
    with twitch.downloader():
        row = twitch.wait_state("2002", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == twitch.served("2002")


def test_a_vod_twitch_does_not_have_is_fatal_without_retries(twitch: TwitchSite) -> None:
    twitch.add_row("2003", duration=40)  # in the database, unknown to Twitch
    with twitch.downloader() as daemon:
        row = twitch.wait_state("2003", ("failed",))
        daemon.wait_for_log(r"download failed vod_id=2003 error_class=fatal")
        requests = sum(twitch.twitch.counts.values())
        time.sleep(3.0)
        assert sum(twitch.twitch.counts.values()) == requests  # no retry loop
    assert "does not exist" in row["processing_error"] and row["error_class"] == "fatal"
    assert row["download_retries"] == 0 and _final_files(twitch) == []


def test_all_requests_failing_opens_the_breaker_and_the_runbook_delete_closes_it(twitch: TwitchSite) -> None:
    for vod_id in ("2004", "2005"):
        twitch.add_vod(vod_id, TS_VOD)
    twitch.network_down()  # every request is refused
    with twitch.downloader(CIRCUIT_FAILURE_THRESHOLD="3", CIRCUIT_OPEN_COOLDOWN="1h") as daemon:
        daemon.wait_for_log(r"circuit opened", timeout=60)
        _status, _body = daemon.wait_http("/readyz")
        wait_until(lambda: daemon.http("/readyz")[0] == 503, 15, 0.2, "/readyz not ready")
        assert "circuit open" in daemon.http("/readyz")[1]
        assert "vodtender_circuit_state 2.0" in daemon.http("/metrics")[1]
        assert twitch.sql("SELECT value FROM kv WHERE key='circuit_failures'") == [("3",)]
        assert twitch.sql("SELECT count(*) FROM vods WHERE processing_error IS NOT NULL") == [(0,)]
        time.sleep(2.0)
        assert twitch.vod("2004")["download_state"] != "downloading"  # open: no attempts

        twitch.network_up()  # the outage ends ...
        twitch.sql(CLEAR_BREAKER)  # ... and the operator clears the breaker as the runbook says
        for vod_id in ("2004", "2005"):
            row = twitch.wait_state(vod_id, ("downloaded",))
            assert Path(row["downloaded_path"]).read_bytes() == twitch.served(vod_id)
        wait_until(lambda: daemon.http("/readyz")[0] == 200, 15, 0.2, "/readyz ready again")


@pytest.fixture
def small_disk(twitch: TwitchSite) -> Iterator[Path]:
    """DATA_DIR on a 4 MiB tmpfs (the VOD is about 2 MiB)."""
    twitch.data_dir.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(twitch.data_dir)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr}"
    yield twitch.data_dir
    subprocess.run(["umount", "-l", str(twitch.data_dir)], check=False)


def test_full_disk_is_systemic_and_leaves_nothing_that_looks_complete(twitch: TwitchSite, small_disk: Path) -> None:
    twitch.add_vod("2006", TS_VOD)
    twitch.throttle("2006", seconds_per_segment=1.5)
    env = twitch.env()
    with twitch.downloader() as daemon:
        wait_until(lambda: twitch.vod("2006")["download_bytes"] > 0, 60, 0.05, "download progress")
        filler = small_disk / "filler"
        with open(filler, "wb") as fh:  # something else fills the disk mid-download
            try:
                while True:
                    fh.write(b"\0" * 65536)
            except OSError:
                pass
        daemon.wait_for_log(r"download failed vod_id=2006 error_class=systemic error=\"?disk full", timeout=60)
        row = twitch.vod("2006")
        assert row["download_state"] != "downloaded" and row["processing_error"] is None
        assert [p.name for p in _final_files(twitch)] == ["filler"]
        assert int(twitch.sql("SELECT value FROM kv WHERE key='circuit_failures'")[0][0]) >= 1

        filler.unlink()  # space again: the operator closes the breaker and the download resumes
        twitch.twitch.clear_rules()
        assert run_cli(twitch.workdir, "circuit", "reset", env=env).returncode == 0
        row = twitch.wait_state("2006", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == twitch.served("2006")


def test_operator_commands_print_what_they_did(twitch: TwitchSite) -> None:
    twitch.add_row("2007", duration=40)
    env = twitch.env()
    result = run_cli(twitch.workdir, "priority", "2007", "7", env=env)
    assert (result.returncode, result.stdout.strip()) == (0, "VOD 2007: priority 0 -> 7")
    assert twitch.vod("2007")["priority"] == 7
    twitch.sql(
        "INSERT INTO kv (key, value) VALUES ('circuit_state', 'open'), ('circuit_failures', '5'), "
        "('circuit_open_until', '9999999999')"
    )
    assert "open until" in run_cli(twitch.workdir, "circuit", "status", env=env).stdout
    result = run_cli(twitch.workdir, "circuit", "reset", env=env)
    assert result.returncode == 0 and "was open" in result.stdout and "deleted kv keys" in result.stdout
    assert twitch.sql("SELECT count(*) FROM kv WHERE key LIKE 'circuit_%'") == [(0,)]
    result = run_cli(twitch.workdir, "cancel", "nope", env=env)
    assert result.returncode == 1 and "no VOD 'nope'" in result.stderr


def test_disk_full_in_the_middle_of_a_write_leaves_a_journal_that_never_vouches_for_it(twitch: TwitchSite) -> None:
    """ENOSPC inside a fragment's write (no estimate warned first): the journal stays behind the
    half-written bytes, and the next attempt cuts them off."""
    twitch.add_vod("2008", TS_VOD)
    folder = twitch.workdir / "tiny"
    folder.mkdir()
    mounted = subprocess.run(  # smaller than one segment
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr}"
    try:
        url = twitch.twitch.media_playlist_url("2008", "chunked")
        client = HttpClient()
        playlist = parse_media_playlist(client.get(url).decode(), url)
        fetch = HlsFetch(playlist, folder / "v.part", client, concurrency=2, fragment_retries=0, min_free=0)
        with pytest.raises(OSError) as failure:
            fetch.run(lambda: True)
        assert classify_fetch_error(failure.value).error_class == ErrorClass.SYSTEMIC
        vouched = sum(w.size for w in fetch.journal.load())
        assert (folder / "v.part").stat().st_size > vouched  # a fragment was cut off by the full disk
        again = HlsFetch(playlist, folder / "v.part", client, concurrency=2, fragment_retries=0, min_free=0)
        assert again.resume_point() == len(fetch.journal.load())
        again.journal.close()
        assert (folder / "v.part").stat().st_size == vouched
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
