"""The runbook's scenarios and SQL, played against the four daemons running as processes.

Each test breaks or inspects the service the way the scenario describes, checks that the
symptom the runbook names shows (log line, `vodtender status`), applies the runbook's action
(its SQL through the `sqlite3` shell, its commands), and checks that the pipeline recovers.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.e2e.harness import VOD_SEGMENTS, FakeTwitch, Stream, archived, vod_row, wait_archived, wait_placeholder
from tests.e2e.stack import Stack, config_text
from tests.helpers.processes import run_cli, wait_until
from tests.integration.operator.runbook import sql_statements
from vodtender.runtime.models import KV, ChatMessage

# the runbook's reset, its clearing of the breaker (the runbook has other DELETEs: the holds, the private
# lock) and its queueing of a VOD by hand
RESET, CLEAR_BREAKER, QUEUE = (
    next(s for s in sql_statements() if s.startswith(verb) and word in s)
    for verb, word in (("UPDATE", "youtube_url=NULL"), ("DELETE", "circuit_state"), ("INSERT", "INTO vods"))
)


def sqlite3_shell(stack: Stack, statement: str) -> None:
    """The runbook's way: the sqlite3 shell on the live database."""
    result = subprocess.run(
        ["sqlite3", "-cmd", ".timeout 5000", stack.dsn, statement], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not result.stderr, result.stderr


def status(stack: Stack) -> tuple[int, dict]:
    result = run_cli(stack.workdir, "status", "--json", env=stack.env)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def problems(report: dict) -> str:
    return "\n".join(f["message"] for f in report["attention"] if f["level"] == "problem")


def publish(world: FakeTwitch, login: str, segments: int = 6) -> Stream:
    """A finished stream's VOD appears on Helix (the poller's next backfill finds it)."""
    channel = next(c for c in world.channels if c.login == login)
    stream = world.plan_stream(channel, live_for=600, segments=segments)
    world.publish_vod(stream)
    return stream


def reconfigure(stack: Stack, **settings: str) -> None:
    """Edit vodtender.conf and `systemctl reload` (SIGHUP) the running daemons."""
    stack.settings.update(settings)
    (stack.workdir / "etc" / "vodtender.conf").write_text(config_text(stack.settings))
    for process in stack.processes.values():
        process.signal(signal.SIGHUP)


def assert_clean_logs(stack: Stack) -> None:
    assert not stack.forbidden_log_lines(), stack.forbidden_log_lines()


def test_reset_by_sql_processes_the_vod_again(world: FakeTwitch, make_stack) -> None:
    world.add_channel("alice")
    stack = make_stack()
    stack.start_all(("poller", "downloader", "uploader"))
    stream = publish(world, "alice")
    with stack.database():
        wait_archived([stream], timeout=120)
        path = Path(vod_row(stream.vod_id).downloaded_path)
        written = path.stat().st_mtime_ns
        assert len(world.uploads_of(stream)) == 1

        # file still there: back to the upload stage, uploaded again, not downloaded again
        sqlite3_shell(stack, RESET.replace("'...'", f"'{stream.vod_id}'"))
        wait_until(
            lambda: len(world.uploads_of(stream)) == 2 and archived(stream), 120, interval=0.5, what="the second upload"
        )
        assert path.stat().st_mtime_ns == written

        # file gone: downloaded again, then uploaded again
        path.unlink()
        sqlite3_shell(stack, RESET.replace("'...'", f"'{stream.vod_id}'"))
        wait_until(
            lambda: len(world.uploads_of(stream)) == 3 and archived(stream),
            180,
            interval=0.5,
            what="the download and third upload",
        )
        assert Path(vod_row(stream.vod_id).downloaded_path).exists()
    assert_clean_logs(stack)


def test_a_vod_queued_by_the_runbooks_insert_is_archived(world: FakeTwitch, make_stack) -> None:
    world.add_channel("alice")
    stack = make_stack()
    stack.start_all(("downloader", "uploader"))  # no poller: only the INSERT queues the VOD
    stream = publish(world, "alice")
    queue = QUEUE.replace("'...'", f"'{stream.vod_id}'").replace("'channel'", "'alice'")
    sqlite3_shell(stack, queue.replace("'title'", f"'{stream.title}'"))
    with stack.database():
        wait_archived([stream], timeout=120)
    assert len(world.uploads_of(stream)) == 1
    assert_clean_logs(stack)


def test_clearing_the_breaker_by_sql_resumes_processing(world: FakeTwitch, make_stack) -> None:
    world.add_channel("alice")
    stack = make_stack(CIRCUIT_OPEN_COOLDOWN="1h")
    with stack.database():
        for key, value in (
            ("circuit_state", "open"),
            ("circuit_failures", "5"),
            ("circuit_open_until", f"{time.time() + 3600:.3f}"),
        ):
            KV.create(key=key, value=value)
    stack.start_all(("poller", "downloader", "uploader"))
    stream = publish(world, "alice")
    with stack.database():
        wait_until(lambda: vod_row(stream.vod_id), 60, interval=0.2, what="the poller to list the VOD")
        stack.processes["downloader"].wait_for_log("circuit open", timeout=30)  # its STATUS/heartbeat says so
        code, report = status(stack)
        assert code == 1 and report["breaker"]["state"] == "open" and "circuit breaker open" in problems(report)
        assert vod_row(stream.vod_id).download_state == "discovered"

        sqlite3_shell(stack, CLEAR_BREAKER)
        wait_archived([stream], timeout=120)
        assert status(stack)[1]["breaker"]["state"] == "closed"
    assert_clean_logs(stack)


def test_too_little_disk_idles_the_downloader_then_fixed_it_works_without_a_reset(
    world: FakeTwitch, make_stack
) -> None:
    # A disk-space problem is found before any claim now: the downloader idles and says why,
    # instead of failing downloads until the breaker opens (the breaker stays for failures mid-work).
    world.add_channel("alice")
    stack = make_stack(DOWNLOAD_MIN_FREE="1000T", CIRCUIT_FAILURE_THRESHOLD="1", CIRCUIT_OPEN_COOLDOWN="1h")
    stack.start_all(("poller", "downloader", "uploader"))
    stream = publish(world, "alice")
    stack.processes["downloader"].wait_for_log("nothing is claimed until this is fixed", timeout=90)
    reconfigure(stack, DOWNLOAD_MIN_FREE="64K")  # the root cause: a disk-space setting
    with stack.database():
        wait_archived([stream], timeout=120)
    assert status(stack)[1]["breaker"]["state"] == "closed"
    assert_clean_logs(stack)


def test_chat_not_recording_until_configured(world: FakeTwitch, make_stack) -> None:
    world.add_channel("alice")
    stack = make_stack(CHAT_AUTO_START="0")
    stack.start_all(("chat",))
    stack.processes["chat"].wait_for_log("chat recorder disabled", timeout=30)  # the runbook's symptom

    def chat_shown() -> tuple[str, bool, str]:
        report = status(stack)[1]
        state = {d["name"]: d["state"] for d in report["daemons"]}["chat"]
        return state, report["chat"][0]["connected"], "\n".join(f["message"] for f in report["attention"])

    wait_until(
        lambda: "chat recorder disabled: CHAT_AUTO_START is 0" in chat_shown()[2],
        30,
        interval=0.5,
        what="status to report chat off",
    )
    assert chat_shown()[1] is False

    reconfigure(stack, CHAT_AUTO_START="1", TWITCH_BOT_USERNAME="archivebot")  # a bot without its token
    wait_until(lambda: chat_shown()[0] == "idle", 30, interval=0.5, what="status to show chat idle")
    code, report = status(stack)
    assert code == 1 and "chat is idle" in problems(report) and "TWITCH_OAUTH_TOKEN" in problems(report)

    reconfigure(stack, TWITCH_BOT_USERNAME="")  # the runbook's action: both, or neither (anonymous)
    world.irc.wait_joined("alice", timeout=60)
    wait_until(lambda: chat_shown()[:2] == ("up", True), 30, interval=0.5, what="chat recording")
    assert_clean_logs(stack)


def test_placeholder_that_never_reconciles_is_reported(world: FakeTwitch, make_stack) -> None:
    alice = world.add_channel("alice")
    stack = make_stack(VOD_RECONCILE_DELAY="1s", VOD_RECONCILE_WINDOW="3s")
    stack.start_all(("poller",))
    stream = world.plan_stream(alice, live_for=120)
    world.go_live(stream)
    with stack.database():
        wait_placeholder(stream)
        world.go_offline(stream)  # and no VOD ever appears
        stack.processes["poller"].wait_for_log("placeholder never reconciled", timeout=90)
        code, report = status(stack)
    assert code == 1
    assert report["catalog"][0]["unreconciled_placeholders"] == [stream.placeholder_id]
    assert "never matched a VOD" in problems(report)
    assert_clean_logs(stack)


def test_youtube_uploads_missing_until_authorized(world: FakeTwitch, tmp_path: Path) -> None:
    world.add_channel("alice")
    stack = Stack(tmp_path / "no-tokens", world.settings(), env=world.environment())  # never ran `auth youtube`
    stack.migrate()
    try:
        stack.start_all(("poller", "downloader", "uploader"))
        stream = publish(world, "alice")
        with stack.database():
            wait_until(
                lambda: (vod_row(stream.vod_id) or None) and vod_row(stream.vod_id).download_state == "downloaded",
                120,
                interval=0.5,
                what="the download",
            )
            assert vod_row(stream.vod_id).youtube_url is None  # the symptom
            code, report = status(stack)
            assert code == 1 and "no YouTube token: run vodtender auth youtube" in problems(report)
            doctor = run_cli(stack.workdir, "doctor", env=stack.env)
            assert "FAIL  youtube token" in doctor.stdout and "fix: run vodtender auth youtube" in doctor.stdout
            world.seed_youtube_tokens(stack)  # what `vodtender auth youtube` stores
            wait_archived([stream], timeout=120)
        assert_clean_logs(stack)
    finally:
        stack.kill_all()


def test_slow_download_shows_progress_speed_and_eta(world: FakeTwitch, make_stack) -> None:
    world.add_channel("alice")
    world.twitch.add_rule(VOD_SEGMENTS, rate=40_000)  # a slow network
    stack = make_stack()
    stack.start_all(("poller", "downloader"))
    stream = publish(world, "alice", segments=20)

    def in_flight() -> dict | None:
        flights = [f for f in status(stack)[1]["in_flight"] if f["twitch_vod_id"] == stream.vod_id]
        return flights[0] if flights and flights[0]["bytes_done"] > 0 and flights[0]["speed_bytes_per_second"] else None

    flight = wait_until(in_flight, 120, interval=1.0, what="the download in flight with progress")
    assert flight["stage"] == "downloading" and not flight["stalled"]
    text = run_cli(stack.workdir, "status", env=stack.env).stdout
    assert stream.vod_id in text and "/s" in text and "eta" in text
    shown = run_cli(stack.workdir, "show", stream.vod_id, env=stack.env).stdout
    assert "download_state: downloading" in shown
    world.twitch.clear_rules()
    assert_clean_logs(stack)


def committed_chat_ids(stack: Stack) -> set[str]:
    conn = sqlite3.connect(stack.dsn, timeout=30)
    try:
        return {row[0] for row in conn.execute("SELECT msg_id FROM chat_messages")}
    finally:
        conn.close()


def test_maintenance_while_all_four_daemons_write(world: FakeTwitch, make_stack, seed: int) -> None:
    """Integrity check, VACUUM and the online backup during a chat flood and a download: no daemon errs,
    and each backup opens, passes integrity_check and holds every chat row committed before it began."""
    alice = world.add_channel("alice")
    stack = make_stack(BACKUP_KEEP="5")
    stack.start_all()
    world.twitch.add_rule(VOD_SEGMENTS, rate=150_000)  # keep the download going during maintenance
    live = world.plan_stream(alice, live_for=120)
    with stack.database():
        world.go_live(live)
        wait_placeholder(live)
        world.irc.wait_joined("alice", timeout=60)
        time.sleep(3)  # the recorder binds chat to the placeholder
        world.start_chat(live, rate=400, seed=seed)
        older = publish(world, "alice", segments=30)
        wait_until(
            lambda: (vod_row(older.vod_id) or None) and vod_row(older.vod_id).download_bytes > 0,
            120,
            interval=0.5,
            what="the download to be writing",
        )
        wait_until(lambda: ChatMessage.select().count() > 500, 60, interval=0.5, what="the chat flood")
        for round_ in range(2):
            before = committed_chat_ids(stack)
            result = run_cli(stack.workdir, "maintenance", "--vacuum", "always", env=stack.env, timeout=300)
            assert result.returncode == 0, result.stderr
            assert "integrity check ok" in result.stderr and "vacuum done" in result.stderr
            backup = sorted((stack.workdir / "backups").glob("vodtender-*.db"))[-1]
            conn = sqlite3.connect(backup)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            in_backup = {row[0] for row in conn.execute("SELECT msg_id FROM chat_messages")}
            conn.close()
            assert before <= in_backup, f"round {round_}: {len(before - in_backup)} committed rows missing"
            assert ChatMessage.select().count() > len(before)  # the flood went on meanwhile
        world.stop_chat(live)
        world.twitch.clear_rules()
    assert_clean_logs(stack)
    for name in stack.processes:
        errors = [line for line in stack.log(name).splitlines() if line.startswith(("<2>", "<3>"))]
        assert not errors, f"{name}: {errors[:5]}"
