"""The daemon runtime driven in-process: `start()`, `tick()`, `stop()` on a real SQLite file, no sleeping.

The test daemon borrows the uploader's name, so the real configuration rules apply to it: the uploader's
sections, its needs (YT_CLIENT_ID and YT_CLIENT_SECRET both or neither) and its HTTP address.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client import REGISTRY

from tests.helpers.clock import ManualClock
from tests.helpers.notify import RecordingNotifier
from tests.helpers.processes import free_port
from tests.unit.runtime.conftest import ConfigEnv
from vodtender.daemons.uploader import Uploader
from vodtender.pipeline.metrics import export_pipeline_metrics
from vodtender.runtime.clock import from_unix
from vodtender.runtime.config import config_dir, load_config
from vodtender.runtime.daemon import BUSY_RETRY, Daemon, IdleDaemon, Runtime
from vodtender.runtime.db import open_database, write
from vodtender.runtime.models import DaemonHeartbeat, Vod, VodEvent

NAME = "uploader"


class StubDaemon(Daemon):
    """Counts its steps; `failing_steps` of them raise first.  `constructed` lists every instance built."""

    name = NAME
    failing_steps = 0
    constructed: ClassVar[list[StubDaemon]]

    def __init__(self, runtime: Runtime):
        super().__init__(runtime)
        self.steps = 0
        self.shut_down = False
        type(self).constructed.append(self)

    def run_once(self) -> float:
        self.steps += 1
        if self.failing_steps:
            self.failing_steps -= 1
            raise RuntimeError("scripted failure")
        return 30.0

    def status(self) -> str:
        return f"{self.steps} step(s) done"

    def shutdown(self) -> None:
        self.shut_down = True


def stub(failing_steps: int = 0, failing_constructions: int = 0) -> type[StubDaemon]:
    """A fresh StubDaemon class (its own counters), whose first `failing_constructions` constructions raise."""
    failures = {"left": failing_constructions}

    class Stub(StubDaemon):
        constructed: ClassVar[list[StubDaemon]] = []

        def __init__(self, runtime: Runtime):
            if failures["left"]:
                failures["left"] -= 1
                raise OSError("the disk is not mounted yet")
            super().__init__(runtime)

    Stub.failing_steps = failing_steps
    return Stub


MakeRuntime = Callable[..., Runtime]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "vodtender.db"


@pytest.fixture
def make_runtime(config_env: ConfigEnv, db_file: Path, tmp_path: Path) -> Iterator[MakeRuntime]:
    """make_runtime(daemon_cls, *flags) -> a Runtime on `db_file` with a recording notifier and a manual clock."""
    config_env()
    made: list[Runtime] = []

    def make(
        daemon_cls: type[Daemon], *flags: str, http_addr: str = "127.0.0.1:0", watchdog_interval: float | None = None
    ) -> Runtime:
        argv = [
            "--db-dsn",
            str(db_file),
            "--data-dir",
            str(tmp_path / "data"),
            f"--{NAME}-http-addr",
            http_addr,
            *flags,
        ]
        clock = ManualClock()
        runtime = Runtime(
            daemon_cls, load_config(argv), notifier=RecordingNotifier(watchdog_interval, clock), clock=clock, argv=argv
        )
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        if not notifications(runtime, "STOPPING=1"):  # the test left it running
            runtime.stop()


def notifications(runtime: Runtime, prefix: str) -> list[str]:
    assert isinstance(runtime.notifier, RecordingNotifier)
    return runtime.notifier.lines(prefix)


def manual_clock(runtime: Runtime) -> ManualClock:
    assert isinstance(runtime.clock, ManualClock)
    return runtime.clock


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"daemon": NAME}) or 0.0


def get(runtime: Runtime, path: str) -> tuple[int, str]:
    url = f"http://{runtime.http_address()}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def heartbeats() -> list[DaemonHeartbeat]:
    return list(DaemonHeartbeat.select().where(DaemonHeartbeat.daemon == NAME))


# -- start, step, stop ---------------------------------------------------------------------------------------
def test_start_migrates_constructs_and_reports_ready(make_runtime: MakeRuntime, db_file: Path) -> None:
    daemon_cls = stub()
    runtime = make_runtime(daemon_cls)
    assert runtime.start() == 0.0  # the first step is due at once
    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 1
    (daemon,) = daemon_cls.constructed
    assert runtime.daemon is daemon and daemon.steps == 0
    assert notifications(runtime, "READY=1") == ["READY=1"]
    assert notifications(runtime, "STATUS=") == ["STATUS=0 step(s) done"]
    assert get(runtime, "/readyz") == (200, "ready\n")
    assert get(runtime, "/healthz") == (200, "ok\n")

    runtime.tick()
    assert daemon.steps == 1
    assert notifications(runtime, "STATUS=")[-1] == "STATUS=1 step(s) done"
    assert metric("vodtender_daemon_ready") == 1

    assert runtime.stop() == 0
    assert daemon.shut_down and runtime.daemon is None
    assert notifications(runtime, "STOPPING=1") and notifications(runtime, "STATUS=")[-1] == "STATUS=stopping"


def test_tick_waits_what_the_step_asks_capped_by_heartbeat_and_watchdog(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(stub(), "--heartbeat-interval", "10s")
    runtime.start()
    assert runtime.tick() == 10.0  # the step asked for 30 s; the heartbeat is due sooner
    watched = make_runtime(stub(), "--heartbeat-interval", "10s", watchdog_interval=2.0)
    watched.start()
    assert watched.tick() == 2.0  # and the watchdog sooner still


def test_watchdog_pings_come_from_the_loop_when_due(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(stub(), watchdog_interval=2.0)
    clock = manual_clock(runtime)
    runtime.start()
    assert len(notifications(runtime, "WATCHDOG=1")) == 1
    runtime.tick()
    assert len(notifications(runtime, "WATCHDOG=1")) == 1  # not due yet: the clock stood still
    clock.advance(2.0)
    runtime.tick()
    assert len(notifications(runtime, "WATCHDOG=1")) == 2


def test_heartbeat_row_written_on_schedule_and_cleared_on_stop(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(stub(), "--heartbeat-interval", "5s")
    clock = manual_clock(runtime)
    runtime.start()
    assert heartbeats() == []  # the first one comes with the first step
    runtime.tick()
    (row,) = heartbeats()
    assert (row.instance, row.status, row.ready) == (runtime.instance, "1 step(s) done", 1)
    assert row.http_addr == runtime.http_address() and row.updated_at == from_unix(clock.now)

    runtime.tick()
    assert heartbeats()[0].status == "1 step(s) done"  # not due again yet
    clock.advance(5.0)
    runtime.tick()
    (row,) = heartbeats()
    assert row.status == "3 step(s) done" and row.updated_at == from_unix(clock.now)

    runtime.stop()
    assert heartbeats() == []


def test_a_database_not_there_yet_is_waited_for(make_runtime: MakeRuntime, tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the database's folder should be")
    daemon_cls = stub()
    runtime = make_runtime(daemon_cls, "--db-dsn", str(blocker / "vodtender.db"))
    assert runtime.start() == 5.0
    assert runtime.daemon is None and daemon_cls.constructed == []
    (ready,) = notifications(runtime, "STATUS=")
    assert ready.startswith("STATUS=waiting for database: ")
    code, body = get(runtime, "/readyz")
    assert code == 503 and body.startswith("waiting for database: ")
    assert get(runtime, "/healthz") == (200, "ok\n")  # alive, just not ready

    blocker.unlink()
    blocker.mkdir()
    assert runtime.tick() == 0.0  # opened, migrated, constructed: the first step is due at once
    (daemon,) = daemon_cls.constructed
    assert runtime.daemon is daemon and get(runtime, "/readyz") == (200, "ready\n")


def test_a_database_passed_in_is_migrated_and_left_open(make_runtime: MakeRuntime, db_file: Path) -> None:
    db = open_database(str(db_file))
    try:
        argv = ["--db-dsn", str(db_file), f"--{NAME}-http-addr", "127.0.0.1:0"]
        runtime = Runtime(stub(), load_config(argv), notifier=RecordingNotifier(), clock=ManualClock(), database=db)
        runtime.start()
        assert db.table_exists("schema_migrations")
        runtime.tick()
        assert len(heartbeats()) == 1
        runtime.stop()
        assert not db.is_closed() and heartbeats() == []
    finally:
        db.close()


# -- the error guard -----------------------------------------------------------------------------------------
def test_a_step_that_raises_is_counted_and_backed_off(
    make_runtime: MakeRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon_cls = stub(failing_steps=4)
    runtime = make_runtime(daemon_cls, "--heartbeat-interval", "10m")
    runtime.start()
    errors, steps = metric("vodtender_daemon_loop_errors_total"), metric("vodtender_daemon_loop_iterations_total")
    waits = [runtime.tick() for _ in range(4)]
    # 1 s, doubling per failure in a row, with the +-25 % jitter of the one backoff rule.
    for wait, base in zip(waits, (1, 2, 4, 8), strict=True):
        assert base * 0.75 <= wait <= base * 1.25
    assert metric("vodtender_daemon_loop_errors_total") - errors == 4
    assert metric("vodtender_daemon_loop_iterations_total") - steps == 4
    log = capsys.readouterr().err
    assert log.count("step failed, will retry") == 4 and 'error="RuntimeError: scripted failure"' in log

    assert runtime.tick() == 30.0  # it works again: the step's own wait
    (daemon,) = daemon_cls.constructed
    assert daemon.steps == 5 and runtime.daemon is daemon  # the same daemon throughout: never restarted
    daemon.failing_steps = 1
    assert 0.75 <= runtime.tick() <= 1.25  # a success reset the backoff


def test_a_constructor_that_raises_is_retried_not_a_crash(
    make_runtime: MakeRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon_cls = stub(failing_constructions=2)
    runtime = make_runtime(daemon_cls, "--heartbeat-interval", "10m")
    errors = metric("vodtender_daemon_loop_errors_total")
    first_wait = runtime.start()
    assert 0.75 <= first_wait <= 1.25
    assert runtime.daemon is None and daemon_cls.constructed == []
    status = "starting failed, will retry: OSError: the disk is not mounted yet"
    assert notifications(runtime, "STATUS=") == [f"STATUS={status}"]
    assert notifications(runtime, "READY=1"), "systemd must see a running service, not a failed start"
    assert get(runtime, "/readyz") == (503, status + "\n")
    assert get(runtime, "/healthz") == (200, "ok\n")
    assert "step failed, will retry" in capsys.readouterr().err

    assert 1.5 <= runtime.tick() <= 2.5  # the second failure in a row waits longer
    (row,) = heartbeats()
    assert row.status == status and row.ready == 0

    assert runtime.tick() == 0.0  # constructed: the first step is due at once
    (daemon,) = daemon_cls.constructed
    assert runtime.daemon is daemon and daemon.steps == 0
    assert metric("vodtender_daemon_loop_errors_total") - errors == 2
    assert f"{NAME} ready" in capsys.readouterr().err
    runtime.tick()
    assert daemon.steps == 1 and get(runtime, "/readyz") == (200, "ready\n")


# -- configuration -------------------------------------------------------------------------------------------
def test_incomplete_configuration_comes_up_idle(
    make_runtime: MakeRuntime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))  # as the units run it
    daemon_cls = stub()
    runtime = make_runtime(daemon_cls, "--yt-client-id", "only-the-id")
    runtime.start()
    assert isinstance(runtime.daemon, IdleDaemon) and daemon_cls.constructed == []
    (status,) = notifications(runtime, "STATUS=")
    assert status.startswith("STATUS=idle: YT_CLIENT_SECRET is not set")
    # a secret goes in vodtender.env, which systemd reads when a unit starts: a reload would not see it
    assert status.endswith(
        "(set YT_CLIENT_SECRET in " + f"{config_dir()}/vodtender.env (or a credential in "
        "/etc/credstore), then systemctl restart vodtender.target)"
    )
    assert notifications(runtime, "READY=1")
    code, body = get(runtime, "/readyz")
    assert code == 503 and body.startswith("configuration: YT_CLIENT_SECRET is not set")
    assert metric("vodtender_config_problems") == 1
    assert runtime.tick() == 5.0  # idle, but the loop still turns for the heartbeat and the watchdog
    assert metric("vodtender_daemon_ready") == 0


def test_a_bad_value_on_the_command_line_is_not_blamed_on_the_config_file(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(stub(), "--upload-backoff-base", "whenever")
    runtime.start()
    (status,) = notifications(runtime, "STATUS=")
    assert status == (
        "STATUS=idle: --upload-backoff-base: bad duration 'whenever' (use e.g. 30s, 5m, 6h, 1h30m) "
        "(from command line) (correct it on the command line, then restart)"
    )


def test_reload_with_a_bad_value_idles_and_a_corrected_one_resumes(
    make_runtime: MakeRuntime, config_env: ConfigEnv
) -> None:
    conf = config_env() / "vodtender.conf"
    daemon_cls = stub()
    runtime = make_runtime(daemon_cls)
    runtime.start()
    runtime.tick()
    (first,) = daemon_cls.constructed

    conf.write_text("upload-backoff-base = whenever\n")
    runtime.request_reload()
    runtime.tick()
    assert first.shut_down
    idle = runtime.daemon
    assert isinstance(idle, IdleDaemon)
    assert notifications(runtime, "RELOADING=1") == ["RELOADING=1"]
    assert "UPLOAD_BACKOFF_BASE: bad duration 'whenever'" in notifications(runtime, "STATUS=")[-1]
    assert get(runtime, "/readyz")[0] == 503

    conf.write_text("upload-backoff-base = 1m\n")
    runtime.request_reload()
    runtime.tick()
    second = daemon_cls.constructed[-1]
    assert second is not first and runtime.daemon is second and second.steps == 1
    assert runtime.cfg.upload_backoff_base == 60.0
    assert get(runtime, "/readyz") == (200, "ready\n")


def test_reload_without_a_change_keeps_the_daemon(make_runtime: MakeRuntime) -> None:
    daemon_cls = stub()
    runtime = make_runtime(daemon_cls)
    runtime.start()
    runtime.request_reload()
    runtime.tick()
    (daemon,) = daemon_cls.constructed
    assert runtime.daemon is daemon and not daemon.shut_down
    assert notifications(runtime, "RELOADING=1") and len(notifications(runtime, "READY=1")) == 2


# -- the HTTP endpoint ---------------------------------------------------------------------------------------
def test_metrics_are_complete_when_healthz_first_answers(make_runtime: MakeRuntime) -> None:
    """/healthz must not answer while the daemon is being constructed (or the database opened): a scrape
    at that moment would miss the queue length and the daemon's own series (issue 13)."""
    port = free_port()
    answered_during_construction: list[bool] = []

    class Probing(StubDaemon):
        constructed: ClassVar[list[StubDaemon]] = []

        @classmethod
        def export_metrics(cls) -> None:  # as the pipeline's daemons do (daemons/base.py)
            export_pipeline_metrics()

        def __init__(self, runtime: Runtime):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
            except urllib.error.URLError:
                answered_during_construction.append(False)
            else:
                answered_during_construction.append(True)
            super().__init__(runtime)

    runtime = make_runtime(Probing, http_addr=f"127.0.0.1:{port}")
    runtime.start()
    assert answered_during_construction == [False], "/healthz answered before the daemon was constructed"
    assert get(runtime, "/healthz") == (200, "ok\n")
    code, text = get(runtime, "/metrics")
    assert code == 200
    assert f'vodtender_daemon_loop_iterations_total{{daemon="{NAME}"}}' in text
    assert 'vodtender_queue_length{stage="discovered"} 0.0' in text


def test_an_address_in_use_is_logged_and_the_daemon_works_on(
    make_runtime: MakeRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    first = make_runtime(stub())
    first.start()
    daemon_cls = stub()
    second = make_runtime(daemon_cls, http_addr=first.http_address() or "")
    second.start()
    assert second.http_address() is None and "cannot serve /metrics" in capsys.readouterr().err
    second.tick()
    assert daemon_cls.constructed[0].steps == 1


# -- a real daemon -------------------------------------------------------------------------------------------
def test_the_uploader_without_credentials_marks_a_downloaded_vod_done(
    make_runtime: MakeRuntime, tmp_path: Path
) -> None:
    runtime = make_runtime(Uploader)
    runtime.start()
    assert isinstance(runtime.daemon, Uploader)
    video = tmp_path / "data" / "1001.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(b"\0" * 1000)
    vod = Vod.create(
        twitch_vod_id="1001",
        channel="somechannel",
        title="A stream",
        date=dt.datetime(2026, 3, 1, 18, 5),
        duration_seconds=3600,
        download_state="downloaded",
        downloaded_path=str(video),
        download_bytes=1000,
        download_total=1000,
    )

    assert runtime.tick() == 5.0
    row = Vod.get_by_id(vod.id)
    assert (row.processed, row.upload_state, row.youtube_url) == (1, "skipped", None)
    assert VodEvent.select().where((VodEvent.vod == vod.id) & (VodEvent.kind == "done")).count() == 1
    assert notifications(runtime, "STATUS=")[-1] == (
        "STATUS=uploading is off (no YT_CLIENT_ID/YT_CLIENT_SECRET): download-only, 1 VOD(s) marked done"
    )
    assert get(runtime, "/readyz") == (200, "ready\n")
    assert video.exists()


class WritingDaemon(StubDaemon):
    """Each step writes a row, the way daemons write."""

    constructed: ClassVar[list[StubDaemon]] = []

    def run_once(self) -> float:
        self.steps += 1
        write(lambda: VodEvent.create(vod=Vod.get_or_create(twitch_vod_id="w", channel="c")[0], stage="s", kind="k"))
        return 30.0


def test_a_step_finding_the_database_locked_gives_up_within_the_bound_and_is_retried_without_backoff(
    make_runtime: MakeRuntime, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = make_runtime(WritingDaemon, "--heartbeat-interval", "10m", watchdog_interval=0.4)
    runtime.start()
    assert runtime.lock_wait_bound() == pytest.approx(0.1)  # an eighth of systemd's 0.8 s watchdog timeout
    holder = sqlite3.connect(db_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        waits = []
        for _ in range(3):
            started = time.monotonic()
            waits.append(runtime.tick())
            assert time.monotonic() - started < 1.0, "the loop waited for the lock"
        assert waits == [min(BUSY_RETRY, 0.4)] * 3  # no growing backoff (capped for the next ping)
        assert VodEvent.select().count() == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert runtime.tick() == 0.4 and VodEvent.select().count() == 1  # the step's 30 s, capped
    log = capsys.readouterr().err
    assert log.count("database busy") == 1 and "database free again, work resumed" in log
    assert "step failed" not in log
