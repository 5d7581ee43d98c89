"""The .deb under real systemd: install, configure, start, watch, reload, stop, upgrade, remove, purge.

One Debian 12 container (systemd as PID 1) per module; the tests run in order on it, like
an operator's day: each step starts from the state the previous one left.  The Twitch and
YouTube stand-ins run inside the container on loopback (it has no other network).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from tests.helpers.processes import REPO
from tests.helpers.unit_secrets import OWN_SECRETS
from tests.standins.ytdlp_hook.sitecustomize import BASE_VARIABLE
from tests.system.container import Container, host_env

pytestmark = pytest.mark.timeout(1800)  # the first run builds the root filesystem and the .deb

DAEMONS = ("poller", "downloader", "uploader", "chat", "recorder", "web")
PORTS = {"poller": 9741, "downloader": 9742, "uploader": 9743, "chat": 9744, "recorder": 9745, "web": 9746}
UNITS = [f"vodtender-{d}.service" for d in DAEMONS]
HELIX_PORT, IRC_PORT, YOUTUBE_PORT = 18001, 18002, 18003
CONF = "/etc/vodtender/conf.d/systemtest.conf"
# Points every daemon at the stand-ins; the two secrets arrive the two documented ways.
SETTINGS = f"""\
twitch-channel = systemtest
twitch-client-id = standin-client-id
twitch-helix-url = http://127.0.0.1:{HELIX_PORT}/helix
twitch-auth-url = http://127.0.0.1:{HELIX_PORT}/oauth2
twitch-irc-addr = 127.0.0.1:{IRC_PORT}
twitch-irc-tls = 0
yt-client-id = test-client-id
youtube-api-url = http://127.0.0.1:{YOUTUBE_PORT}/
youtube-token-url = http://127.0.0.1:{YOUTUBE_PORT}/token
"""
CREDSTORE = "/etc/credstore"
ENV_FILE = "/etc/vodtender/vodtender.env"
# Every secret, three from the credential store and two from the env file: each unit must see only its own.
CREDENTIALS = {
    "twitch-client-secret": "standin-client-secret-1234",
    "encryption-key": "systemtest-token-key",
    "web-token": "systemtest-web-token-5678",
}
ENV_SECRETS = {"YT_CLIENT_SECRET": "test-client-secret", "TWITCH_OAUTH_TOKEN": "systemtest-bot-token"}
UPGRADE_VERSION_SUFFIX = "+systemtest1"


def repack_with_newer_version(deb: Path, folder: Path) -> Path:
    """The same package with a higher version: what an upgrade looks like to dpkg."""
    tree = folder / "upgrade-tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True, env=host_env())
    fields = tree / "DEBIAN" / "control"
    text = fields.read_text()
    found = re.search(r"^Version: (.+)$", text, re.M)
    assert found, text
    version = found.group(1)
    fields.write_text(text.replace(f"Version: {version}", f"Version: {version}{UPGRADE_VERSION_SUFFIX}"))
    new = folder / f"vodtender_{version}{UPGRADE_VERSION_SUFFIX}_upgrade.deb"
    subprocess.run(
        ["dpkg-deb", "-Zgzip", "-z1", "-b", str(tree), str(new)], check=True, env=host_env(), capture_output=True
    )
    shutil.rmtree(tree)
    return new


STANDIN_IMPORTS = (
    "vodtender/__init__.py",
    "vodtender/runtime/__init__.py",
    "vodtender/runtime/httpserver.py",
    "vodtender/runtime/clock.py",
)


@pytest.fixture(scope="module")
def box(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    share = tmp_path_factory.mktemp("share")
    shutil.copy(deb, share / "vodtender.deb")
    repack_with_newer_version(deb, share).rename(share / "vodtender-upgrade.deb")
    standins = share / "src" / "tests" / "standins"
    standins.mkdir(parents=True)
    (share / "src" / "tests" / "__init__.py").touch()
    for module in (REPO / "tests" / "standins").glob("*.py"):
        shutil.copy(module, standins / module.name)
    # The stand-ins share two pieces of the project: the HTTP server and the clock.
    for piece in STANDIN_IMPORTS:
        (share / "src" / piece).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / piece, share / "src" / piece)
    with Container(share) as container:
        yield container


def apt(box: Container, *args: str) -> subprocess.CompletedProcess:
    out = box.run("apt-get", "-y", "-q", "--no-install-recommends", *args, check=False, timeout=600)
    assert out.returncode == 0 and "\nE:" not in "\n" + out.stderr, f"apt-get {args}:\n{out.stdout}\n{out.stderr}"
    return out


def active(box: Container, unit: str) -> bool:
    return box.run("systemctl", "is-active", unit, check=False).stdout.strip() == "active"


def wait_all_active(box: Container, timeout: float = 120) -> None:
    box.wait(
        lambda: all(active(box, u) for u in UNITS),
        timeout=timeout,
        what="all four daemons active:\n"
        + box.sh("systemctl list-units 'vodtender*' --all --no-pager", check=False).stdout,
    )


def failed_units(box: Container) -> str:
    return box.run("systemctl", "list-units", "--failed", "--no-legend", "--plain", "vodtender*").stdout.strip()


def status_text(box: Container, daemon: str) -> str:
    return box.show(f"vodtender-{daemon}.service", "StatusText")


def start_standin(box: Container, name: str, *args: str, python: str = "/usr/bin/python3") -> None:
    box.run(
        "systemd-run",
        f"--unit=standin-{name}",
        "--property=WorkingDirectory=/srv/share/src",
        python,
        "-m",
        f"tests.standins.{name}",
        *args,
    )


def wait_port(box: Container, port: int) -> None:
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1).close()"
    box.wait(
        lambda: box.run("python3", "-c", probe, check=False).returncode == 0,
        timeout=60,
        what=f"a listener on port {port} in the container",
    )


def http_request(box: Container, port: int, path: str, payload: object = None, timeout: float = 10) -> tuple[int, str]:
    """GET `path` on a loopback port inside the container, or POST `payload` as JSON; (status, body)."""
    script = (
        "import sys, urllib.request, urllib.error\n"
        "body = sys.stdin.buffer.read() or None\n"
        f"request = urllib.request.Request('http://127.0.0.1:{port}{path}', data=body, "
        "headers={'Content-Type': 'application/json'})\n"
        f"try:\n    r = urllib.request.urlopen(request, timeout={timeout})\n"
        "    print(r.status); print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n    print(e.code); print(e.read().decode())\n"
    )
    out = box.run("python3", "-c", script, input="" if payload is None else json.dumps(payload)).stdout
    code, _, body = out.partition("\n")
    return int(code), body


def control(box: Container, port: int, path: str, payload: object = None) -> Any:
    """A stand-in's control call, its JSON answer (going live can encode the stream's media first: a longer timeout)."""
    code, body = http_request(box, port, path, payload, timeout=120)
    assert code == 200, f"{path}: {code} {body}"
    return json.loads(body)


# -- install ---------------------------------------------------------------------------------------


def test_install_comes_up_idle_without_configuration_and_nothing_fails(box: Container) -> None:
    out = apt(box, "install", "/srv/share/vodtender.deb")
    assert "Setting up vodtender" in out.stdout
    wait_all_active(box)
    assert box.run("systemctl", "is-enabled", "vodtender.target").stdout.strip() == "enabled"
    assert active(box, "vodtender.target") and active(box, "vodtender-maintenance.timer")
    assert failed_units(box) == ""
    # Unconfigured: the poller says what is missing instead of crash-looping.
    assert "TWITCH_CHANNEL" in status_text(box, "poller")
    for unit in UNITS:
        assert box.show(unit, "NRestarts") == "0", box.journal(unit)
    assert box.run("vodtender", "--version").stdout.startswith("vodtender ")
    assert box.run("zcat", "/usr/share/man/man1/vodtender.1.gz").stdout.startswith(".TH VODTENDER 1")
    # bash completes the installed command, its subcommands included.
    completed = box.run(
        "bash",
        "-c",
        "source /usr/share/bash-completion/completions/vodtender; COMP_WORDS=(vodtender chat export 1 --format ''); "
        "COMP_CWORD=5; _vodtender; printf '%s\\n' \"${COMPREPLY[@]}\"",
    )
    assert "twitchdownloader" in completed.stdout.split(), completed.stdout


def test_package_files_account_and_secret_file_permissions(box: Container) -> None:
    assert box.run("getent", "passwd", "vodtender").stdout.split(":")[5] == "/var/lib/vodtender"
    assert box.run("stat", "-c", "%a %U %G", ENV_FILE).stdout.split() == ["640", "root", "vodtender"]
    conffiles = box.run("dpkg-query", "-W", "-f=${Conffiles}", "vodtender").stdout
    assert "/etc/vodtender/vodtender.conf" in conffiles
    # The conffile documents every option the program knows.
    keys = set(re.findall(r"^#?([a-z0-9-]+) =", box.run("cat", "/etc/vodtender/vodtender.conf").stdout, re.M))
    example = box.run("vodtender", "config", "example").stdout
    assert keys >= set(re.findall(r"^#?([a-z0-9-]+) =", example, re.M))
    for rules in ("prometheus/vodtender-rules.yml", "prometheus/scrape.yml", "grafana/vodtender-dashboard.json"):
        box.run("test", "-s", f"/usr/share/vodtender/{rules}")


def test_units_verify_cleanly_and_are_hardened(box: Container) -> None:
    units = [
        f"/lib/systemd/system/{u}"
        for u in (*UNITS, "vodtender.target", "vodtender-maintenance.service", "vodtender-maintenance.timer")
    ]
    out = box.run("systemd-analyze", "verify", "--man=no", *units, check=False)
    assert (out.returncode, out.stdout + out.stderr) == (0, "")
    for unit in (*UNITS, "vodtender-maintenance.service"):
        report = box.run("systemd-analyze", "security", "--offline=true", unit).stdout
        found = re.search(r"Overall exposure level for \S+: ([\d.]+)", report)
        assert found and float(found.group(1)) <= 2.0, report


# -- configured and running ------------------------------------------------------------------------


def test_configured_target_starts_all_four_ready_with_status(box: Container) -> None:
    start_standin(box, "helix", "--port", str(HELIX_PORT))
    start_standin(box, "irc", "--port", str(IRC_PORT))
    start_standin(box, "youtube", "--port", str(YOUTUBE_PORT))
    for port in (HELIX_PORT, IRC_PORT, YOUTUBE_PORT):
        wait_port(box, port)
    box.write(CONF, SETTINGS)
    for name, secret in CREDENTIALS.items():
        box.write(f"{CREDSTORE}/vodtender.{name}", secret + "\n", mode="0600")
    box.sh(f"printf '%s\\n' {' '.join(f'{k}={v}' for k, v in ENV_SECRETS.items())} >> {ENV_FILE}")
    box.run("systemctl", "stop", "vodtender.target")
    box.run("systemctl", "start", "vodtender.target")
    wait_all_active(box)
    for daemon in DAEMONS:
        unit = f"vodtender-{daemon}.service"
        # Type=notify: "active (running)" only after READY=1; STATUS= is shown by systemctl status.
        assert (box.show(unit, "Type"), box.show(unit, "SubState")) == ("notify", "running")
        assert status_text(box, daemon)
        # Read twice, while chat may still be joining: the same text once it holds still.
        box.wait(
            lambda daemon=daemon, unit=unit: (
                f'Status: "{status_text(box, daemon)[:40]}'
                in box.run("systemctl", "status", "--no-pager", "--lines=0", unit, check=False).stdout
            ),
            timeout=30,
            what=f"systemctl status {unit} to show its STATUS=",
        )
    assert "TWITCH_CLIENT_SECRET" not in status_text(box, "poller")
    assert "TWITCH_CHANNEL" not in status_text(box, "poller")
    assert failed_units(box) == ""
    # The operator's commands see the running service without flags, from any directory, as root or
    # as vodtender, and leave nothing behind where they were run.
    listing = "ls -A / /root"
    before = box.sh(listing).stdout
    report = json.loads(box.sh("cd / && vodtender status --json", check=False).stdout)
    assert report["read"]["database"] == "/var/lib/vodtender/vodtender.db"
    assert "/etc/vodtender/vodtender.env" in report["read"]["config_files"]
    states = {d["name"]: d["state"] for d in report["daemons"]}
    assert set(states) == set(DAEMONS) and "down" not in states.values(), states  # idle: no token, no LIVE_RECORD
    assert box.sh("cd /root && runuser -u vodtender -- vodtender vods", check=False).returncode == 0
    assert box.sh(listing).stdout == before


def secrets_seen(box: Container, daemon: str) -> set[str]:
    """The secrets in the main process's environment and its credentials folder, by credential name."""
    unit = f"vodtender-{daemon}.service"
    environ = set(box.run("cat", f"/proc/{box.show(unit, 'MainPID')}/environ").stdout.split("\0"))
    in_env = {k.lower().replace("_", "-") for k, v in ENV_SECRETS.items() if f"{k}={v}" in environ}
    return in_env | set(box.run("ls", "-A", f"/run/credentials/{unit}", check=False).stdout.split())


def test_each_unit_gets_only_its_own_secrets(box: Container) -> None:
    for daemon in DAEMONS:
        assert secrets_seen(box, daemon) == OWN_SECRETS[daemon], daemon
    # The maintenance job's own environment is looked at while it runs, below.


def test_every_daemon_serves_metrics(box: Container) -> None:
    for daemon, port in PORTS.items():
        code, body = http_request(box, port, "/metrics")
        assert code == 200, daemon
        assert f'vodtender_daemon_ready{{daemon="{daemon}"}}' in body
        assert http_request(box, port, "/healthz")[0] == 200


def test_recorder_without_live_record_is_ready_and_says_it_is_idle(box: Container) -> None:
    # Active, READY (Type=notify), serving /metrics and /healthz: asserted above for every daemon.
    assert status_text(box, "recorder") == "idle: LIVE_RECORD is empty"
    assert http_request(box, PORTS["recorder"], "/readyz")[0] == 200
    assert 'recorder idle reason="LIVE_RECORD is empty"' in box.journal("vodtender-recorder.service", "-o", "cat")


def test_the_web_viewer_serves_the_archive_on_loopback_and_refuses_actions(box: Container) -> None:
    assert status_text(box, "web") == "serving http://127.0.0.1:9746 (loopback, no sign-in)"
    code, body = http_request(box, PORTS["web"], "/api/vods")
    assert code == 200 and set(json.loads(body)) == {"vods", "total", "limit", "offset"}
    assert http_request(box, PORTS["web"], "/")[0] == 200
    # without WEB_AUTH nobody signs in, so nobody acts (the web-token credential alone does not sign in)
    assert http_request(box, PORTS["web"], "/vods/1/actions/cancel", payload={})[0] == 403


# Run before the job in its unit, so with its environment, credentials and sandbox.
ENV_PROBE = """#!/bin/sh
tr '\\0' '\\n' < /proc/$$/environ | sed 's/^/probe-env: /'
echo "probe-env: credentials ${CREDENTIALS_DIRECTORY:-none}"
"""


def test_maintenance_job_runs_in_its_sandbox_while_the_daemons_write(box: Container) -> None:
    unit = "vodtender-maintenance.service"
    probe_drop_in = f"/run/systemd/system/{unit}.d/probe-env.conf"
    box.write("/usr/local/bin/probe-env", ENV_PROBE, mode="0755")
    box.write(probe_drop_in, "[Service]\nExecStartPre=/usr/local/bin/probe-env\n")
    box.run("systemctl", "daemon-reload")
    try:
        out = box.run("systemctl", "start", unit, check=False, timeout=600)
    finally:
        box.run("rm", probe_drop_in)
        box.run("systemctl", "daemon-reload")
    assert out.returncode == 0 and box.show(unit, "Result") == "success", box.journal(unit)
    probed = [line for line in box.journal(unit, "-o", "cat").splitlines() if line.startswith("probe-env: ")]
    assert "probe-env: credentials none" in probed and len(probed) > 3
    assert not [line for line in probed for v in (*CREDENTIALS.values(), *ENV_SECRETS.values()) if v in line]
    assert box.show(unit, "PrivateNetwork") == "yes"  # the generator's drop-in: the database is SQLite
    assert box.sh("ls /var/lib/vodtender/backups/vodtender-*.db").stdout.strip()
    assert box.run("stat", "-c", "%U", "/var/lib/vodtender/backups").stdout.strip() == "vodtender"
    # what the service creates: group vodtender reads, others never (UMask=0027, runtime/files.py)
    modes = box.sh(
        "stat -c '%a %G' /var/lib/vodtender/vodtender.db /var/lib/vodtender/vodtender.db-wal "
        "/var/lib/vodtender/backups /var/lib/vodtender/backups/vodtender-*.db | sort -u"
    ).stdout.split("\n")
    assert sorted(line for line in modes if line) == ["640 vodtender", "750 vodtender"]


def test_reload_rereads_configuration(box: Container) -> None:
    unit = "vodtender-downloader.service"
    pid = box.show(unit, "MainPID")
    for line, problems in (("download-max-attempts = many", 1), (None, 0)):
        if line:
            box.sh(f"echo '{line}' >> {CONF}")
        else:
            box.run("sed", "-i", "/download-max-attempts/d", CONF)
        box.run("systemctl", "reload", "vodtender.target")
        box.wait(
            lambda problems=problems: last_reload(box, unit) == f"problems={problems}",
            timeout=60,
            what=f"the downloader to re-read its configuration ({problems} problems)",
        )
    assert box.show(unit, "MainPID") == pid  # reloaded in place
    for other in UNITS:
        assert "configuration reloaded" in box.journal(other), other
        assert box.show(other, "NRestarts") == "0"


def last_reload(box: Container, unit: str) -> str | None:
    found = re.findall(r"configuration reloaded (problems=\d+)", box.journal(unit, "-o", "cat"))
    return found[-1] if found else None


def test_journal_priority_filter(box: Container) -> None:
    unit = "vodtender-downloader.service"
    box.sh(f"echo 'download-max-attempts = many' >> {CONF}")  # a bad value: the daemon comes up idle, warns
    box.run("systemctl", "restart", unit)
    box.wait(lambda: "DOWNLOAD_MAX_ATTEMPTS" in status_text(box, "downloader"), what="the idle downloader")
    everything = box.journal(unit, "-o", "cat")
    warnings = box.journal(unit, "-p", "warning", "-o", "json")
    entries = [json.loads(line) for line in warnings.splitlines() if line.strip()]
    assert entries and all(int(e["PRIORITY"]) <= 4 for e in entries)
    assert any("DOWNLOAD_MAX_ATTEMPTS" in str(e.get("MESSAGE")) for e in entries)
    assert "downloader starting" in everything and "downloader starting" not in warnings
    box.run("sed", "-i", "/download-max-attempts/d", CONF)
    box.run("systemctl", "restart", unit)
    wait_all_active(box)


def test_frozen_daemon_is_killed_by_the_watchdog_and_restarted(box: Container) -> None:
    unit = "vodtender-chat.service"
    box.write(f"/etc/systemd/system/{unit}.d/test-watchdog.conf", "[Service]\nWatchdogSec=5s\nRestartSec=1s\n")
    box.run("systemctl", "daemon-reload")
    box.run("systemctl", "restart", unit)
    box.wait(lambda: active(box, unit), what="chat active")
    frozen = box.show(unit, "MainPID")
    box.run("kill", "-STOP", frozen)
    box.wait(
        lambda: (
            box.show(unit, "NRestarts") == "1" and active(box, unit) and box.show(unit, "MainPID") not in ("0", frozen)
        ),
        timeout=90,
        what="a watchdog restart",
    )
    assert "Watchdog timeout" in box.journal(unit)
    box.run("rm", "-r", f"/etc/systemd/system/{unit}.d")
    box.run("systemctl", "daemon-reload")


# -- a live recording across a stop and a start ----------------------------------------------------

TWITCH_PORT = 18004
LIVE_CHANNEL = "systemtest"
STREAM_ID = "4501"
# A tiny rendition at twice real time: a segment a second.  The window lists 30 s of it, far longer than
# a stop and a start of the target take, so the started recorder goes on right after its last segment.
LIVE_STREAM = {
    "channel": LIVE_CHANNEL,
    "stream_id": STREAM_ID,
    "spec": {"rendition": {"name": "1080p60", "size": "160x90"}, "speed": 2.0, "window": 30, "total_segments": 60},
}
SEGMENT_SECONDS = 2  # LiveSpec's default
# Segments (~50 kB) trickle out over some 3 s each, so the recorder is nearly always fetching some.
SLOW_SEGMENTS = {"pattern": f"v1/segment/{STREAM_ID}/*", "rate": 15_000}
LIVE_SETTINGS = f"live-record = {LIVE_CHANNEL}\nchat-auto-poll-interval = 2s\n"
# The recorder's sandbox hides /tmp and /root, and the share is root's 0700 folder; /usr/local it can read.
HOOK_DIR = "/usr/local/lib/vodtender-systemtest"
RECORDER = "vodtender-recorder.service"
RECORDER_DROP_INS = f"/etc/systemd/system/{RECORDER}.d"
DATABASE = "/var/lib/vodtender/vodtender.db"
PART_AT_STOP = "/var/tmp/recording-at-stop.ts"  # a copy of the part as the stop left it
# The Twitch stand-in signs tokens with `cryptography`: the package's private venv has it, Debian's python3 here not.
PACKAGE_PYTHON = "/usr/lib/vodtender/bin/python3"


def recording(box: Container) -> dict[str, Any] | None:
    """The stream's `recordings` row, read as the daemons' user (a root-owned -wal or -shm would lock them out)."""
    query = f"SELECT * FROM recordings WHERE stream_id = '{STREAM_ID}'"
    out = box.run("runuser", "-u", "vodtender", "--", "sqlite3", "-json", DATABASE, query).stdout
    rows = json.loads(out or "[]")
    return rows[0] if rows else None


def wait_for_recording(box: Container, wanted: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    return cast(
        dict[str, Any],
        box.wait(lambda: (row := recording(box)) is not None and wanted(row) and row, timeout=90, what=what),
    )


def segments_requested(box: Container) -> int:
    """How many of the stream's segments the recorder has asked the Twitch stand-in for."""
    requests = control(box, TWITCH_PORT, "/_control/requests")
    return len({path for path, _ in requests if path.startswith(f"v1/segment/{STREAM_ID}/")})


def fetching_past_the_part(box: Container) -> bool:
    """6 s recorded and a segment asked for that the part does not hold yet: a stop now finds it in flight."""
    row = recording(box)
    return row is not None and row["seconds"] >= 6 and segments_requested(box) * SEGMENT_SECONDS > row["seconds"]


def decode_errors(box: Container, path: str) -> str:
    """What ffmpeg says decoding the whole file ("" for a clean file)."""
    out = box.run("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-", check=False)
    return out.stderr.strip() or ("" if out.returncode == 0 else f"ffmpeg rc {out.returncode}")


def file_size(box: Container, path: str) -> int:
    return int(box.run("stat", "-c", "%s", path).stdout)


def test_stopping_the_target_mid_recording_leaves_a_released_playable_part(box: Container) -> None:
    start_standin(box, "twitch", "--root", "/var/lib/twitch-standin", "--port", str(TWITCH_PORT), python=PACKAGE_PYTHON)
    wait_port(box, TWITCH_PORT)
    hook = (REPO / "tests" / "standins" / "ytdlp_hook" / "sitecustomize.py").read_text()
    box.write(f"{HOOK_DIR}/sitecustomize.py", hook)
    box.write(
        f"{RECORDER_DROP_INS}/test-twitch-standin.conf",
        f"[Service]\nEnvironment=PYTHONPATH={HOOK_DIR}\nEnvironment={BASE_VARIABLE}=http://127.0.0.1:{TWITCH_PORT}\n",
    )
    box.write(CONF, SETTINGS + LIVE_SETTINGS)
    control(box, TWITCH_PORT, "/_control/rules", SLOW_SEGMENTS)
    control(box, TWITCH_PORT, "/_control/live", LIVE_STREAM)
    control(box, HELIX_PORT, "/control/add_user", {"login": LIVE_CHANNEL})
    control(box, HELIX_PORT, "/control/go_live", {"login": LIVE_CHANNEL, "stream_id": STREAM_ID})
    box.run("systemctl", "daemon-reload")
    box.run("systemctl", "restart", "vodtender.target")
    wait_all_active(box)
    box.wait(lambda: fetching_past_the_part(box), timeout=120, what="6 s recorded and the next segment on its way")
    assert status_text(box, "recorder").startswith(f"recording {LIVE_CHANNEL} ")
    invocation = box.show(RECORDER, "InvocationID")

    box.run("systemctl", "stop", "vodtender.target")
    box.wait(
        lambda: box.run("systemctl", "is-active", RECORDER, check=False).stdout.strip() in ("inactive", "failed"),
        timeout=150,
        what="the recorder to stop",
    )
    # It exited by itself within TimeoutStopSec: SIGKILL after it reads Result=timeout, ExecMainCode=2 (killed).
    assert (box.show(RECORDER, "Result"), box.show(RECORDER, "ExecMainCode")) == ("success", "1")
    assert box.show(RECORDER, "ExecMainStatus") == "0"
    said = box.run("journalctl", "--no-pager", "-o", "cat", f"_SYSTEMD_INVOCATION_ID={invocation}").stdout
    assert re.search(rf'recording paused stream_id={STREAM_ID} reason="shutting down"', said), said
    assert "recorder stopped" in said
    row = recording(box)
    assert row is not None and row["lease_owner"] is None, row  # released: the next start takes it at once
    assert row["state"] == "recording" and row["part_path"], row  # still to go on, from its part
    assert file_size(box, row["part_path"]) == row["bytes"] > 0
    assert decode_errors(box, row["part_path"]) == ""
    box.run("cp", row["part_path"], PART_AT_STOP)


def test_the_started_recorder_goes_on_and_the_finished_file_holds_everything_recorded(box: Container) -> None:
    kept = file_size(box, PART_AT_STOP)
    box.run("systemctl", "start", "vodtender.target")
    wait_all_active(box)
    wait_for_recording(
        box, lambda row: row["lease_owner"] is not None and row["bytes"] > kept, "the recording to go on"
    )
    control(box, TWITCH_PORT, f"/_control/live/{LIVE_CHANNEL}/end", {})
    control(box, HELIX_PORT, "/control/go_offline", {"login": LIVE_CHANNEL})
    row = wait_for_recording(box, lambda row: row["state"] in ("finished", "failed"), "the recording to end")
    assert row["state"] == "finished", row["error"]
    assert row["gaps"] is None  # the window still listed the segment after the last one recorded
    assert file_size(box, row["path"]) == row["bytes"]
    assert decode_errors(box, row["path"]) == ""
    # Nothing recorded before the stop is lost: the file begins with exactly those bytes.
    assert box.run("cmp", "-n", str(kept), PART_AT_STOP, row["path"], check=False).returncode == 0
    assert "recording finished" in box.journal(RECORDER, "-o", "cat")
    box.run("rm", "-r", PART_AT_STOP, HOOK_DIR, RECORDER_DROP_INS)
    box.write(CONF, SETTINGS)
    box.run("systemctl", "daemon-reload")


def test_stopping_the_target_stops_everything_cleanly(box: Container) -> None:
    box.run("systemctl", "stop", "vodtender.target")  # returns once the target is down; the daemons follow
    for daemon in DAEMONS:
        unit = f"vodtender-{daemon}.service"
        box.wait(
            lambda unit=unit: box.run("systemctl", "is-active", unit, check=False).stdout.strip() == "inactive",
            timeout=150,
            what=f"{unit} to stop",
        )
        assert box.show(unit, "Result") == "success"
        assert f"{daemon} stopped" in box.journal(unit)
    assert failed_units(box) == ""


# -- upgrade, remove, purge ------------------------------------------------------------------------


def test_upgrade_restarts_daemons_and_keeps_database_and_edited_config(box: Container) -> None:
    box.run("systemctl", "start", "vodtender.target")
    wait_all_active(box)
    box.run(
        "runuser",
        "-u",
        "vodtender",
        "--",
        "sqlite3",
        "/var/lib/vodtender/vodtender.db",
        "INSERT INTO kv (key, value) VALUES ('systemtest', 'kept')",
    )
    box.sh("echo '# edited by the operator' >> /etc/vodtender/vodtender.conf")
    before = {u: box.show(u, "MainPID") for u in UNITS}
    apt(box, "install", "/srv/share/vodtender-upgrade.deb")
    assert box.run("dpkg-query", "-W", "-f=${Version}", "vodtender").stdout.endswith(UPGRADE_VERSION_SUFFIX)
    wait_all_active(box)
    for unit in UNITS:
        assert box.show(unit, "MainPID") != before[unit], f"{unit} was not restarted"
    kept = box.run("sqlite3", "/var/lib/vodtender/vodtender.db", "SELECT value FROM kv WHERE key='systemtest'")
    assert kept.stdout.strip() == "kept"
    assert "# edited by the operator" in box.run("cat", "/etc/vodtender/vodtender.conf").stdout
    assert box.run("stat", "-c", "%a %G", ENV_FILE).stdout.split() == ["640", "vodtender"]
    assert failed_units(box) == ""


def test_remove_stops_everything_and_keeps_configuration(box: Container) -> None:
    box.run("mkdir", "-p", "/var/lib/vodtender/data/systemtest")
    box.run("sh", "-c", "echo video > /var/lib/vodtender/data/systemtest/vod.mp4")
    apt(box, "remove", "vodtender")
    for unit in UNITS:
        assert not active(box, unit)
    assert box.run("pgrep", "-f", "/usr/bin/vodtender", check=False).returncode == 1
    box.run("test", "-f", "/etc/vodtender/vodtender.conf")
    box.run("test", "!", "-e", "/usr/bin/vodtender")


def test_purge_removes_configuration_and_links_but_keeps_the_archive(box: Container) -> None:
    out = apt(box, "purge", "vodtender")
    assert "archive in /var/lib/vodtender" in out.stdout + out.stderr
    leftovers = box.sh(
        "find /etc/systemd /lib/systemd/system /var/lib/systemd/deb-systemd-helper-enabled "
        "/etc/vodtender /etc/credstore /var/cache/vodtender /usr/lib/vodtender "
        "-name '*vodtender*' 2>/dev/null",
        check=False,
    ).stdout
    assert leftovers.strip() == ""
    box.run("test", "!", "-e", "/etc/vodtender")
    assert (
        box.run("dpkg-query", "-W", "vodtender", check=False).returncode != 0
        or "not-installed" in box.run("dpkg-query", "-W", "-f=${Status}", "vodtender", check=False).stdout
    )
    # The user's data survives: database (with its rows), videos.
    kept = box.run("sqlite3", "/var/lib/vodtender/vodtender.db", "SELECT value FROM kv WHERE key='systemtest'")
    assert kept.stdout.strip() == "kept"
    box.run("test", "-f", "/var/lib/vodtender/data/systemtest/vod.mp4")
    assert failed_units(box) == ""


def test_purge_removes_the_archive_only_when_asked(box: Container) -> None:
    apt(box, "install", "/srv/share/vodtender.deb")
    wait_all_active(box)
    box.run("touch", "/var/lib/vodtender/purge-archive")
    apt(box, "purge", "vodtender")
    box.run("test", "!", "-e", "/var/lib/vodtender")
    assert failed_units(box) == ""
