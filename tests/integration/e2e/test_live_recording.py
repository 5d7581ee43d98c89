"""Live recording end to end: all five daemons against the fake Twitch + YouTube, a stream recorded
live (two stitched ad breaks, the recorder SIGKILLed mid-stream), then reconciled with its VOD.

- VODs off: no VOD ever comes, so after VOD_RECONCILE_WINDOW the recording is the stream's archive:
  uploaded to YouTube byte for byte, its chat bound to it and timed to the file (send time - the
  recording's first segment - the ad and restart time squeezed out before it).
- A muted VOD beside a whole one (LIVE_RECORD_KEEP=when-vod-worse): the muted VOD's recording is
  kept and `vodtender show` lists both; the whole VOD's recording is removed once the VOD is
  verified, and `show` says so.

The live streams run at real speed (program date times on the wall clock, like the chat's
tmi-sent-ts), 2 s segments as Twitch's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path

from tests.e2e.harness import FakeTwitch, Stream, vod_row, wait_offline_seen, wait_placeholder
from tests.e2e.stack import WITH_RECORDER
from tests.helpers.media import decode_errors, duration
from tests.helpers.processes import wait_until
from tests.standins.twitch import LiveSpec, Rendition
from tests.standins.twitch_live import LiveStream, ad_frames
from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.models import ChatMessage, Recording

SMALL = Rendition("1080p60", "h264", "ts", size="160x90")
ALIGNED = 0.050  # seconds: a chat line plays within this of where it was sent
RECORDING = {
    "LIVE_RECORD": "all",
    "LIVE_RECORD_POLL": "500ms",
    "LIVE_RECORD_END_GRACE": "3s",
}


def _unix(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def recording_of(stream: Stream) -> Recording | None:
    found: Recording | None = Recording.get_or_none(Recording.stream_id == stream.stream_id)
    return found


def wait_outcome(stream: Stream, timeout: float) -> Recording:
    def settled() -> Recording | None:
        rec = recording_of(stream)
        return rec if rec is not None and rec.outcome is not None else None

    return wait_until(settled, timeout, 0.5, f"an outcome for the recording of stream {stream.stream_id}")  # type: ignore[return-value]


def live_and_recorded(world: FakeTwitch, stream: Stream, spec: LiveSpec) -> LiveStream:
    live = world.go_live_on_video(stream, spec)
    wait_placeholder(stream)
    wait_until(lambda: (r := recording_of(stream)) is not None and r.bytes > 0, 60, 0.2, "the first recorded bytes")
    return live


def end(world: FakeTwitch, stream: Stream) -> None:
    world.end_live_video(stream)
    wait_offline_seen(stream)


def _uploaded(stream: Stream) -> object:
    row = vod_row(stream.placeholder_id)
    return row if row is not None and row.youtube_url else None


def expected_rel(sent: float, started: float, cuts: list[tuple[float, float]]) -> float:
    """Where a line sent at `sent` plays in a file starting at `started` with these (start, end) spans cut
    out: its send time less the cut time before it; a line sent inside a cut plays where the cut is."""
    squeezed = 0.0
    for start, stop in sorted(cuts):
        if start <= sent < stop:
            return start - started - squeezed
        if stop <= sent:
            squeezed += stop - start
    return sent - started - squeezed


def test_with_vods_off_the_recording_is_the_archive_uploaded_with_its_chat_on_its_timeline(
    world: FakeTwitch, make_stack, seed: int
) -> None:
    alice = world.add_channel("alice")
    stack = make_stack(**RECORDING, VOD_RECONCILE_WINDOW="10s")
    stack.start_all(WITH_RECORDER)
    stream = world.plan_stream(alice, live_for=0, segments=40)
    spec = LiveSpec(rendition=SMALL, window=5, speed=1.0, total_segments=40, ad_breaks=((16, 3), (28, 2)))
    with stack.database():
        live = live_and_recorded(world, stream, spec)
        world.irc.wait_joined(alice.login, timeout=60)
        time.sleep(3)  # the chat recorder refreshes its placeholder cache every ~2 s
        world.start_chat(stream, rate=20, seed=seed)
        wait_until(lambda: live.live_edge() >= 8, 60, 0.2, "segment 8 on the live edge")
        stack.kill("recorder")  # SIGKILL mid-stream; back after the live window (5 segments) moved on
        time.sleep(12)
        stack.start("recorder")
        wait_until(lambda: live.live_edge() >= 39, 120, 0.5, "the stream's last segment")
        world.stop_chat(stream)
        end(world, stream)
        rec = wait_outcome(stream, timeout=120)
        archive = wait_until(lambda: _uploaded(stream), 120, 0.5, "the archive uploaded")
        stored = list(ChatMessage.select().where(ChatMessage.vod_id == stream.placeholder_id))
        show = stack.cli("show", stream.placeholder_id)
        unclean = stack.stop_all()

    assert rec.outcome == "archive", rec.outcome_note
    path = Path(rec.path)
    assert decode_errors(path) == "" and ad_frames(path) == 0
    assert archive.downloaded_path == rec.path and archive.is_placeholder == 0
    assert world.uploads_of(stream) == [hashlib.sha256(path.read_bytes()).hexdigest()]

    # The recording's start and its cuts, as the stand-in's own clock has them.
    gaps = json.loads(rec.gaps)
    started = unix_seconds(rec.started_at)
    first = next(i for i in range(40) if abs(live.segment_at(i).timestamp() - started) < 0.001)
    assert first <= 8, f"the recording starts at segment {first}, after the kill"
    ads = [(_unix(g["start"]), _unix(g["end"])) for g in gaps if g["why"] == "ad"]
    assert ads == [(live.segment_at(f).timestamp(), live.segment_at(f + n).timestamp()) for f, n in spec.ad_breaks]
    assert any(g["why"] in ("restart", "missed") for g in gaps), gaps  # the kill's span
    cuts = [(_unix(g["start"]), _unix(g["end"])) for g in gaps]
    span = live.segment_at(40).timestamp() - started
    assert abs(duration(path) - (span - sum(stop - start for start, stop in cuts))) <= 2.0

    sent = {m.msg_id: m for m in world.chat.of(alice.login)}
    heard = [m for m in sent.values() if m.receivers]
    assert len(stored) == len(heard), f"{len(stored)} of {len(heard)} chat lines heard are on the archive"
    assert any(m.sent_at > max(stop for _, stop in cuts) for m in heard), "no chat after the last cut"
    misplaced = []
    for row in stored:
        want = expected_rel(sent[row.msg_id].sent_at, started, cuts)
        if abs(row.rel_timestamp - want) > ALIGNED:
            misplaced.append((row.msg_id, row.rel_timestamp, want))
    assert not misplaced, f"{len(misplaced)} chat lines off the recording's timeline, e.g. {misplaced[:3]}"
    assert "archive" in show and "no archive VOD appeared within VOD_RECONCILE_WINDOW" in show
    assert not unclean, f"daemons did not stop cleanly: {unclean}"


def test_a_muted_vod_keeps_its_recording_and_a_whole_vod_removes_it(world: FakeTwitch, make_stack) -> None:
    bob, carol = world.add_channel("bob"), world.add_channel("carol")
    stack = make_stack(**RECORDING)
    stack.start_all(WITH_RECORDER)
    streams = {c.login: world.plan_stream(c, live_for=0, segments=4) for c in (bob, carol)}
    spec = LiveSpec(rendition=SMALL, window=5, speed=1.0, total_segments=15)
    with stack.database():
        lives = {login: live_and_recorded(world, s, spec) for login, s in streams.items()}
        for login, stream in streams.items():
            wait_until(lambda live=lives[login]: live.live_edge() >= 14, 60, 0.5, "the stream's last segment")
            end(world, stream)
        world.publish_vod(streams["bob"], muted=(1,))
        world.publish_vod(streams["carol"])
        kept, removed = (wait_outcome(streams[login], timeout=180) for login in ("bob", "carol"))
        shown = {login: stack.cli("show", s.vod_id) for login, s in streams.items()}
        muted = vod_row(streams["bob"].vod_id)
        unclean = stack.stop_all()

    assert kept.outcome == "kept" and "muted segment" in kept.outcome_note
    assert Path(kept.path).exists() and decode_errors(Path(kept.path)) == ""
    assert muted is not None and muted.download_state == "downloaded" and Path(muted.downloaded_path).exists()
    assert "kept" in shown["bob"] and kept.path in shown["bob"] and "muted segments\n  at" in shown["bob"]
    assert removed.outcome == "removed" and not Path(removed.path).exists()
    assert "removed" in shown["carol"] and "not muted, no gaps, not shorter" in shown["carol"]
    assert not unclean, f"daemons did not stop cleanly: {unclean}"
