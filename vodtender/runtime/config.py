"""Configuration: defaults < config files < systemd credentials < environment < command line.

Every option has one environment name (the original service's names are kept), one
command-line flag and one config-file key (the flag without its dashes).  Values are
parsed here, once, into plain Python types; problems are collected, never raised, so a
daemon with a bad setting can come up idle and say what is wrong instead of crash-looping.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import configargparse

CONFIG_DIR_ENV = "VODTENDER_CONFIG_DIR"
DEFAULT_CONFIG_DIR = "/etc/vodtender"


class ConfigError(ValueError):
    """A value that cannot be parsed; the message is shown to the operator as is."""


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """`30s`, `5m`, `6h`, `1h30m`, `2d`, `250ms` or a bare number of seconds -> seconds."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    if not value or _DURATION_PART.sub("", value) != "":
        raise ConfigError(f"bad duration {text!r} (use e.g. 30s, 5m, 6h, 1h30m)")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(value))


def format_duration(seconds: float) -> str:
    """The inverse of parse_duration, for display: 5400 -> '1h30m'."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    out, rest = "", int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
               "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4,
               "tb": 1024**4, "tib": 1024**4}


def parse_size(text: str) -> int:
    """`500M`, `10G`, `1.5GiB` or a bare number of bytes -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ConfigError(f"bad size {text!r} (use e.g. 500M, 10G)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"bad boolean {text!r} (use 1/0, true/false, yes/no)")


def parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigError(f"bad number {text!r} (a whole number is needed)") from None


def parse_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ConfigError(f"bad number {text!r}") from None


def parse_list(text: str) -> list[str]:
    """`a,b, c` -> ['a', 'b', 'c']; Twitch logins are case-insensitive, so they are lowered."""
    return [part.strip().lower().lstrip("#") for part in text.split(",") if part.strip()]


def parse_addr(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` -> (host, port)."""
    m = re.fullmatch(r"\[?([^\]]*?)\]?:(\d{1,5})", text.strip())
    if not m or int(m.group(2)) > 65535:
        raise ConfigError(f"bad address {text!r} (use host:port, e.g. 127.0.0.1:9741)")
    return m.group(1), int(m.group(2))


def parse_str(text: str) -> str:
    return text.strip()


@dataclasses.dataclass(frozen=True)
class Option:
    env: str  # environment name, e.g. TWITCH_CHANNEL; the flag is --twitch-channel
    default: str | None
    help: str
    parse: Callable[[str], Any] = parse_str
    secret: bool = False
    section: str = "general"

    @property
    def flag(self) -> str:
        return "--" + self.env.lower().replace("_", "-")

    @property
    def key(self) -> str:
        return self.env.lower().replace("_", "-")

    @property
    def dest(self) -> str:
        return self.env.lower()


def _opt(section: str, rows: list[tuple]) -> list[Option]:
    out = []
    for row in rows:
        env, default, parse, help_text, *flags = row
        out.append(Option(env, default, help_text, parse, secret="secret" in flags, section=section))
    return out


# One table for every option of every daemon: `vodtender config check`, etc/vodtender.conf
# and the README are all checked against it (tests/unit/runtime/test_config.py).
OPTIONS: list[Option] = [
    *_opt("general", [
        ("DB_DSN", None, parse_str, "database: a SQLite path, sqlite:///path or postgresql://user:pw@host/db "
         "(default: vodtender.db in the working directory, $STATE_DIRECTORY/vodtender.db under systemd)"),
        ("DATA_DIR", None, parse_str, "where downloaded videos go (default: ./data, $STATE_DIRECTORY/data "
         "under systemd)"),
        ("DATA_DIR_SHARED", "0", parse_bool, "1 when DATA_DIR is the same shared folder on every host"),
        ("LOG_LEVEL", "info", parse_str, "debug, info, warning or error"),
        ("HEARTBEAT_INTERVAL", "5s", parse_duration, "how often a daemon records that it is alive"),
        ("ENCRYPTION_KEY", None, parse_str, "key to encrypt OAuth tokens at rest (empty: stored plaintext)",
         "secret"),
    ]),
    *_opt("twitch", [
        ("TWITCH_CHANNEL", None, parse_list, "channel logins to archive, comma separated: a,b,c"),
        ("TWITCH_CLIENT_ID", None, parse_str, "Twitch application client id (Helix)"),
        ("TWITCH_CLIENT_SECRET", None, parse_str, "Twitch application client secret (Helix)", "secret"),
        ("TWITCH_BOT_USERNAME", None, parse_str, "chat login; empty: anonymous read-only (justinfan)"),
        ("TWITCH_OAUTH_TOKEN", None, parse_str, "chat token for TWITCH_BOT_USERNAME (oauth: prefix optional); "
         "also used for sub-only VODs", "secret"),
        ("TWITCH_HELIX_URL", "https://api.twitch.tv/helix", parse_str, "Helix API base URL"),
        ("TWITCH_AUTH_URL", "https://id.twitch.tv/oauth2", parse_str, "Twitch OAuth base URL (token, validate)"),
        ("TWITCH_IRC_ADDR", "irc.chat.twitch.tv:6697", parse_addr, "Twitch IRC server host:port"),
        ("TWITCH_IRC_TLS", "1", parse_bool, "use TLS to the IRC server"),
        ("TWITCH_VOD_URL_TEMPLATE", "https://www.twitch.tv/videos/{id}", parse_str,
         "URL handed to yt-dlp for a VOD; {id} is the Twitch VOD id"),
    ]),
    *_opt("poller", [
        ("VOD_CATALOG_BACKFILL_INTERVAL", "6h", parse_duration, "time between catalog backfill runs"),
        ("VOD_CATALOG_MAX", "0", parse_int, "at most this many VODs per channel (0: no limit)"),
        ("VOD_CATALOG_MAX_AGE_DAYS", "0", parse_int, "ignore VODs older than this many days (0: no limit)"),
        ("VOD_CATALOG_TYPES", "archive", parse_list, "Helix video types to archive: archive,highlight,upload"),
        ("CHAT_AUTO_START", "1", parse_bool, "watch channels for going live and record chat on a placeholder"),
        ("CHAT_AUTO_POLL_INTERVAL", "60s", parse_duration, "how often live status is polled"),
        ("VOD_RECONCILE_DELAY", "2m", parse_duration, "wait after a stream ends before looking for its VOD"),
        ("VOD_RECONCILE_WINDOW", "15m", parse_duration, "keep looking for the VOD this long, then warn"),
        ("VOD_RECONCILE_MATCH_WINDOW", "10m", parse_duration, "a VOD without a stream id matches a placeholder "
         "whose start is at most this far from its own"),
        ("POLLER_HTTP_ADDR", "127.0.0.1:9741", parse_addr, "poller /metrics /healthz /readyz address"),
    ]),
    *_opt("downloader", [
        ("MAX_CONCURRENT_DOWNLOADS", "1", parse_int, "VODs downloaded at once by one downloader"),
        ("DOWNLOAD_FRAGMENT_CONCURRENCY", "8", parse_int, "HLS fragments fetched at once per VOD"),
        ("DOWNLOAD_MAX_ATTEMPTS", "5", parse_int, "attempts per VOD before it is marked failed"),
        ("DOWNLOAD_BACKOFF_BASE", "30s", parse_duration, "first retry delay; doubles per attempt, with jitter"),
        ("DOWNLOAD_QUALITY", "best", parse_str, "yt-dlp format selection"),
        ("DOWNLOAD_NAME_TEMPLATE", "{channel}/{date}_{id}_{title}.mp4", parse_str,
         "file name under DATA_DIR; {channel} {date} {id} {title} (sanitised)"),
        ("DOWNLOAD_MIN_FREE", "1G", parse_size, "free space kept in DATA_DIR beyond the VOD's estimated size"),
        ("DOWNLOAD_FRAGMENT_RETRIES", "10", parse_int, "retries of one fragment (network errors, 5xx) within "
         "an attempt"),
        ("DOWNLOAD_TIMEOUT", "30s", parse_duration, "network timeout of one download request"),
        ("DOWNLOAD_BUFFER", "64M", parse_size, "memory per VOD for fragments fetched ahead of the one being "
         "written (fragments finish out of order; too little stalls the fetch)"),
        ("CIRCUIT_FAILURE_THRESHOLD", "5", parse_int, "consecutive systemic failures that open the breaker"),
        ("CIRCUIT_OPEN_COOLDOWN", "10m", parse_duration, "how long the breaker stays open before one probe"),
        ("LEASE_DURATION", "2m", parse_duration, "claim lease; renewed while working, expires if a worker dies"),
        ("DOWNLOADER_HTTP_ADDR", "127.0.0.1:9742", parse_addr, "downloader /metrics /healthz /readyz address"),
    ]),
    *_opt("uploader", [
        ("YT_CLIENT_ID", None, parse_str, "Google OAuth client id; empty: download-only, no uploads"),
        ("YT_CLIENT_SECRET", None, parse_str, "Google OAuth client secret", "secret"),
        ("YOUTUBE_API_URL", "https://www.googleapis.com/", parse_str, "YouTube Data API root (uploads included)"),
        ("YOUTUBE_TOKEN_URL", "https://oauth2.googleapis.com/token", parse_str, "Google OAuth token endpoint"),
        ("YOUTUBE_AUTH_URL", "https://accounts.google.com/o/oauth2/auth", parse_str,
         "Google OAuth consent page opened by `vodtender auth youtube`"),
        ("UPLOAD_TIMEOUT", "60s", parse_duration, "network timeout of one upload request"),
        ("UPLOAD_MAX_ATTEMPTS", "5", parse_int, "attempts per VOD before it is marked failed"),
        ("UPLOAD_BACKOFF_BASE", "30s", parse_duration, "first retry delay; doubles per attempt, with jitter"),
        ("UPLOAD_CHUNK_SIZE", "64M", parse_size, "resumable upload chunk size"),
        ("UPLOAD_PRIVACY", "private", parse_str, "private, unlisted or public"),
        ("UPLOAD_CATEGORY", "20", parse_str, "YouTube category id (20: Gaming)"),
        ("UPLOAD_TAGS", "", parse_list, "tags, comma separated"),
        ("UPLOAD_PLAYLIST", None, parse_str, "playlist id to add uploads to"),
        ("UPLOAD_TITLE_TEMPLATE", "{channel} {date}: {title}", parse_str, "video title template"),
        ("UPLOAD_DESCRIPTION_TEMPLATE", "{title}\\n\\nStreamed by {channel} on {date} ({duration}).\\n{vod_url}",
         parse_str, "video description template (\\n for new lines)"),
        ("UPLOAD_QUOTA_COST", "1600", parse_int, "quota units one upload costs"),
        ("UPLOAD_QUOTA_DAILY", "10000", parse_int, "quota units available per day"),
        ("UPLOAD_DELETE_LOCAL", "0", parse_bool, "delete the local file once YouTube has confirmed the upload"),
        ("UPLOADER_HTTP_ADDR", "127.0.0.1:9743", parse_addr, "uploader /metrics /healthz /readyz address"),
    ]),
    *_opt("chat", [
        ("CHAT_BATCH_INTERVAL", "250ms", parse_duration, "chat rows are written at least this often"),
        ("CHAT_BATCH_SIZE", "2000", parse_int, "or when this many rows are waiting (bigger batches catch up faster)"),
        ("CHAT_QUEUE_MAX", "200000", parse_int, "rows buffered while the database is slow"),
        ("CHAT_HTTP_ADDR", "127.0.0.1:9744", parse_addr, "chat /metrics /healthz /readyz address"),
    ]),
    *_opt("maintenance", [
        ("BACKUP_DIR", None, parse_str, "where database backups go (default: backups/ beside the database)"),
        ("BACKUP_KEEP", "7", parse_int, "backups kept"),
        ("RETENTION_KEEP_DAYS", "0", parse_int, "delete uploaded files older than this many days (0: keep)"),
        ("RETENTION_KEEP_COUNT", "0", parse_int, "keep at most this many files per channel (0: no limit)"),
        ("RETENTION_MIN_FREE", "0", parse_size, "delete oldest uploaded files until this much is free (0: off)"),
        ("RETENTION_WITHOUT_UPLOAD", "0", parse_bool, "also delete files that were never uploaded "
         "(only when uploading is off)"),
        ("MAINTENANCE_METRICS_FILE", None, parse_str, "write maintenance results here in Prometheus text format "
         "(for node_exporter's textfile collector, e.g. /var/lib/prometheus/node-exporter/vodtender.prom)"),
        ("MAINTENANCE_VACUUM_MIN_FREE_PAGES", "0.2", parse_float, "VACUUM only when at least this fraction of "
         "the database file is free pages (maintenance --vacuum always forces it)"),
    ]),
]

OPTIONS_BY_DEST = {o.dest: o for o in OPTIONS}
OPTIONS_BY_ENV = {o.env: o for o in OPTIONS}


@dataclasses.dataclass(frozen=True)
class Problem:
    """One configuration problem, shown to the operator as one line."""

    message: str
    env: str | None = None  # the option it concerns, if any

    def __str__(self) -> str:
        return self.message


def config_dir() -> Path:
    return Path(os.environ.get(CONFIG_DIR_ENV, DEFAULT_CONFIG_DIR))


def default_config_files() -> list[str]:
    base = config_dir()
    return [str(base / "vodtender.conf"), str(base / "conf.d" / "*.conf")]


class Config:
    """The parsed settings: attribute per option (`cfg.twitch_channel`), plus `problems`."""

    def __init__(self, values: dict[str, Any], problems: list[Problem], sources: dict[str, str]):
        self._values = values
        self.problems = problems
        self.sources = sources  # dest -> where the value came from (default, file, env, ...)

    def problems_for(self, sections: Sequence[str]) -> list[Problem]:
        """Parse problems of options in these sections (unknown options concern no daemon)."""
        return [p for p in self.problems if p.env and OPTIONS_BY_ENV[p.env].section in sections]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def secrets(self) -> list[str]:
        return [str(self._values[o.dest]) for o in OPTIONS if o.secret and self._values.get(o.dest)]

    def masked(self) -> dict[str, str]:
        """Every option as the operator would write it, secrets reduced to their last 4 chars."""
        out = {}
        for o in OPTIONS:
            value = self._values.get(o.dest)
            if value is None:
                shown = ""
            elif o.secret:
                shown = mask(str(value))
            elif isinstance(value, list):
                shown = ",".join(value)
            elif o.parse is parse_duration:
                shown = format_duration(value)
            elif isinstance(value, tuple):
                shown = f"{value[0]}:{value[1]}"
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
        add_help=False,
    )
    parser.add_argument("-c", "--config", is_config_file=True, help="extra config file")
    for o in OPTIONS:
        # Parsed later by us, so a bad value becomes a collected problem, not an exit.
        parser.add_argument(o.flag, env_var=o.env, dest=o.dest, default=None, help=o.help)
    return parser


def _credentials() -> dict[str, str]:
    """systemd LoadCredential=: a file per secret, named like the config key."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    found: dict[str, str] = {}
    if not folder:
        return found
    for o in OPTIONS:
        if not o.secret:
            continue
        for name in (o.key, o.env):
            path = Path(folder, name)
            if path.is_file():
                found[o.dest] = path.read_text().strip()
                break
    return found


def load_config(argv: Sequence[str] = ()) -> Config:
    """Parse everything; never exits.  `argv` holds only option flags (no subcommand)."""
    parser = _build_parser()
    problems: list[Problem] = []
    parser.error = _raise_config_error  # type: ignore[method-assign]
    try:
        namespace, unknown = parser.parse_known_args(list(argv))
    except ConfigError as exc:
        return Config({o.dest: None for o in OPTIONS}, [Problem(str(exc))], {})
    for index, extra in enumerate(unknown):
        if not extra.startswith("-"):
            if index == 0 or not unknown[index - 1].startswith("-"):  # else: an unknown option's value
                problems.append(Problem(f"unexpected argument {extra!r}"))
        else:
            flag = extra.split("=", 1)[0]
            where = "" if flag in argv else f" (key {flag[2:]!r} in a config file)"
            problems.append(Problem(f"unknown option {flag!r}{where}: the known ones are listed in "
                                    "etc/vodtender.conf and by `vodtender config check`"))
    credentials = _credentials()
    sources = _sources(parser, argv)
    values: dict[str, Any] = {}
    for o in OPTIONS:
        raw = getattr(namespace, o.dest)
        source = sources.get(o.dest, "default")
        if o.dest in credentials and (source == "default" or source.startswith("config file")):
            raw, source = credentials[o.dest], "credential"
        if raw is None or (raw == "" and o.default is None):
            values[o.dest] = None if o.default is None else o.parse(o.default)
            sources[o.dest] = "default"
            continue
        try:
            values[o.dest] = o.parse(raw)
        except ConfigError as exc:
            problems.append(Problem(f"{o.env}: {exc} (from {source})", o.env))
            values[o.dest] = None if o.default is None else o.parse(o.default)
        sources[o.dest] = source
    values["db_dsn"] = values["db_dsn"] or str(state_directory() / "vodtender.db")
    values["data_dir"] = values["data_dir"] or str(state_directory() / "data")
    return Config(values, problems, sources)


def state_directory() -> Path:
    """systemd's StateDirectory= (/var/lib/vodtender) when run by systemd, else the working directory."""
    state = os.environ.get("STATE_DIRECTORY")
    return Path(state.split(":")[0]) if state else Path(".")


def _raise_config_error(message: str) -> None:
    raise ConfigError(message)


def _sources(parser: configargparse.ArgParser, argv: Sequence[str]) -> dict[str, str]:
    """Which layer set each option, for `config check` and problem lines (later layers win)."""
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    by_key = {o.key: o for o in OPTIONS}
    sources: dict[str, str] = {}
    for origin, settings in parser._source_to_settings.items():
        if origin.startswith("config_file|"):
            for key in settings:
                if key in by_key:
                    sources[by_key[key].dest] = "config file " + origin.split("|", 1)[1]
    for o in OPTIONS:
        if o.flag in given:
            sources[o.dest] = "command line"
        elif o.env in os.environ:
            sources[o.dest] = "environment"
    return sources
