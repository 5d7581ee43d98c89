"""`vodtender recorder` as a process against the Twitch stand-in's live side, through yt-dlp's real
Twitch extractors: one clean file per stream, ads dropped, a kill's span a recorded gap, the
in-progress VOD followed from its start, every stream recorded exactly once."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from tests.helpers.media import decode_errors, duration
from tests.helpers.processes import wait_until
from tests.integration.recorder.conftest import RecorderSite
from tests.standins.twitch import LiveSpec, Rendition
from tests.standins.twitch_live import ad_frames
from vodtender.runtime.models import Vod

SMALL = Rendition("1080p60", "h264", "ts", size="160x90")


def _gaps(row: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(row["gaps"] or "[]")


def _assert_clean(row: dict[str, Any]) -> Path:
    """One finished file that decodes end to end, holds no ad picture and exactly the media recorded."""
    assert row["state"] == "finished", row["error"]
    path = Path(row["path"])
    assert path.exists() and decode_errors(path) == ""
    assert ad_frames(path) == 0
    assert abs(duration(path) - row["seconds"]) <= 2.0
    return path


def test_two_ad_breaks_and_a_sigkill_end_as_one_clean_file_with_the_gaps_recorded(live: RecorderSite) -> None:
    # 2 segments a second; both ad breaks come well after the kill's span, so neither falls inside it
    spec = LiveSpec(rendition=SMALL, window=6, speed=4.0, total_segments=70, ad_breaks=((44, 4), (58, 3)))
    stream = live.go_live("somechannel", spec, "4301", end_after=70)
    first = live.recorder().start()
    wait_until(lambda: (r := live.recording("4301")) is not None and r["bytes"] > 0, 60, 0.1, "recording bytes")
    time.sleep(1.5)
    first.kill()  # mid-stream: the next recorder resumes the same part file
    killed_at = stream.live_edge()
    time.sleep(3.5)  # the live window (6 segments, 3 s) moves on past what was recorded
    with live.recorder():
        row = live.wait_recording("4301", ("finished", "failed"), timeout=120)
    _assert_clean(row)
    whys = [gap["why"] for gap in _gaps(row)]
    assert whys.count("ad") == 2, whys
    assert any(why in ("restart", "missed") for why in whys), whys  # the kill's span
    assert row["started_at"] is not None and killed_at < 40
    started = row["started_at"].replace(tzinfo=stream.started_at.tzinfo)
    span = (stream.segment_at(70) - started).total_seconds()  # the live span the recording covers
    missing = sum(gap["seconds"] for gap in _gaps(row))
    assert abs(row["seconds"] - (span - missing)) <= 2.0


def test_the_in_progress_vod_is_followed_from_its_first_segment_without_ads(live: RecorderSite) -> None:
    spec = LiveSpec(rendition=SMALL, window=6, speed=8.0, total_segments=40, ad_breaks=((12, 3),), vod_id="5301")
    stream = live.go_live("otherchannel", spec, "4302", end_after=40)
    Vod.create(  # the archive VOD the poller found for the same stream, still being recorded by Twitch
        twitch_vod_id="5301", channel="otherchannel", stream_id="4302", date=stream.started_at.replace(tzinfo=None)
    )
    wait_until(lambda: stream.live_edge() >= 10, 30, 0.1, "the live window past the stream's start")
    with live.recorder():
        row = live.wait_recording("4302", ("finished", "failed"), timeout=120)
    path = _assert_clean(row)
    assert row["source"] == "vod" and _gaps(row) == []
    assert abs(duration(path) - 40 * spec.segment_seconds) <= 2.0  # from the first segment, ads' time as content


def test_two_recorders_record_each_stream_exactly_once(live_any_db: RecorderSite) -> None:
    spec = LiveSpec(rendition=SMALL, window=6, speed=8.0, total_segments=30)
    live_any_db.go_live("chan_a", spec, "4311", end_after=30)
    live_any_db.go_live("chan_b", spec, "4312", end_after=30)
    with live_any_db.recorder() as one, live_any_db.recorder() as two:
        rows = [live_any_db.wait_recording(s, ("finished", "failed"), timeout=120) for s in ("4311", "4312")]
        logs = one.log() + two.log()
    for row in rows:
        _assert_clean(row)
        assert [gap["why"] for gap in _gaps(row)] == []  # nobody else wrote into it, nothing restarted
    for stream_id in ("4311", "4312"):
        assert len(re.findall(rf"recording started.*stream_id={stream_id}\b", logs)) == 1


def test_without_live_record_the_recorder_is_idle_and_ready(live: RecorderSite) -> None:
    live.go_live("somechannel", LiveSpec(rendition=SMALL, window=6, total_segments=30), "4321")
    with live.recorder(LIVE_RECORD="") as daemon:
        daemon.wait_for_log("recorder idle")
        assert daemon.wait_http("/readyz")[0] == 200
        time.sleep(1.0)
    assert live.recording("4321") is None
