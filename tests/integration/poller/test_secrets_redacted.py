"""A token endpoint that echoes the posted form, client secret and all: the poller, a real process, lets the
secret out through none of its channels (log, STATUS=, /readyz, heartbeat row), nor does `vodtender status`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import peewee

from tests.helpers.notify import NotifySocket
from tests.helpers.processes import DaemonProcess, base_env, run_cli, wait_until
from tests.standins.helix import HelixStandin
from vodtender.runtime.models import DaemonHeartbeat, Recording, Vod, VodEvent

REJECTED = "Helix credentials rejected"


def test_an_echoed_client_secret_leaves_the_poller_masked_everywhere(
    migrated_db: peewee.Database,
    db_dsn: str,
    workdir: Path,
    tmp_path: Path,
    helix: HelixStandin,
    start_poller: Callable[..., DaemonProcess],
) -> None:
    helix.add_user("alice")
    helix.echo_form_next(times=1000)
    secret = helix.client_secret
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        poller = start_poller(NOTIFY_SOCKET=str(notify.path))
        poller.wait_for_log("helix credentials rejected", timeout=30)
        assert "malformed request: client_id=" in poller.log(), "the stand-in must have echoed the form"
        wait_until(
            lambda: any(REJECTED in line for line in notify.lines("STATUS=")), timeout=15, what="STATUS= saying why"
        )
        status, readyz = poller.http("/readyz")
        assert status == 503 and REJECTED in readyz
        heartbeats = wait_until(
            lambda: [row.status for row in DaemonHeartbeat.select() if REJECTED in row.status],
            timeout=15,
            what="the heartbeat row saying why",
        )
        # An operator's shell without the secret configured: what the poller stored must already be masked.
        cli_env = base_env(workdir, DB_DSN=db_dsn, TWITCH_CHANNEL="alice")
        text = run_cli(workdir, "status", "--color", "never", env=cli_env)
        as_json = run_cli(workdir, "status", "--json", env=cli_env)
        assert REJECTED in text.stdout and REJECTED in json.dumps(json.loads(as_json.stdout))
        assert poller.proc is not None and poller.proc.poll() is None
    finally:
        notify.close()
    stored = [v.processing_error or "" for v in Vod.select()]
    stored += [e.message or "" for e in VodEvent.select()] + [r.error or "" for r in Recording.select()]
    channels = {
        "log": poller.log(),
        "STATUS=": "\n".join(notify.lines("STATUS=")),
        "/readyz": readyz,
        "heartbeat row": "\n".join(heartbeats),
        "status": text.stdout + text.stderr,
        "status --json": as_json.stdout + as_json.stderr,
        "stored errors and events": "\n".join(stored),
    }
    leaked = [name for name, output in channels.items() if secret in output]
    assert leaked == [], f"the client secret in full in: {', '.join(leaked)}"
    assert "client_secret=****" in readyz, "masked, the echoed form still says which field was refused"
