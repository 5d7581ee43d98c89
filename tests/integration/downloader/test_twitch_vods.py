"""The downloader as a real process, with the default `TWITCH_VOD_URL_TEMPLATE`, so yt-dlp's real Twitch
extractor runs, against the Twitch stand-in (GQL, usher, CDN): every VOD shape Twitch serves today
ends as one correct file, or is refused in words a user understands."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.media import decode_errors
from tests.helpers.processes import run_cli, wait_until
from tests.integration.downloader.conftest import TwitchSite
from tests.standins.twitch import Rendition, VodSpec
from vodtender.pipeline.kv import kv_get
from vodtender.pipeline.upload.metadata import UploadSettings, build_metadata
from vodtender.runtime.clock import utcnow
from vodtender.runtime.models import Vod

SOURCE_TS = Rendition("1080p60", "h264", "ts")
SOURCE_HEVC = Rendition("1080p60", "h265", "fmp4")


def _probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-count_packets",
            "-show_entries", "format=duration:stream=codec_type,codec_name,width,height,nb_read_packets",
            "-of", "json", str(path),
        ],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def _video(info: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


def _assert_whole(twitch: TwitchSite, vod_id: str, rendition: str, row: dict[str, Any]) -> Path:
    """The file is the VOD: the playlist's duration, every source video packet, decodable end to end."""
    path = Path(row["downloaded_path"])
    expected = twitch.twitch.expected(vod_id, rendition)
    info = _probe(path)
    assert abs(float(info["format"]["duration"]) - expected.duration) <= 1.0
    assert int(_video(info)["nb_read_packets"]) == expected.video_packets
    assert decode_errors(path) == ""
    # The journal goes just after the row says `downloaded` (kept until the move is committed): wait for it,
    # with the downloader still running (the tests' daemons are killed, and a kill in that moment leaves it
    # to the next start's sweep).
    partial = twitch.data_dir / ".partial"
    wait_until(lambda: not list(partial.glob("*")), 10, what="nothing left in the partial folder")
    return path


CASES = {
    "mpeg-ts": (VodSpec((SOURCE_TS,), muted=(3,)), ".ts"),
    "fmp4-hevc": (VodSpec((SOURCE_HEVC,), muted=(4,)), ".mp4"),
    "fmp4-av1": (VodSpec((Rendition("1080p60", "av1", "fmp4"),)), ".mp4"),
    "ts-discontinuity": (VodSpec((SOURCE_TS,), discontinuity_at=8), ".mp4"),
    "fmp4-new-init-section": (VodSpec((SOURCE_HEVC,), init_change_at=10), ".mp4"),
    "ivs-master": (VodSpec((SOURCE_TS, Rendition("480p30", "h264", "ts")), master_shape="ivs"), ".ts"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_shape_twitch_serves_ends_as_one_whole_file(twitch: TwitchSite, case: str) -> None:
    spec, suffix = CASES[case]
    twitch.add_vod("2001", spec)
    with twitch.downloader():
        row = twitch.wait_state("2001", ("downloaded", "failed"), timeout=90)
        assert row["download_state"] == "downloaded", row["processing_error"]
        path = _assert_whole(twitch, "2001", "1080p60", row)
    assert path.suffix == suffix and row["download_retries"] == 0
    assert row["video_codec"] == spec.renditions[0].codec and row["video_resolution"] == "320x180"
    if spec.muted:
        assert [m["offset"] for m in json.loads(row["muted_segments"])] == [spec.muted[0] * spec.segment_seconds]


def test_what_a_download_killed_after_its_commit_left_is_removed_at_the_next_start(twitch: TwitchSite) -> None:
    twitch.add_vod("2050", VodSpec((SOURCE_TS,)))
    with twitch.downloader():
        row = twitch.wait_state("2050", ("downloaded",), timeout=90)
    # as a SIGKILL between the commit and the clean-up leaves them: the journal, and a joined download's part
    partial = twitch.data_dir / ".partial"
    partial.mkdir(exist_ok=True)
    for name in ("2050.part.frags", "2050.part"):
        (partial / name).write_bytes(b"x" * 4096)
    held = {"lease_owner": "otherhost:1", "lease_until": utcnow() + dt.timedelta(hours=1)}
    twitch.add_row("2051", duration=60, download_state="downloading", **held)  # another host's, in progress
    (partial / "2051.part.frags").write_bytes(b"journal of a download in progress")
    with twitch.downloader() as daemon:
        daemon.wait_for_log("removed what a finished download left in the partial folder.*2050.part")
        wait_until(lambda: sorted(p.name for p in partial.iterdir()) == ["2051.part.frags"], 10, what="the sweep")
    assert Path(row["downloaded_path"]).is_file() and twitch.vod("2050")["download_state"] == "downloaded"


@pytest.mark.parametrize(("feature", "named"), [("byterange", "EXT-X-BYTERANGE"), ("encrypted", "EXT-X-KEY")])
def test_byte_ranges_and_encryption_are_refused_before_a_byte_is_fetched(
    twitch: TwitchSite, feature: str, named: str
) -> None:
    twitch.add_vod("2101", VodSpec((SOURCE_TS,), **{feature: True}))
    with twitch.downloader():
        row = twitch.wait_state("2101", ("failed",))
    assert named in row["processing_error"] and row["error_class"] == "fatal"
    fetched = [path for path in twitch.twitch.counts if path.endswith((".ts", ".mp4", ".key"))]
    assert fetched == []


def test_sigkill_during_an_fmp4_hevc_download_always_resumes_byte_identical(twitch: TwitchSite) -> None:
    spec = VodSpec((SOURCE_HEVC,), segments=160, segment_seconds=1)
    twitch.add_vod("2201", spec)
    with twitch.downloader():  # the uninterrupted download to compare with
        reference = Path(twitch.wait_state("2201", ("downloaded",), timeout=120)["downloaded_path"]).read_bytes()

    twitch.add_vod("2202", spec)
    twitch.twitch.add_rule("cdn/*/chunked/0.mp4", delay=3.0, times=1)
    twitch.twitch.add_rule("cdn/*/chunked/*.mp4", rate=60_000)
    twitch.twitch.reset_counts()
    concurrency, kills = 4, 6
    rng = random.Random(14)
    for kill in range(kills):
        daemon = twitch.downloader(DOWNLOAD_FRAGMENT_CONCURRENCY=str(concurrency)).start()
        if kill == 0:  # fragment 0 is held back 3 s: the next ones are asked for meanwhile, concurrently
            wait_until(lambda: _segment_requests(twitch, "0.mp4") >= 1, 30, 0.02, "fragment 0 asked for")
            wait_until(lambda: _segment_requests(twitch, "3.mp4") >= 1, 2.5, 0.02, "fragment 3 while 0 is in flight")
        wait_until(lambda: twitch.vod("2202")["download_state"] == "downloading", 30, 0.02, "the claim")
        time.sleep(rng.uniform(0.5, 3.0))
        daemon.kill()
        assert twitch.vod("2202")["download_state"] == "downloading"  # every kill landed mid-download
    twitch.twitch.clear_rules()
    with twitch.downloader(DOWNLOAD_FRAGMENT_CONCURRENCY=str(concurrency)):
        row = twitch.wait_state("2202", ("downloaded",), timeout=120)
    assert Path(row["downloaded_path"]).read_bytes() == reference
    refetched = sum(max(0, n - 1) for p, n in twitch.twitch.counts.items() if p.endswith(".mp4") and "init" not in p)
    assert refetched <= kills * 2 * concurrency


def _segment_requests(twitch: TwitchSite, name: str) -> int:
    return sum(n for path, n in twitch.twitch.counts.items() if path.endswith("/chunked/" + name))


def test_download_codecs_h264_takes_the_h264_rendition_where_the_default_takes_the_hevc_source(
    twitch: TwitchSite,
) -> None:
    spec = VodSpec((SOURCE_HEVC, Rendition("720p60", "h264", "ts", size="256x144")))
    twitch.add_vod("2301", spec)
    twitch.add_vod("2302", spec, day=2)
    with twitch.downloader(DOWNLOAD_CODECS="h264"):
        h264 = twitch.wait_state("2301", ("downloaded",), timeout=90)
    twitch.sql("UPDATE vods SET priority = 0")
    with twitch.downloader():  # its sweep also removes what the first one left, had its kill come too soon
        source = twitch.wait_state("2302", ("downloaded",), timeout=90)
        _assert_whole(twitch, "2301", "720p60", h264)
    assert (h264["video_codec"], h264["video_resolution"]) == ("h264", "256x144")
    assert _video(_probe(Path(h264["downloaded_path"])))["codec_name"] == "h264"
    assert (source["video_codec"], source["video_resolution"]) == ("h265", "320x180")
    assert _video(_probe(Path(source["downloaded_path"])))["codec_name"] == "hevc"


def test_a_segment_twitch_lost_is_archived_as_a_recorded_gap(twitch: TwitchSite) -> None:
    twitch.add_vod("2401", VodSpec((SOURCE_HEVC,), segments=30, lost=(12,)))
    with twitch.downloader() as daemon:
        row = twitch.wait_state("2401", ("downloaded", "failed"), timeout=90)
        status, metrics = daemon.http("/metrics")
    assert row["download_state"] == "downloaded", row["processing_error"]
    expected = twitch.twitch.expected("2401", "1080p60")
    info = _probe(Path(row["downloaded_path"]))
    assert abs(float(info["format"]["duration"]) - expected.duration) <= 1.0  # the timeline is kept
    assert int(_video(info)["nb_read_packets"]) == expected.video_packets - expected.segment_packets[12]
    assert decode_errors(Path(row["downloaded_path"])) == ""
    assert json.loads(row["download_gaps"]) == [{"offset": 24.0, "duration": 2.0, "segments": [12]}]

    shown = run_cli(twitch.workdir, "show", "2401", env=twitch.env()).stdout
    assert "gap 0:24\u20130:26 (2 s missing: segment 12 lost by Twitch)" in shown
    assert status == 200 and "vodtender_download_gaps_total 1.0" in metrics
    vod = Vod.get(Vod.twitch_vod_id == "2401")
    description = build_metadata(vod, UploadSettings("{title}", "{title}")).description
    assert "Missing from Twitch's archive: 0:24\u20130:26" in description


def test_more_lost_than_download_max_gap_fails_the_vod_instead(twitch: TwitchSite) -> None:
    twitch.add_vod("2402", VodSpec((SOURCE_TS,), lost=(2, 3, 4, 5)))
    with twitch.downloader(DOWNLOAD_MAX_GAP="4s", DOWNLOAD_MAX_ATTEMPTS="1"):
        row = twitch.wait_state("2402", ("failed",), timeout=90)
    assert "DOWNLOAD_MAX_GAP" in row["processing_error"] and row["downloaded_path"] is None


def test_a_vod_still_recording_waits_then_downloads_whole_once_its_playlist_ends(twitch: TwitchSite) -> None:
    twitch.add_vod("2501", VodSpec((SOURCE_TS,), recording=True))
    with twitch.downloader(DOWNLOAD_RECORDING_RECHECK="1s") as daemon:
        wait_until(lambda: [e for e in twitch.events("2501") if e["kind"] == "waiting"], 30, 0.1, "a wait")
        time.sleep(2.5)  # checked again (and again) while it records
        row = twitch.vod("2501")
        assert row["download_state"] != "downloaded" and row["download_retries"] == 0
        assert not [p for p in twitch.twitch.counts if p.endswith(".ts")], "no segment fetched while recording"
        twitch.twitch.finish_recording("2501")
        row = twitch.wait_state("2501", ("downloaded",), timeout=60)
        assert daemon.http("/healthz")[0] == 200
        _assert_whole(twitch, "2501", "1080p60", row)
    assert row["processing_error"] is None


def test_a_vod_whose_stream_the_poller_sees_live_waits(twitch: TwitchSite) -> None:
    twitch.add_vod("2502", VodSpec((SOURCE_TS,)), stream_id="s-77")
    twitch.add_row("live-1700000000", duration=0, is_placeholder=1, stream_id="s-77")
    with twitch.downloader(DOWNLOAD_RECORDING_RECHECK="1s"):
        wait_until(lambda: [e for e in twitch.events("2502") if e["kind"] == "waiting"], 30, 0.1, "a wait")
        assert "poller" in next(e["message"] for e in twitch.events("2502") if e["kind"] == "waiting")
        twitch.sql("UPDATE vods SET live_ended_at = '2026-11-01 12:00:00' WHERE twitch_vod_id = 'live-1700000000'")
        row = twitch.wait_state("2502", ("downloaded",), timeout=60)
    assert row["download_retries"] == 0


def test_an_access_denied_vod_oldest_in_the_queue_blocks_nothing(twitch: TwitchSite) -> None:
    twitch.add_vod("2601", VodSpec((SOURCE_TS,), state="access_denied"), day=1)
    for day, vod_id in ((2, "2602"), (3, "2603")):
        twitch.add_vod(vod_id, VodSpec((SOURCE_TS,)), day=day)
    with twitch.downloader(CIRCUIT_FAILURE_THRESHOLD="2"):
        for vod_id in ("2602", "2603"):
            twitch.wait_state(vod_id, ("downloaded",), timeout=90)
    gone = twitch.vod("2601")
    assert gone["download_state"] == "failed" and gone["error_class"] == "fatal"
    assert "no longer has this VOD's files" in gone["processing_error"]
    assert kv_get("circuit_state") in (None, "closed")


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("sub_only", "subscriber"),
        ("deleted", "does not exist"),
        ("usher_404", "404"),
    ],
)
def test_refused_vods_fail_at_once_in_words_a_user_understands(twitch: TwitchSite, state: str, words: str) -> None:
    twitch.add_vod("2701", VodSpec((SOURCE_TS,), state=state))
    with twitch.downloader():
        row = twitch.wait_state("2701", ("failed",), timeout=60)
    assert words in row["processing_error"] and row["error_class"] == "fatal"
    assert row["download_retries"] == 0 and [e["kind"] for e in twitch.events("2701")] == ["error"]


def test_a_systemic_failure_counts_the_attempt_and_backs_off_but_never_fails_the_vod(twitch: TwitchSite) -> None:
    twitch.add_vod("2801", VodSpec((SOURCE_TS,)))
    port = twitch.twitch.base_url.rsplit(":", 1)[1]
    twitch.twitch.stop()  # Twitch unreachable: connection refused, the network's fault, not the VOD's
    env = {"VODTENDER_TEST_TWITCH_BASE": f"http://127.0.0.1:{port}", "DOWNLOAD_MAX_ATTEMPTS": "1"}
    with twitch.downloader(**env, DOWNLOAD_BACKOFF_BASE="1h"):
        row = wait_until(lambda: (r := twitch.vod("2801"))["download_retries"] >= 1 and r, 60, 0.1, "a counted attempt")
    assert isinstance(row, dict)
    assert (row["download_state"], row["error_class"], row["processing_error"]) == ("discovered", "systemic", None)
    assert row["next_attempt_at"] is not None and row["lease_owner"] is None
    assert [e["kind"] for e in twitch.events("2801")] == ["retry"]
