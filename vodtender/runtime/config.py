"""Configuration: defaults < config files < systemd credentials < environment < command line.

Run by hand on an installed system, the installation's env file and credential store take the
place of what systemd gives the units (runtime/installation.py).

Every option has one environment name (the original service's names are kept), one
command-line flag and one config-file key (the flag without its dashes); the options and
their types are declared once, in `runtime/options.py`.  Values are parsed here, once, into
a typed `Config`; problems are collected, never raised, so a daemon with a bad setting can
come up idle and say what is wrong instead of crash-looping.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import configargparse

from vodtender.runtime.channel_settings import (
    ChannelOverrides,
    GlobalPartParser,
    applied,
    effective_live_record,
    read_channel_sections,
    sources_for,
)
from vodtender.runtime.children import process_environment
from vodtender.runtime.installation import Installation, this_installation
from vodtender.runtime.installation import root as installation_root
from vodtender.runtime.options import (
    COMMAND_LINE,
    OPTIONS,
    OPTIONS_BY_ENV,
    ConfigError,
    Problem,
    Settings,
    default_data_dir,
    default_db_dsn,
    format_duration,
    parse_addr,
    parse_duration,
    parse_size,
    state_directory,
    unset_settings,
)
from vodtender.runtime.requirements import DAEMON_NEEDS

# Names the rest of the code imports from here, where configuration is loaded.
__all__ = [
    "OPTIONS",
    "OPTIONS_BY_ENV",
    "Config",
    "ConfigError",
    "Problem",
    "config_dir",
    "default_config_files",
    "default_data_dir",
    "default_db_dsn",
    "format_duration",
    "load_config",
    "mask",
    "parse_addr",
    "parse_duration",
    "parse_size",
    "state_directory",
]

CONFIG_DIR_ENV = "VODTENDER_CONFIG_DIR"
_NO_SECTION = ChannelOverrides()


def config_dir() -> Path:
    """VODTENDER_CONFIG_DIR, else /etc/vodtender (under VODTENDER_ROOT: see runtime/installation.py)."""
    return Path(os.environ.get(CONFIG_DIR_ENV) or installation_root() / "etc/vodtender")


def default_config_files() -> list[str]:
    base = config_dir()
    return [str(base / "vodtender.conf"), str(base / "conf.d" / "*.conf")]


@dataclasses.dataclass(frozen=True)
class Config(Settings):
    """The parsed settings (a typed field per option: `cfg.twitch_channel`), plus what loading them found."""

    problems: list[Problem] = dataclasses.field(default_factory=list)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)  # dest -> where the value came from
    files_read: list[str] = dataclasses.field(default_factory=list)  # config, env and credential files
    channels: dict[str, ChannelOverrides] = dataclasses.field(default_factory=dict)  # [channel <login>] sections

    def for_channel(self, login: str) -> Config:
        """The settings as they apply to `login`'s VODs, recordings and chat: its section over the rest."""
        overrides = applied(login, self.channels.get(login))
        return dataclasses.replace(self, **overrides) if overrides else self  # type: ignore[arg-type]

    def channels_with(self, dest: str) -> list[str]:
        """The TWITCH_CHANNEL channels for which the yes/no option `dest` is yes (globally or in their section)."""
        base = getattr(self, dest)
        return [login for login in self.twitch_channel if self.channels.get(login, _NO_SECTION).values.get(dest, base)]

    def channels_overriding(self, dest: str) -> list[str]:
        """The channels whose section gives option `dest` another value than the global one."""
        base = getattr(self, dest)
        return sorted(login for login, o in self.channels.items() if o.values.get(dest, base) != base)

    def channel_sources(self, login: str) -> dict[str, str]:
        """Where each option's value for `login` comes from (`config check --channel`)."""
        return sources_for(login, self.channels, self.sources)

    def problems_for(self, sections: Sequence[str]) -> list[Problem]:
        """Parse problems of options in these sections (unknown options concern no daemon)."""
        return [p for p in self.problems if p.env and OPTIONS_BY_ENV[p.env].section in sections]

    def problems_for_daemon(self, name: str) -> list[Problem]:
        """Everything that keeps daemon `name` idle: its sections' parse problems, then its unmet needs."""
        needs = DAEMON_NEEDS[name]
        return self.problems_for(needs.sections) + needs.idle_problems(self)

    def disabled_reason(self, name: str) -> Problem | None:
        """Why daemon `name` runs disabled with this configuration (chat: CHAT_AUTO_START=0, ...), or None."""
        return DAEMON_NEEDS[name].disabled_reason(self)

    def command_line_problems(self, daemons: Sequence[str]) -> list[Problem]:
        """What is wrong with the flags given: unknown ones, bad values, and values given there that
        leave one of these daemons idle."""
        problems = [p for p in self.problems if p.origin == COMMAND_LINE]
        for name in daemons:
            problems += [
                p for p in DAEMON_NEEDS[name].idle_problems(self) if self.from_command_line(p) and p not in problems
            ]
        return problems

    def from_command_line(self, problem: Problem) -> bool:
        """Whether the value `problem` is about was given as a flag."""
        if problem.origin is not None or problem.env is None:
            return problem.origin == COMMAND_LINE
        return self.sources.get(OPTIONS_BY_ENV[problem.env].dest) == COMMAND_LINE

    def all_problems(self) -> list[Problem]:
        """What `config check` reports: parse problems, then every daemon's unmet needs, each once."""
        problems = list(self.problems)
        for needs in DAEMON_NEEDS.values():
            problems += [p for p in needs.reported_problems(self) if p not in problems]
        return problems

    def http_addr_for(self, name: str) -> tuple[str, int] | None:
        """Where daemon `name` serves /metrics /healthz /readyz; None for a name without an address."""
        needs = DAEMON_NEEDS.get(name)
        return needs.http_addr(self) if needs else None

    def as_dict(self) -> dict[str, object]:
        """Every option's value by field name, and the channels' own (what a reload compares)."""
        own = {login: overrides.values for login, overrides in self.channels.items()}
        return {**{o.dest: getattr(self, o.dest) for o in OPTIONS}, "channels": own}

    def secrets(self) -> list[str]:
        return [str(value) for o in OPTIONS if o.secret and (value := getattr(self, o.dest))]

    def masked(self) -> dict[str, str]:
        """Every option as the operator would write it, secrets reduced to their last 4 chars."""
        out = {}
        for o in OPTIONS:
            value = getattr(self, o.dest)
            if value is None:
                shown = ""
            elif o.secret:
                shown = mask(str(value))
            elif o.parse is parse_addr:
                shown = f"{value[0]}:{value[1]}"
            elif isinstance(value, list | tuple):
                shown = ",".join(value)
            elif o.parse is parse_duration:
                shown = format_duration(value)
            else:
                shown = str(value)
            out[o.env] = shown
        return out


def mask(secret: str) -> str:
    """Show at most the last 4 characters, and none of a short secret."""
    if not secret:
        return ""
    return "****" + secret[-4:] if len(secret) >= 12 else "****"


def _build_parser() -> configargparse.ArgParser:
    parser = configargparse.ArgParser(
        prog="vodtender",
        default_config_files=default_config_files(),
        ignore_unknown_config_file_keys=False,
        config_file_parser_class=GlobalPartParser,  # [channel <login>] sections: read_channel_sections()
        add_help=False,
        allow_abbrev=False,  # `--twitch-chan` is a typo to report, not --twitch-channel
    )
    parser.add_argument("-c", "--config", is_config_file=True, help="extra config file")
    for o in OPTIONS:
        # Parsed later by us, so a bad value becomes a collected problem, not an exit.
        parser.add_argument(o.flag, env_var=o.env, dest=o.dest, default=None, help=o.help)
    return parser


def _credentials(installation: Installation | None) -> dict[str, tuple[str, Path]]:
    """Secrets by option: systemd LoadCredential= (a file per secret, named like the config key), or,
    run by hand, the installation's credential store the units load them from."""
    folder = process_environment().get("CREDENTIALS_DIRECTORY")
    found: dict[str, tuple[str, Path]] = {}
    for o in OPTIONS:
        if not o.secret:
            continue
        if folder:
            for name in (o.key, o.env):
                path = Path(folder, name)
                if path.is_file():
                    found[o.dest] = path.read_text().strip(), path
                    break
        elif installation and (stored := installation.credential(o.key)):
            found[o.dest] = stored
    return found


def _config_files_read(given: str | None) -> list[str]:
    """The config files that exist among the defaults, then the --config one."""
    files = [path for pattern in default_config_files() for path in sorted(glob.glob(pattern))]
    return files + ([str(Path(given).absolute())] if given else [])


def load_config(argv: Sequence[str] = ()) -> Config:
    """Parse everything; never exits.  `argv` holds only option flags (no subcommand)."""
    parser = _build_parser()
    problems: list[Problem] = []
    parser.error = _raise_config_error
    installation = this_installation()
    env_file = installation.environment() if installation else {}
    environment = {**env_file, **process_environment()}  # as the units: the env file under their own
    try:
        namespace, unknown = parser.parse_known_args(list(argv), env_vars=environment)
    except ConfigError as exc:
        return Config(**unset_settings(), problems=[Problem(str(exc), origin=_failing_layer(argv, environment))])
    given = _flags_given(argv)
    files_read = _config_files_read(namespace.config)
    channels, section_problems = read_channel_sections(files_read)
    problems += section_problems
    if installation and env_file:
        files_read.append(str(installation.env_file))
    for index, extra in enumerate(unknown):
        if not extra.startswith("-"):
            if index == 0 or not unknown[index - 1].startswith("-"):  # else: an unknown option's value
                problems.append(Problem(f"unexpected argument {extra!r}", origin=COMMAND_LINE))
        else:
            flag = extra.split("=", 1)[0]
            on_command_line = flag in given
            where = "" if on_command_line else f" (key {flag[2:]!r} in a config file)"
            problems.append(
                Problem(
                    f"unknown option {flag!r}{where}: the known ones are listed in "
                    "etc/vodtender.conf and by `vodtender config check`",
                    origin=COMMAND_LINE if on_command_line else "config file",
                )
            )
    credentials = _credentials(installation)
    sources = _sources(parser, argv, env_file, installation)
    values: dict[str, Any] = {}  # each of its field's type: `option()` ties a field's type to its parser's
    for o in OPTIONS:
        raw = getattr(namespace, o.dest)
        source = sources.get(o.dest, "default")
        if o.dest in credentials and (source == "default" or source.startswith("config file")):
            raw, path = credentials[o.dest]
            source = "credential" if installation is None else f"credential {path}"
            files_read.append(str(path))
        if raw is None or (raw == "" and o.default is None):
            values[o.dest] = o.unset_value()
            sources[o.dest] = "default"
            continue
        try:
            values[o.dest] = o.value_of(raw)
        except ConfigError as exc:
            named = o.flag if source == COMMAND_LINE else o.env  # as the operator wrote it
            problems.append(Problem(f"{named}: {exc} (from {source})", o.env, source))
            values[o.dest] = o.unset_value()
        sources[o.dest] = source
    live = effective_live_record(values["live_record"], values["twitch_channel"], channels)
    if live != values["live_record"]:
        values["live_record"] = live
        sources["live_record"] += " and [channel] sections"
    return Config(**values, problems=problems, sources=sources, files_read=files_read, channels=channels)


def _raise_config_error(message: str) -> None:
    raise ConfigError(message)


def _flags_given(argv: Sequence[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}


def _failing_layer(argv: Sequence[str], environment: dict[str, str]) -> str | None:
    """Where a parse error lies: on the command line when the other layers parse without it."""
    parser = _build_parser()
    parser.error = _raise_config_error
    try:
        parser.parse_known_args([], env_vars=environment)
    except ConfigError:
        return None
    return COMMAND_LINE


def _sources(
    parser: configargparse.ArgParser,
    argv: Sequence[str],
    env_file: dict[str, str],
    installation: Installation | None,
) -> dict[str, str]:
    """Which layer set each option, for `config check` and problem lines (later layers win)."""
    given = _flags_given(argv)
    by_key = {o.key: o for o in OPTIONS}
    sources: dict[str, str] = {}
    for origin, settings in parser.get_source_to_settings_dict().items():
        if origin.startswith("config_file|"):
            for key in settings:
                if key in by_key:
                    sources[by_key[key].dest] = "config file " + origin.split("|", 1)[1]
    own = process_environment()
    for o in OPTIONS:
        if o.flag in given:
            sources[o.dest] = COMMAND_LINE
        elif o.env in own:
            sources[o.dest] = "environment"
        elif o.env in env_file and installation:
            sources[o.dest] = f"environment file {installation.env_file}"
    return sources
