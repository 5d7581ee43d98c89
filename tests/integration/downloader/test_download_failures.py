"""Cancel, fatal and systemic failures, the circuit breaker and a full disk, with real processes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import free_port, run_cli, wait_until
from tests.integration.downloader.conftest import Site
from tests.standins.hls import PLAYLIST, HlsServer, concatenated
from vodtender.clients.hls import HttpClient, parse_media_playlist
from vodtender.pipeline.download.classify import classify_fetch_error
from vodtender.pipeline.download.fetcher import HlsFetch
from vodtender.pipeline.errors import ErrorClass

CLEAR_BREAKER = "DELETE FROM kv WHERE key IN ('circuit_state','circuit_failures','circuit_open_until');"


def _final_files(site: Site) -> list[Path]:
    """Files that look like finished downloads (anything outside the partial folder)."""
    return [p for p in site.data_dir.rglob("*") if p.is_file() and ".partial" not in p.parts]


def test_cancel_stops_the_download_and_reprocess_downloads_it_again(site: Site) -> None:
    site.add_vod("2001")
    site.server.add_rule("2001/*.ts", rate=100_000)
    env = site.env()
    with site.downloader():
        wait_until(lambda: site.vod("2001")["download_bytes"] > 0, 60, 0.05, "download progress")
        asked = time.monotonic()
        result = run_cli(site.workdir, "cancel", "2001", env=env)
        assert result.returncode == 0 and "cancel requested" in result.stdout, result.stderr
        row = site.wait_state("2001", ("cancelled",), timeout=30)
        print(f"cancel took effect after {time.monotonic() - asked:.2f}s")
        assert (row["processing_error"], row["error_class"]) == ("cancelled by operator", "cancelled")
        assert row["lease_owner"] is None and row["download_bytes"] < len(concatenated(site.source / PLAYLIST))
        time.sleep(1.0)  # in-flight fragment requests wind down
        requests = sum(site.server.counts.values())
        time.sleep(3.0)
        assert sum(site.server.counts.values()) == requests  # nothing fetched any more
        assert site.vod("2001")["download_state"] == "cancelled"  # and not picked up again
        assert _final_files(site) == [] and not list((site.data_dir / ".partial").glob("2001*"))

        site.server.clear_rules()
        result = run_cli(site.workdir, "reprocess", "2001", env=env)
        assert result.returncode == 0 and "queued for download" in result.stdout, result.stderr
        row = site.wait_state("2001", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == concatenated(site.source / PLAYLIST)
    assert [e["kind"] for e in site.events("2001")] == ["cancel", "cancelled", "reprocess", "done"]


def test_runbook_reset_requeues_a_cancelled_vod(site: Site) -> None:
    site.add_vod("2002")
    env = site.env()
    assert run_cli(site.workdir, "cancel", "2002", env=env).returncode == 0  # nobody holds it: cancelled at once
    assert site.vod("2002")["download_state"] == "cancelled"
    site.sql("UPDATE vods SET processed=0, processing_error=NULL, youtube_url=NULL WHERE twitch_vod_id='2002'")
    with site.downloader():
        row = site.wait_state("2002", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == concatenated(site.source / PLAYLIST)


def test_missing_playlist_is_fatal_without_retries(site: Site) -> None:
    site.add_vod("2003", served=False)
    with site.downloader() as daemon:
        row = site.wait_state("2003", ("failed",))
        daemon.wait_for_log(r"download failed vod_id=2003 error_class=fatal")
        requests = site.server.counts["2003/" + PLAYLIST]
        time.sleep(3.0)
        assert site.server.counts["2003/" + PLAYLIST] == requests  # no retry loop
    assert "404" in row["processing_error"] and row["error_class"] == "fatal" and row["download_retries"] == 0
    assert _final_files(site) == []


def test_all_requests_failing_opens_the_breaker_and_the_runbook_delete_closes_it(site: Site) -> None:
    port = free_port()  # nothing listens here yet: every request is refused
    for vod_id in ("2004", "2005"):
        site.add_vod(vod_id)
    env = {
        "TWITCH_VOD_URL_TEMPLATE": f"http://127.0.0.1:{port}/{{id}}/{PLAYLIST}",
        "CIRCUIT_FAILURE_THRESHOLD": "3",
        "CIRCUIT_OPEN_COOLDOWN": "1h",
    }
    with site.downloader(**env) as daemon:
        daemon.wait_for_log(r"circuit opened", timeout=60)
        _status, _body = daemon.wait_http("/readyz")
        wait_until(lambda: daemon.http("/readyz")[0] == 503, 15, 0.2, "/readyz not ready")
        assert "circuit open" in daemon.http("/readyz")[1]
        assert "vodtender_circuit_state 2.0" in daemon.http("/metrics")[1]
        assert site.sql("SELECT value FROM kv WHERE key='circuit_failures'") == [("3",)]
        assert site.sql("SELECT count(*) FROM vods WHERE processing_error IS NOT NULL") == [(0,)]
        time.sleep(2.0)
        assert site.vod("2004")["download_state"] != "downloading"  # open: no attempts

        server = HlsServer(site.root, port=port).start()  # the outage ends ...
        try:
            site.sql(CLEAR_BREAKER)  # ... and the operator clears the breaker as the runbook says
            for vod_id in ("2004", "2005"):
                row = site.wait_state(vod_id, ("downloaded",))
                assert Path(row["downloaded_path"]).read_bytes() == concatenated(site.source / PLAYLIST)
            wait_until(lambda: daemon.http("/readyz")[0] == 200, 15, 0.2, "/readyz ready again")
        finally:
            server.stop()


@pytest.fixture
def small_disk(site: Site) -> Iterator[Path]:
    """DATA_DIR on a 9 MiB tmpfs (the VOD is about 6 MiB)."""
    site.data_dir.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=9m", "tmpfs", str(site.data_dir)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr}"
    yield site.data_dir
    subprocess.run(["umount", "-l", str(site.data_dir)], check=False)


def test_full_disk_is_systemic_and_leaves_nothing_that_looks_complete(site: Site, small_disk: Path) -> None:
    site.add_vod("2006")
    site.server.add_rule("2006/*.ts", rate=150_000)
    env = site.env()
    with site.downloader() as daemon:
        wait_until(lambda: site.vod("2006")["download_bytes"] > 0, 60, 0.05, "download progress")
        filler = small_disk / "filler"
        with open(filler, "wb") as fh:  # something else fills the disk mid-download
            try:
                while True:
                    fh.write(b"\0" * 65536)
            except OSError:
                pass
        daemon.wait_for_log(r"download failed vod_id=2006 error_class=systemic error=\"?disk full", timeout=60)
        row = site.vod("2006")
        assert row["download_state"] != "downloaded" and row["processing_error"] is None
        assert [p.name for p in _final_files(site)] == ["filler"]
        assert int(site.sql("SELECT value FROM kv WHERE key='circuit_failures'")[0][0]) >= 1

        filler.unlink()  # space again: the operator closes the breaker and the download resumes
        site.server.clear_rules()
        assert run_cli(site.workdir, "circuit", "reset", env=env).returncode == 0
        row = site.wait_state("2006", ("downloaded",))
    assert Path(row["downloaded_path"]).read_bytes() == concatenated(site.source / PLAYLIST)


def test_operator_commands_print_what_they_did(site: Site) -> None:
    site.add_vod("2007")
    env = site.env()
    result = run_cli(site.workdir, "priority", "2007", "7", env=env)
    assert (result.returncode, result.stdout.strip()) == (0, "VOD 2007: priority 0 -> 7")
    assert site.vod("2007")["priority"] == 7
    site.sql(
        "INSERT INTO kv (key, value) VALUES ('circuit_state', 'open'), ('circuit_failures', '5'), "
        "('circuit_open_until', '9999999999')"
    )
    assert "open until" in run_cli(site.workdir, "circuit", "status", env=env).stdout
    result = run_cli(site.workdir, "circuit", "reset", env=env)
    assert result.returncode == 0 and "was open" in result.stdout and "deleted kv keys" in result.stdout
    assert site.sql("SELECT count(*) FROM kv WHERE key LIKE 'circuit_%'") == [(0,)]
    result = run_cli(site.workdir, "cancel", "nope", env=env)
    assert result.returncode == 1 and "no VOD 'nope'" in result.stderr


def test_disk_full_in_the_middle_of_a_write_leaves_a_journal_that_never_vouches_for_it(site: Site) -> None:
    """ENOSPC inside a fragment's write (no estimate warned first): the journal stays behind the
    half-written bytes, and the next attempt cuts them off."""
    site.add_vod("2008")
    folder = site.workdir / "tiny"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(folder)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr}"
    try:
        url = site.server.url(f"2008/{PLAYLIST}")
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
