"""The typed settings: one field per option, the table read off them, the computed defaults."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

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
