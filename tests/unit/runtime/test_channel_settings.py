"""`[channel <login>]` sections: read from the config files, applied per channel, and refused when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodtender.runtime.config import load_config
from vodtender.runtime.options import ChannelSelection


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VODTENDER_CONFIG_DIR", str(tmp_path))
    for env in ("UPLOAD_PRIVACY", "LIVE_RECORD", "TWITCH_CHANNEL", "DOWNLOAD_QUALITY", "CHAT_RECORD"):
        monkeypatch.delenv(env, raising=False)
    (tmp_path / "conf.d").mkdir()
    return tmp_path


def test_a_section_sets_its_channels_values_over_every_layer(conf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (conf / "vodtender.conf").write_text(
        "twitch-channel = alice,bob\n[channel alice]\ndownload-quality = 720p60/best\nupload-privacy = unlisted\n"
    )
    (conf / "conf.d" / "later.conf").write_text("[channel alice]\nupload-privacy = public\n")
    monkeypatch.setenv("UPLOAD_PRIVACY", "private")  # the environment sets the global value only
    cfg = load_config([])
    assert cfg.problems == []
    alice, bob = cfg.for_channel("alice"), cfg.for_channel("bob")
    assert (alice.download_quality, alice.upload_privacy) == ("720p60/best", "public")  # the later file wins
    assert (bob.download_quality, bob.upload_privacy) == (cfg.download_quality, "private")
    assert cfg.upload_privacy == "private"
    assert cfg.channel_sources("alice")["upload_privacy"].endswith("later.conf:1 [channel alice]")
    assert cfg.channel_sources("bob")["upload_privacy"] == "environment"


def test_wrong_sections_and_keys_are_one_problem_each_naming_the_line(conf: Path) -> None:
    (conf / "vodtender.conf").write_text(
        "[channel alice]\ndb-dsn = /elsewhere.db\nvod-catalog-max = lots\nno-such-key = 1\n[general]\n"
    )
    cfg = load_config([])
    where = f"config file {conf}/vodtender.conf"
    assert [str(p) for p in cfg.problems] == [
        f"{where}:1 [channel alice]: 'db-dsn' is not a per-channel option (per channel: "
        + str(cfg.problems[0]).split("(per channel: ", 1)[1],
        f"{where}:1 [channel alice]: vod-catalog-max: bad number 'lots' (a whole number is needed)",
        f"{where}:1 [channel alice]: 'no-such-key' is unknown option (per channel: "
        + str(cfg.problems[2]).split("(per channel: ", 1)[1],
        f"{where}:5 [general]: not a channel section (write [channel <login>], e.g. [channel alice])",
    ]
    assert cfg.problems[1].env == "VOD_CATALOG_MAX"  # idles the poller, like a bad global value
    assert cfg.db_dsn != "/elsewhere.db"


@pytest.mark.parametrize(
    ("global_value", "sections", "expected"),
    [
        ("all", "[channel bob]\nlive-record = 0\n", ChannelSelection(("alice", "carol"))),
        ("all", "[channel bob]\nlive-record = 1\n", ChannelSelection(every=True)),
        (
            "alice",
            "[channel carol]\nlive-record = yes\n[channel alice]\nlive-record = no\n",
            ChannelSelection(("carol",)),
        ),
        ("", "[channel bob]\nlive-record = 1\n", ChannelSelection(("bob",))),
    ],
    ids=["all-but-one", "all-anyway", "swap", "only-by-section"],
)
def test_live_record_follows_the_sections_yes_and_no(
    conf: Path, global_value: str, sections: str, expected: ChannelSelection
) -> None:
    (conf / "vodtender.conf").write_text(f"twitch-channel = alice,bob,carol\nlive-record = {global_value}\n{sections}")
    cfg = load_config([])
    assert cfg.problems == [] and cfg.live_record == expected


def test_chat_is_recorded_for_the_channels_whose_section_does_not_turn_it_off(conf: Path) -> None:
    (conf / "vodtender.conf").write_text("twitch-channel = alice,bob\n[channel bob]\nchat-record = 0\n")
    assert load_config([]).channels_with("chat_record") == ["alice"]


def test_a_changed_section_is_a_changed_configuration_for_a_reload(conf: Path) -> None:
    (conf / "vodtender.conf").write_text("[channel alice]\nupload-privacy = unlisted\n")
    before = load_config([]).as_dict()
    (conf / "vodtender.conf").write_text("[channel alice]\nupload-privacy = public\n")
    assert load_config([]).as_dict() != before
