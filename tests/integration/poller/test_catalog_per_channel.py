"""A `[channel <login>]` section's catalog choices, obeyed by the poller running as a process."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import peewee

from tests.helpers.processes import DaemonProcess
from tests.standins.helix import HelixStandin
from vodtender.runtime.models import Vod


def test_a_channels_section_chooses_which_of_its_videos_the_catalog_lists(
    migrated_db: peewee.Database, helix: HelixStandin, start_poller: Callable[..., DaemonProcess], workdir: Path
) -> None:
    for login in ("alice", "bob"):
        helix.add_user(login)
    highlights = {
        login: helix.add_video(login, time.time() - 7200, type="highlight")["id"] for login in ("alice", "bob")
    }
    (workdir / "etc" / "vodtender.conf").write_text("[channel alice]\nvod-catalog-types = archive,highlight\n")
    poller = start_poller("alice,bob")
    poller.wait_for_log(r"catalog sync done channel=bob", timeout=30)
    stored = {v.twitch_vod_id for v in Vod.select(Vod.twitch_vod_id)}
    assert highlights["alice"] in stored and highlights["bob"] not in stored
    poller.stop()
