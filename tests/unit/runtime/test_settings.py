"""The typed settings: one field per option, the table read off them, the computed defaults."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

import pytest

from tests.unit.runtime.conftest import ConfigEnv
from vodtender.runtime import config
from vodtender.runtime.config import OPTIONS, OPTIONS_BY_ENV, Config, load_config
from vodtender.runtime.options import Settings


def test_fields_have_the_types_of_their_parsers(config_env: ConfigEnv) -> None:
    config_env()
    hints = typing.get_type_hints(Settings)
    assert hints["download_timeout"] is float and hints["max_concurrent_downloads"] is int
    assert hints["twitch_irc_addr"] == tuple[str, int] and hints["twitch_channel"] == list[str]
    assert hints["twitch_client_id"] == str | None and hints["data_dir"] is Path
    cfg = load_config()
    assert isinstance(cfg.download_timeout, float) and cfg.download_timeout == 30.0
    assert isinstance(cfg.download_buffer, int) and cfg.download_buffer == 64 * 1024**2
    assert cfg.twitch_irc_addr == ("irc.chat.twitch.tv", 6697) and cfg.twitch_irc_tls is True
    assert cfg.twitch_channel == [] and cfg.twitch_client_id is None


def test_the_option_table_is_read_off_the_fields() -> None:
    names = [f.name for f in dataclasses.fields(Settings)]
    assert [o.dest for o in OPTIONS] == names
    timeout = OPTIONS_BY_ENV["DOWNLOAD_TIMEOUT"]
    assert (timeout.flag, timeout.key, timeout.section, timeout.default) == (
        "--download-timeout",
        "download-timeout",
        "downloader",
        "30s",
    )
    assert {o.env for o in OPTIONS if o.secret} == {
        "ENCRYPTION_KEY",
        "TWITCH_CLIENT_SECRET",
        "TWITCH_OAUTH_TOKEN",
        "YT_CLIENT_SECRET",
        "WEB_TOKEN",
    }


def test_config_is_the_settings_plus_what_loading_found(config_env: ConfigEnv) -> None:
    config_env(LOG_LEVEL="debug")
    cfg = load_config()
    assert isinstance(cfg, Settings)
    assert cfg.as_dict()["log_level"] == "debug" and set(cfg.as_dict()) == {o.dest for o in OPTIONS}
    assert cfg == load_config() and cfg.as_dict() != load_config(["--log-level", "info"]).as_dict()


def test_database_and_data_dir_default_to_the_working_directory(config_env: ConfigEnv) -> None:
    config_env()
    cfg = load_config()
    assert (cfg.db_dsn, cfg.data_dir) == ("vodtender.db", Path("data"))
    assert cfg.sources["db_dsn"] == cfg.sources["data_dir"] == "default"
    assert cfg.masked()["DB_DSN"] == "vodtender.db" and cfg.masked()["DATA_DIR"] == "data"


def test_database_and_data_dir_default_to_systemds_state_directory(config_env: ConfigEnv, tmp_path: Path) -> None:
    config_env(STATE_DIRECTORY=f"{tmp_path}/state:{tmp_path}/other", DATA_DIR=" ")
    cfg = load_config()
    assert cfg.db_dsn == f"{tmp_path}/state/vodtender.db"
    assert cfg.data_dir == tmp_path / "state" / "data"  # a blank value is no value


def test_set_database_and_data_dir_win(config_env: ConfigEnv, tmp_path: Path) -> None:
    config_env(STATE_DIRECTORY=str(tmp_path), DB_DSN="postgresql://vt@db/vt", DATA_DIR=str(tmp_path / "videos"))
    cfg = load_config()
    assert (cfg.db_dsn, cfg.data_dir) == ("postgresql://vt@db/vt", tmp_path / "videos")
    assert cfg.sources["data_dir"] == "environment"


def test_sources_name_the_config_file_through_the_public_api(config_env: ConfigEnv) -> None:
    etc = config_env()
    (etc / "vodtender.conf").write_text("download-timeout = 45s\n")
    cfg = load_config()
    assert cfg.download_timeout == 45.0
    assert cfg.sources["download_timeout"] == f"config file {etc / 'vodtender.conf'}"
    assert cfg.sources["upload_timeout"] == "default"
    assert "._source_to_settings" not in inspect.getsource(config)  # configargparse's private attribute


def test_a_file_that_cannot_be_read_leaves_every_default_and_one_problem(config_env: ConfigEnv, tmp_path: Path) -> None:
    config_env()
    cfg = load_config(["--config", str(tmp_path / "missing.conf")])
    assert len(cfg.problems) == 1 and cfg.problems[0].env is None
    assert cfg.as_dict() == Config(**{o.dest: o.unset_value() for o in OPTIONS}).as_dict()
    assert cfg.download_timeout == 30.0


def test_masked_shows_values_as_written_and_hides_secrets(config_env: ConfigEnv) -> None:
    config_env(TWITCH_CHANNEL="a,B", CIRCUIT_OPEN_COOLDOWN="90m", TWITCH_CLIENT_SECRET="secret-value-0123456789")
    shown = load_config().masked()
    assert shown["TWITCH_CHANNEL"] == "a,b" and shown["CIRCUIT_OPEN_COOLDOWN"] == "1h30m"
    assert shown["TWITCH_IRC_ADDR"] == "irc.chat.twitch.tv:6697" and shown["TWITCH_CLIENT_SECRET"] == "****6789"
    assert shown["ENCRYPTION_KEY"] == "" and "secret-value-0123456789" in load_config().secrets()
    assert shown["DOWNLOAD_CODECS"] == "av1,h265,h264" and shown["DOWNLOAD_MAX_GAP"] == "auto"


def test_download_codecs_default_aliases_and_order(config_env: ConfigEnv) -> None:
    config_env()
    assert load_config().download_codecs == ("av1", "h265", "h264")
    config_env(DOWNLOAD_CODECS=" AVC1, hevc ,h264,HEVC ")
    assert load_config().download_codecs == ("h264", "h265")  # the given order, each once


@pytest.mark.parametrize(("value", "named"), [("h264,vp9", "'vp9'"), (" , ", "no video codec named")])
def test_a_bad_codec_list_is_one_problem_naming_the_bad_word(config_env: ConfigEnv, value: str, named: str) -> None:
    config_env(DOWNLOAD_CODECS=value)
    cfg = load_config()
    (problem,) = cfg.problems
    assert problem.env == "DOWNLOAD_CODECS" and named in problem.message and "environment" in problem.message
    assert cfg.download_codecs == ("av1", "h265", "h264")  # the default stands in


@pytest.mark.parametrize(
    ("value", "vod_seconds", "segment_seconds", "limit"),
    [
        ("auto", 7200.0, 10.0, 72.0),  # 1% of two hours beats 3 segments
        ("auto", 600.0, 10.0, 30.0),  # 3 segments beat 1% of ten minutes
        ("45s", 7200.0, 10.0, 45.0),
        ("2m", 7200.0, 10.0, 120.0),
        ("2%", 7200.0, 10.0, 144.0),
        ("0", 7200.0, 10.0, 0.0),
    ],
)
def test_max_gap_limits(
    config_env: ConfigEnv, value: str, vod_seconds: float, segment_seconds: float, limit: float
) -> None:
    config_env(DOWNLOAD_MAX_GAP=value)
    cfg = load_config()
    assert cfg.problems == []
    assert cfg.download_max_gap.limit_seconds(vod_seconds, segment_seconds) == pytest.approx(limit)
    assert str(cfg.download_max_gap) == value  # as `config check` shows it


@pytest.mark.parametrize("value", ["lots", "150%", "-5s", "auto%"])
def test_a_bad_max_gap_is_one_problem_and_auto_stands_in(config_env: ConfigEnv, value: str) -> None:
    config_env(DOWNLOAD_MAX_GAP=value)
    cfg = load_config()
    (problem,) = cfg.problems
    assert problem.env == "DOWNLOAD_MAX_GAP" and repr(value) in problem.message
    assert cfg.download_max_gap.limit_seconds(600.0, 10.0) == 30.0


def test_live_record_is_all_some_channels_or_none(config_env: ConfigEnv) -> None:
    config_env()
    assert load_config().live_record.empty and load_config().live_record.channels() == ()
    everyone = load_config(["--live-record", " ALL "]).live_record
    assert (everyone.channels(), everyone.empty, str(everyone)) == (None, False, "all")
    some = load_config(["--live-record", "#Alpha, beta,alpha"])
    assert (some.live_record.channels(), some.masked()["LIVE_RECORD"]) == (("alpha", "beta"), "alpha,beta")
    mixed = load_config(["--live-record", "all,alpha"])
    assert [str(p) for p in mixed.problems] == [
        "--live-record: bad channel list 'all,alpha' (use all, or channel logins a,b; not both) (from command line)"
    ]
    assert mixed.live_record.empty  # the default stands in: nothing is recorded
