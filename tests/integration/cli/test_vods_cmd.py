"""`vodtender vods` and `vodtender show` against the every-state fixture, as real processes."""

from __future__ import annotations

import json
from pathlib import Path

import peewee
import pytest

from tests.helpers.processes import base_env, run_cli
from tests.unit.ops.fixtures import EXPECTED_QUEUE, populate_every_state, vod
from vodtender.cli.vods_cmd import select_vods, vod_summary
from vodtender.runtime.models import Vod, utcnow


@pytest.fixture
def env(tmp_path: Path, migrated_db: peewee.Database, db_dsn: str) -> dict[str, str]:
    populate_every_state(utcnow())
    (tmp_path / "etc").mkdir(exist_ok=True)
    return base_env(tmp_path, DB_DSN=db_dsn)


def vods_json(tmp_path: Path, env: dict[str, str], *args: str) -> list[dict]:
    result = run_cli(tmp_path, "vods", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_each_state_filter_lists_that_stage(tmp_path: Path, env: dict[str, str]) -> None:
    for state, count in EXPECTED_QUEUE.items():
        rows = [vod_summary(v) for v in select_vods(None, state, 0)]
        assert len(rows) == count and {r["state"] for r in rows} <= {state}, state
    failed = vods_json(tmp_path, env, "--state", "failed")  # and through the command
    assert {r["twitch_vod_id"]: r["error"] for r in failed} == {
        "1009": "HTTP 404: VOD deleted",
        "1010": "cancelled by operator",
    }


def test_pending_is_everything_not_done(tmp_path: Path, env: dict[str, str]) -> None:
    pending = {r["twitch_vod_id"] for r in vods_json(tmp_path, env, "--state", "pending", "--limit", "0")}
    assert pending == {v.twitch_vod_id for v in Vod.select().where(Vod.processed == 0)}


def test_table_newest_first_with_channel_and_limit(tmp_path: Path, env: dict[str, str]) -> None:
    vod("2001", 11, channel="beta", youtube_url="https://youtu.be/b", processed=1)
    result = run_cli(tmp_path, "vods", "--limit", "3", env=env)
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and lines[0].startswith("ID") and len(lines) == 4
    assert next(line.split()[0] for line in lines[1:]).startswith("live-")  # newest first
    beta = run_cli(tmp_path, "vods", "--channel", "beta", env=env).stdout
    assert "2001" in beta and "https://youtu.be/b" in beta and "1001" not in beta


def test_show_has_history_muted_segments_and_file_state(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli(tmp_path, "show", "1009", env=env)
    assert result.returncode == 0, result.stderr
    history = result.stdout.split("history")[1]
    assert history.index("retry [transient]") < history.index("error [fatal]")  # in time order
    assert "processing_error: HTTP 404: VOD deleted" in result.stdout
    muted = run_cli(tmp_path, "show", "1003", env=env).stdout
    assert "at 1m for 6m" in muted
    details = json.loads(run_cli(tmp_path, "show", "1003", "--json", env=env).stdout)
    assert details["muted_segments"] == [{"offset": 60, "duration": 360}] and details["stage"] == "downloading"
    by_row = json.loads(run_cli(tmp_path, "show", f"#{details['id']}", "--json", env=env).stdout)
    assert by_row["twitch_vod_id"] == "1003"
    missing = run_cli(tmp_path, "show", "nope", env=env)
    assert missing.returncode == 1 and "no VOD 'nope'" in missing.stderr


def test_hostile_title_stays_on_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    vod("3001", 12, title="evil\nline\x1b[31m" + "🎮" * 300)
    shown = run_cli(tmp_path, "show", "3001", env=env)
    assert shown.returncode == 0
    first = shown.stdout.splitlines()[0]
    assert "evil line" in first and "\x1b" not in first  # newline and escape made harmless


def test_show_has_the_gaps_twitch_lost_and_the_video_format(tmp_path: Path, env: dict[str, str]) -> None:
    gaps = json.dumps([{"offset": 3723, "duration": 10, "segments": [372]}])
    vod("4001", 13, download_state="downloaded", download_gaps=gaps, video_codec="av1", video_resolution="2560x1440")
    text = run_cli(tmp_path, "show", "4001", env=env).stdout
    assert "gap 1:02:03\u20131:02:13 (10 s missing: segment 372 lost by Twitch)" in text
    assert "video_codec: av1" in text and "video_resolution: 2560x1440" in text
    details = json.loads(run_cli(tmp_path, "show", "4001", "--json", env=env).stdout)
    assert details["download_gaps"] == [{"offset": 3723.0, "duration": 10.0, "segments": [372]}]
    assert (details["video_codec"], details["video_resolution"]) == ("av1", "2560x1440")
    vod("4002", 14, download_gaps="[{broken")
    broken = run_cli(tmp_path, "show", "4002", env=env)
    assert broken.returncode == 0 and "gaps: none" in broken.stdout
    assert len(broken.stderr.splitlines()) == 1 and "malformed download_gaps" in broken.stderr
