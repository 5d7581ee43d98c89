"""The recorder on the shared runtime, in-process: idle (and ready) without LIVE_RECORD, waiting for a
wanted channel to go live otherwise; a stream of a channel it does not record is left alone."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.clock import ManualClock
from tests.helpers.notify import RecordingNotifier
from vodtender.daemons.recorder import Recorder
from vodtender.pipeline.download.preflight import ToolFinder
from vodtender.runtime.config import OPTIONS, load_config
from vodtender.runtime.daemon import Runtime
from vodtender.runtime.models import Recording, Vod

MakeRecorder = Callable[..., Runtime]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MakeRecorder]:
    """recorder(*flags) -> the recorder's runtime on a SQLite file, with a recording notifier; no option
    set but `flags`."""
    for option in OPTIONS:
        monkeypatch.delenv(option.env, raising=False)
    # Reading ffmpeg's version starts a process: the tool check is the integration tier's
    # (tests/integration/downloader/test_preflight.py); here the tools count as found.
    monkeypatch.setattr(ToolFinder, "check", lambda _self: [])
    (tmp_path / "etc").mkdir()
    monkeypatch.setenv("VODTENDER_CONFIG_DIR", str(tmp_path / "etc"))
    made: list[Runtime] = []

    def make(*flags: str) -> Runtime:
        argv = ["--db-dsn", str(tmp_path / "vodtender.db"), "--data-dir", str(tmp_path / "data"),
                "--recorder-http-addr", "127.0.0.1:0", *flags]  # fmt: skip
        runtime = Runtime(Recorder, load_config(argv), notifier=RecordingNotifier(), clock=ManualClock(), argv=argv)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.stop()


def readyz(runtime: Runtime) -> int:
    try:
        with urllib.request.urlopen(f"http://{runtime.http_address()}/readyz", timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def status_lines(runtime: Runtime) -> list[str]:
    assert isinstance(runtime.notifier, RecordingNotifier)
    return runtime.notifier.lines("STATUS=")


def live_placeholder(channel: str, stream_id: str) -> None:
    Vod.create(twitch_vod_id=f"live-{stream_id}", channel=channel, stream_id=stream_id, is_placeholder=1)


def test_without_live_record_it_idles_ready_and_records_nothing(recorder: MakeRecorder) -> None:
    runtime = recorder()
    runtime.start()
    live_placeholder("somechannel", "s1")
    runtime.tick()
    assert status_lines(runtime)[-1] == "STATUS=idle: LIVE_RECORD is empty"
    assert readyz(runtime) == 200  # nothing is missing: recording live is switched off
    assert Recording.select().count() == 0


def test_it_waits_for_a_wanted_channel_and_leaves_the_others_alone(recorder: MakeRecorder) -> None:
    # Were the other channel taken, its playlist would be looked for on a closed loopback port, not online.
    runtime = recorder("--live-record", "wanted", "--twitch-live-url-template", "http://127.0.0.1:9/{channel}")
    runtime.start()
    live_placeholder("other", "s1")
    runtime.tick()
    assert status_lines(runtime)[-1] == "STATUS=idle: no live stream to record"
    assert readyz(runtime) == 200 and Recording.select().count() == 0
