"""`vodtender chat export` as a process: its own help, a clear refusal for a VOD without chat, a file per format."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.helpers.processes import base_env, run_cli
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatMessage, Vod


def test_help_is_the_exports_and_a_vod_without_chat_is_refused(tmp_path: Path, db_path: Path) -> None:
    migrate(open_database(str(db_path)))  # the command's answers do not depend on the database kind
    Vod.create(twitch_vod_id="quiet", channel="chan", date=dt.datetime(2026, 3, 1, 12), duration_seconds=60)
    (tmp_path / "etc").mkdir()
    env = base_env(tmp_path, DB_DSN=str(db_path))

    shown = run_cli(tmp_path, "chat", "export", "--help", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "usage: vodtender chat export" in shown.stdout
    assert "--format {jsonl,vtt,twitchdownloader,ass,srt}" in shown.stdout and "-o OUTPUT" in shown.stdout

    refused = run_cli(tmp_path, "chat", "export", "quiet", "--format", "vtt", "-o", "quiet.vtt", env=env)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.strip() == "vodtender: no chat recorded for VOD quiet"
    assert not (tmp_path / "quiet.vtt").exists()

    ChatMessage.create(
        msg_id="m", channel="chan", vod_id="quiet", abs_timestamp=1772366401.0, rel_timestamp=1.0, message="hi"
    )
    written = run_cli(tmp_path, "chat", "export", "quiet", "--format", "srt", "-o", "quiet.srt", env=env)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "quiet.srt").read_text() == "1\n00:00:01,000 --> 00:00:06,000\nhi\n\n"
