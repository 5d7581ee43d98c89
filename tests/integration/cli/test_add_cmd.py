"""`vodtender add`: any VOD Helix knows is queued with its metadata; anything else is refused clearly."""

from __future__ import annotations

import time
from pathlib import Path

import peewee

from tests.helpers.processes import base_env, run_cli
from tests.standins.helix import HelixStandin
from vodtender.runtime.models import Vod

YEAR_AGO = time.time() - 400 * 86400


def test_a_highlight_of_an_unwatched_channel_is_queued_and_an_unknown_id_refused(
    workdir: Path, migrated_db: peewee.Database, db_dsn: str
) -> None:
    with HelixStandin() as helix:
        helix.add_user("alice")
        helix.add_user("bob")
        old = helix.add_video("bob", YEAR_AGO, type="highlight", title="best of <script>", duration="1h2m3s")
        env = base_env(workdir, DB_DSN=db_dsn, TWITCH_CHANNEL="alice", **helix.env())
        address = f"https://www.twitch.tv/videos/{old['id']}?t=1h2m"
        first = run_cli(workdir, "add", address, "999999", "--priority", "5", env=env)
        again = run_cli(workdir, "add", old["id"], "--priority", "7", env=env)

    assert first.returncode == 1  # one of the two is unknown
    assert first.stdout == f"queued VOD {old['id']} (bob, highlight, 62 min): 'best of <script>', priority 5\n"
    assert first.stderr == "VOD 999999: Twitch does not know it (deleted, private, or a wrong id); not queued\n"
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already in the archive (discovered) ")
    assert again.stdout.endswith(", priority 5 -> 7\n")
    vod = Vod.get(Vod.twitch_vod_id == old["id"])
    assert (vod.channel, vod.type, vod.title, vod.duration_seconds, vod.priority, vod.download_state) == (
        "bob",
        "highlight",
        "best of <script>",
        3723,
        7,
        "discovered",
    )
    assert not Vod.select().where(Vod.twitch_vod_id == "999999").exists()


def test_what_is_not_a_vod_reference_is_refused_before_asking_twitch(
    workdir: Path, migrated_db: peewee.Database, db_dsn: str
) -> None:
    with HelixStandin() as helix:
        env = base_env(workdir, DB_DSN=db_dsn, **helix.env())
        result = run_cli(workdir, "add", "123", "https://www.twitch.tv/bob/clip/Funny", env=env)
        asked = helix.requests_to("videos")
    assert result.returncode == 2
    assert result.stderr == (
        "vodtender add: not a VOD id or a twitch.tv/videos/ address: 'https://www.twitch.tv/bob/clip/Funny'\n"
    )
    assert asked == [] and Vod.select().count() == 0
