"""Every option of every daemon, declared once, as a typed field of `Settings`.

A field's name is its option's name: `download_timeout` is the environment name
DOWNLOAD_TIMEOUT, the flag --download-timeout and the config-file key download-timeout.
`OPTIONS` (what `vodtender config check`, etc/vodtender.conf and the README are checked
against) is read off the fields, so the table and the types cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast, dataclass_transform

from vodtender.runtime.installation import this_installation

T = TypeVar("T")


class ConfigError(ValueError):
    """A value that cannot be parsed; the message is shown to the operator as is."""


COMMAND_LINE = "command line"  # the source of a value given as a flag


@dataclasses.dataclass(frozen=True)
class Problem:
    """One configuration problem, shown to the operator as one line."""

    message: str
    env: str | None = None  # the option it concerns, if any
    origin: str | None = None  # where the offending value was given: COMMAND_LINE, ...; None: nowhere in particular

    def __str__(self) -> str:
        return self.message


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


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
    "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """`500M`, `10G`, `1.5GiB` or a bare number of bytes -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ConfigError(f"bad size {text!r} (use e.g. 500M, 10G)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def format_size(n: float | None) -> str:
    """For display, in the units parse_size reads: 1536 -> '1.5 KiB'; unknown -> '-'."""
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


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


TWITCH_LOGIN = re.compile(r"[a-z0-9_]{1,25}")  # what Twitch allows in a login (lowered)


def parse_logins(text: str) -> list[str]:
    """`parse_list` of Twitch logins: `a b` or `a;b` is a mistake to report, not a channel."""
    names = parse_list(text)
    bad = [name for name in names if not TWITCH_LOGIN.fullmatch(name)]
    if bad:
        raise ConfigError(f"not a Twitch login: {bad[0]!r} (letters, digits and _; separate logins with commas)")
    return names


def parse_addr(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` -> (host, port)."""
    m = re.fullmatch(r"\[?([^\]]*?)\]?:(\d{1,5})", text.strip())
    if not m or int(m.group(2)) > 65535:
        raise ConfigError(f"bad address {text!r} (use host:port, e.g. 127.0.0.1:9741)")
    return m.group(1), int(m.group(2))


VIDEO_CODECS = ("av1", "h265", "h264")  # what DOWNLOAD_CODECS may name, by their canonical names
_CODEC_NAMES = {"av1": "av1", "h265": "h265", "hevc": "h265", "h264": "h264", "avc": "h264", "avc1": "h264"}


def parse_codecs(text: str) -> tuple[str, ...]:
    """`av1,HEVC,avc1` -> ('av1', 'h265', 'h264'): canonical names, in the given order, each once."""
    words = [word.strip() for word in text.split(",") if word.strip()]
    if not words:
        raise ConfigError(f"no video codec named (use some of {','.join(VIDEO_CODECS)})")
    codecs: list[str] = []
    for word in words:
        codec = _CODEC_NAMES.get(word.lower())
        if codec is None:
            raise ConfigError(
                f"unknown video codec {word!r} (use some of {','.join(VIDEO_CODECS)}; hevc and avc are accepted too)"
            )
        if codec not in codecs:
            codecs.append(codec)
    return tuple(codecs)


@dataclasses.dataclass(frozen=True)
class GapLimit:
    """DOWNLOAD_MAX_GAP parsed: the most of a VOD that Twitch may have lost, the largest of a fixed
    duration, a share of the VOD's duration and a number of its segments (each 0 when not used)."""

    text: str  # as `config check` shows it
    seconds: float = 0.0
    percent: float = 0.0
    segments: int = 0

    def limit_seconds(self, vod_seconds: float, segment_seconds: float) -> float:
        return max(self.seconds, self.percent / 100 * vod_seconds, self.segments * segment_seconds)

    def __str__(self) -> str:
        return self.text


AUTO_GAP_LIMIT = GapLimit("auto", percent=1.0, segments=3)


def parse_gap_limit(text: str) -> GapLimit:
    """`auto` (the larger of 3 segments and 1% of the VOD), a duration (`45s`, `2m`; `0`: none), or `2%`."""
    value = text.strip().lower()
    if value == "auto":
        return AUTO_GAP_LIMIT
    share = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", value)
    if share:
        percent = float(share.group(1))
        if percent > 100:
            raise ConfigError(f"bad gap limit {text!r} (a share is at most 100%)")
        return GapLimit(f"{share.group(1)}%", percent=percent)
    try:
        seconds = parse_duration(value)
    except ConfigError:
        raise ConfigError(
            f"bad gap limit {text!r} (use auto, a duration like 45s or 2m, a share like 2%, or 0)"
        ) from None
    return GapLimit(format_duration(seconds) if seconds else "0", seconds=seconds)


@dataclasses.dataclass(frozen=True)
class ChannelSelection:
    """LIVE_RECORD parsed: every channel the poller watches (`all`), the named ones, or none (empty)."""

    names: tuple[str, ...] = ()
    every: bool = False

    @property
    def empty(self) -> bool:
        return not self.every and not self.names

    def channels(self) -> tuple[str, ...] | None:
        """The channels chosen; None when every channel is."""
        return None if self.every else self.names

    def __str__(self) -> str:
        return "all" if self.every else ",".join(self.names)


def parse_channel_selection(text: str) -> ChannelSelection:
    """`all`, `a,b` (logins, lowered) or empty -> a ChannelSelection; `all` cannot be mixed with names."""
    names = parse_logins(text)
    if "all" not in names:
        return ChannelSelection(tuple(dict.fromkeys(names)))
    if len(names) > 1:
        raise ConfigError(f"bad channel list {text!r} (use all, or channel logins a,b; not both)")
    return ChannelSelection(every=True)


KEEP_POLICIES = ("when-vod-worse", "always", "never")  # LIVE_RECORD_KEEP


def parse_keep_policy(text: str) -> str:
    """LIVE_RECORD_KEEP: what becomes of a live recording once its stream's VOD is verified."""
    value = text.strip().lower()
    if value not in KEEP_POLICIES:
        raise ConfigError(f"bad keep policy {text!r} (use one of {', '.join(KEEP_POLICIES)})")
    return value


def parse_str(text: str) -> str:
    return text.strip()


def parse_path(text: str) -> Path:
    return Path(text.strip())


def state_directory() -> Path:
    """systemd's StateDirectory= when run by systemd, the installation's (/var/lib/vodtender) when run
    by hand on a host where the package is installed, else the working directory (a checkout)."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0])
    installation = this_installation()
    return installation.state_dir if installation else Path(".")


def default_db_dsn() -> str:
    """DB_DSN when it is not set: vodtender.db in `state_directory()`."""
    return str(state_directory() / "vodtender.db")


def default_key_file() -> Path:
    """ENCRYPTION_KEY_FILE when it is not set: encryption.key in `state_directory()`."""
    return state_directory() / "encryption.key"


def default_data_dir() -> Path:
    """DATA_DIR when it is not set: data/ in `state_directory()`."""
    return state_directory() / "data"


@dataclasses.dataclass(frozen=True)
class Option:
    env: str  # environment name, e.g. TWITCH_CHANNEL; the flag is --twitch-channel
    section: str
    default: str | None  # as the operator would write it; None: not set
    parse: Callable[[str], object]
    help: str
    secret: bool = False
    minimum: int | None = None  # smaller values are a problem of the daemons of this section
    fallback: Callable[[], object] | None = None  # computes the value when the option is not set

    @property
    def flag(self) -> str:
        return "--" + self.key

    @property
    def key(self) -> str:
        return self.env.lower().replace("_", "-")

    @property
    def dest(self) -> str:
        return self.env.lower()

    def unset_value(self) -> object:
        """The value when nothing sets the option (or what is set does not parse)."""
        if self.fallback is not None:
            return self.fallback()
        return None if self.default is None else self.parse(self.default)

    def value_of(self, raw: str) -> object:
        """`raw` parsed; raises ConfigError."""
        if self.fallback is not None and not raw.strip():
            return self.fallback()
        return self.parse(raw)

    def range_problem(self, value: object) -> Problem | None:
        if self.minimum is not None and isinstance(value, int | float) and value < self.minimum:
            return Problem(f"{self.env} must be at least {self.minimum}", self.env)
        return None


def option(
    section: str,
    default: str | None,
    parse: Callable[[str], T],
    help: str,
    *,
    secret: bool = False,
    minimum: int | None = None,
    fallback: Callable[[], T] | None = None,
) -> T:
    """A `Settings` field; typed as its parser's result, so a field and its parser must agree."""
    # The Option is completed with its environment name, the field's name, by `OPTIONS`.
    spec = functools.partial(
        Option,
        section=section,
        default=default,
        parse=parse,
        help=help,
        secret=secret,
        minimum=minimum,
        fallback=fallback,
    )
    return cast(T, dataclasses.field(metadata={"option": spec}))


@dataclass_transform(frozen_default=True, field_specifiers=(option,))
def settings_class(cls: type[T]) -> type[T]:
    """A frozen dataclass whose fields are `option()`s (declared so, type checkers see them as fields)."""
    return dataclasses.dataclass(frozen=True)(cls)


@settings_class
class Settings:
    """Every option's value, parsed: one field per option, in the order `config check` shows them."""

    # ---- general
    db_dsn: str = option(
        "general",
        None,
        parse_str,
        "database: a SQLite path, sqlite:///relative/path, sqlite:////absolute/path or postgresql://user:pw@host/db "
        "(default: /var/lib/vodtender/vodtender.db where the package is installed, else ./vodtender.db)",
        fallback=default_db_dsn,
    )
    data_dir: Path = option(
        "general",
        None,
        parse_path,
        "where downloaded videos go (default: /var/lib/vodtender/data where the package is installed, else ./data)",
        fallback=default_data_dir,
    )
    data_dir_shared: bool = option(
        "general", "0", parse_bool, "1 when DATA_DIR is the same shared folder on every host"
    )
    log_level: str = option("general", "info", parse_str, "debug, info, warning or error")
    heartbeat_interval: float = option("general", "5s", parse_duration, "how often a daemon records that it is alive")
    encryption_key: str | None = option(
        "general",
        None,
        parse_str,
        "key or passphrase that encrypts OAuth tokens at rest (empty: a key generated into ENCRYPTION_KEY_FILE)",
        secret=True,
    )
    encryption_key_file: Path = option(
        "general",
        None,
        parse_path,
        "the key generated (mode 0600) at first use when ENCRYPTION_KEY is not set "
        "(default: /var/lib/vodtender/encryption.key where the package is installed, else ./encryption.key)",
        fallback=default_key_file,
    )

    # ---- twitch
    twitch_channel: list[str] = option(
        "twitch", None, parse_logins, "channel logins to archive, comma separated: a,b,c", fallback=list
    )
    twitch_client_id: str | None = option("twitch", None, parse_str, "Twitch application client id (Helix)")
    twitch_client_secret: str | None = option(
        "twitch", None, parse_str, "Twitch application client secret (Helix)", secret=True
    )
    twitch_bot_username: str | None = option(
        "twitch", None, parse_str, "chat login; empty: anonymous read-only (justinfan)"
    )
    twitch_oauth_token: str | None = option(
        "twitch",
        None,
        parse_str,
        "chat token for TWITCH_BOT_USERNAME (oauth: prefix optional); also used for sub-only VODs",
        secret=True,
    )
    twitch_helix_url: str = option("twitch", "https://api.twitch.tv/helix", parse_str, "Helix API base URL")
    twitch_auth_url: str = option(
        "twitch", "https://id.twitch.tv/oauth2", parse_str, "Twitch OAuth base URL (token, validate)"
    )
    twitch_irc_addr: tuple[str, int] = option(
        "twitch", "irc.chat.twitch.tv:6697", parse_addr, "Twitch IRC server host:port"
    )
    twitch_irc_tls: bool = option("twitch", "1", parse_bool, "use TLS to the IRC server")
    twitch_vod_url_template: str = option(
        "twitch",
        "https://www.twitch.tv/videos/{id}",
        parse_str,
        "URL handed to yt-dlp for a VOD; {id} is the Twitch VOD id",
    )
    twitch_live_url_template: str = option(
        "twitch",
        "https://www.twitch.tv/{channel}",
        parse_str,
        "URL handed to yt-dlp for a channel's live stream (the recorder); {channel} is the login",
    )

    # ---- poller
    vod_catalog_backfill_interval: float = option("poller", "6h", parse_duration, "time between catalog backfill runs")
    vod_catalog_max: int = option("poller", "0", parse_int, "at most this many VODs per channel (0: no limit)")
    vod_catalog_max_age_days: int = option(
        "poller", "0", parse_int, "ignore VODs older than this many days (0: no limit)"
    )
    vod_catalog_types: list[str] = option(
        "poller", "archive", parse_list, "Helix video types to archive: archive,highlight,upload"
    )
    chat_auto_start: bool = option(
        "poller", "1", parse_bool, "watch channels for going live and record chat on a placeholder"
    )
    chat_auto_poll_interval: float = option("poller", "60s", parse_duration, "how often live status is polled")
    vod_reconcile_delay: float = option(
        "poller", "2m", parse_duration, "wait after a stream ends before looking for its VOD"
    )
    vod_reconcile_window: float = option(
        "poller", "15m", parse_duration, "keep looking for the VOD this long, then warn"
    )
    helix_backoff_base: float = option(
        "poller", "2s", parse_duration, "first retry delay of a failed Helix request; doubles per failure, with jitter"
    )
    vod_reconcile_match_window: float = option(
        "poller",
        "10m",
        parse_duration,
        "a VOD without a stream id matches a placeholder whose start is at most this far from its own",
    )
    poller_http_addr: tuple[str, int] = option(
        "poller", "127.0.0.1:9741", parse_addr, "poller /metrics /healthz /readyz address"
    )

    # ---- downloader
    max_concurrent_downloads: int = option(
        "downloader", "1", parse_int, "VODs downloaded at once by one downloader", minimum=1
    )
    download_fragment_concurrency: int = option(
        "downloader", "8", parse_int, "HLS fragments fetched at once per VOD", minimum=1
    )
    download_max_attempts: int = option(
        "downloader", "5", parse_int, "attempts per VOD before it is marked failed", minimum=1
    )
    download_backoff_base: float = option(
        "downloader", "30s", parse_duration, "first retry delay; doubles per attempt, with jitter"
    )
    download_quality: str = option("downloader", "best", parse_str, "yt-dlp format selection")
    download_name_template: str = option(
        "downloader",
        "{channel}/{date}_{id}_{title}.mp4",
        parse_str,
        "file name under DATA_DIR; {channel} {date} {id} {title} (sanitised)",
    )
    download_min_free: int = option(
        "downloader", "1G", parse_size, "free space kept in DATA_DIR beyond the VOD's estimated size"
    )
    download_fragment_retries: int = option(
        "downloader", "10", parse_int, "retries of one fragment (network errors, 5xx) within an attempt"
    )
    download_timeout: float = option("downloader", "30s", parse_duration, "network timeout of one download request")
    download_buffer: int = option(
        "downloader",
        "64M",
        parse_size,
        "memory per VOD for fragments fetched ahead of the "
        "one being written (fragments finish out of order; too little stalls the fetch)",
    )
    download_codecs: tuple[str, ...] = option(
        "downloader",
        "av1,h265,h264",
        parse_codecs,
        "video codecs a download may have (the best rendition among them wins): av1, h265 (hevc), h264 (avc)",
    )
    download_max_gap: GapLimit = option(
        "downloader",
        "auto",
        parse_gap_limit,
        "most of a VOD (its gaps together) Twitch may have lost in every form before the download fails: "
        "auto (the larger of 3 segments and 1% of the VOD), a duration (45s, 2m), a share (2%), 0: none",
    )
    download_recording_recheck: float = option(
        "downloader",
        "5m",
        parse_duration,
        "how often a VOD Twitch is still recording is checked again (it is downloaded once its playlist ends)",
    )
    circuit_failure_threshold: int = option(
        "downloader", "5", parse_int, "consecutive systemic failures that open the breaker"
    )
    circuit_open_cooldown: float = option(
        "downloader", "10m", parse_duration, "how long the breaker stays open before one probe"
    )
    lease_duration: float = option(
        "downloader", "2m", parse_duration, "claim lease; renewed while working, expires if a worker dies"
    )
    downloader_http_addr: tuple[str, int] = option(
        "downloader", "127.0.0.1:9742", parse_addr, "downloader /metrics /healthz /readyz address"
    )

    # ---- uploader
    yt_client_id: str | None = option(
        "uploader", None, parse_str, "Google OAuth client id; empty: download-only, no uploads"
    )
    yt_client_secret: str | None = option("uploader", None, parse_str, "Google OAuth client secret", secret=True)
    youtube_api_url: str = option(
        "uploader", "https://www.googleapis.com/", parse_str, "YouTube Data API root (uploads included)"
    )
    youtube_token_url: str = option(
        "uploader", "https://oauth2.googleapis.com/token", parse_str, "Google OAuth token endpoint"
    )
    youtube_auth_url: str = option(
        "uploader",
        "https://accounts.google.com/o/oauth2/auth",
        parse_str,
        "Google OAuth consent page opened by `vodtender auth youtube`",
    )
    upload_timeout: float = option("uploader", "60s", parse_duration, "network timeout of one upload request")
    upload_max_attempts: int = option("uploader", "5", parse_int, "attempts per VOD before it is marked failed")
    upload_backoff_base: float = option(
        "uploader", "30s", parse_duration, "first retry delay; doubles per attempt, with jitter"
    )
    upload_chunk_size: int = option("uploader", "64M", parse_size, "resumable upload chunk size")
    upload_max_part: float = option(
        "uploader", "11h55m", parse_duration, "longer VODs are cut into parts (YouTube refuses over 12 hours)"
    )
    upload_max_part_bytes: int = option(
        "uploader", "250G", parse_size, "larger VODs are cut into parts (YouTube refuses over 256 GB)"
    )
    upload_enabled: bool = option(
        "uploader", "1", parse_bool, "upload VODs when YouTube is configured (0: download only); per channel too"
    )
    upload_privacy: str = option("uploader", "private", parse_str, "private, unlisted or public")
    upload_category: str = option("uploader", "20", parse_str, "YouTube category id (20: Gaming)")
    upload_tags: list[str] = option("uploader", "", parse_list, "tags, comma separated")
    upload_playlist: str | None = option("uploader", None, parse_str, "playlist id to add uploads to")
    upload_publish_delay: float = option(
        "uploader",
        "0",
        parse_duration,
        "schedule publication this long after the upload starts (e.g. 24h): uploaded private, "
        "UPLOAD_PRIVACY from then on; 0: off",
    )
    upload_title_template: str = option("uploader", "{channel} {date}: {title}", parse_str, "video title template")
    upload_description_template: str = option(
        "uploader",
        "{title}\\n\\nStreamed by {channel} on {date} ({duration}).\\n{vod_url}",
        parse_str,
        "video description template (\\n for new lines)",
    )
    upload_quota_cost: int = option("uploader", "1600", parse_int, "quota units one upload costs")
    upload_quota_daily: int = option("uploader", "10000", parse_int, "quota units available per day")
    upload_delete_local: bool = option(
        "uploader", "0", parse_bool, "delete the local file once YouTube has processed the upload"
    )
    upload_processing_check: float = option(
        "uploader", "30s", parse_duration, "first check of YouTube's processing after the upload; doubles to 30m"
    )
    upload_processing_max_checks: int = option(
        "uploader", "60", parse_int, "processing checks per video before it is marked failed", minimum=1
    )
    upload_limit_hold: float = option(
        "uploader", "24h", parse_duration, "how long uploads wait after YouTube's uploadLimitExceeded"
    )
    uploader_http_addr: tuple[str, int] = option(
        "uploader", "127.0.0.1:9743", parse_addr, "uploader /metrics /healthz /readyz address"
    )

    # ---- chat
    chat_record: bool = option(
        "chat", "1", parse_bool, "record the chat of the channels in TWITCH_CHANNEL (0: none); per channel too"
    )
    chat_batch_interval: float = option("chat", "250ms", parse_duration, "chat rows are written at least this often")
    chat_batch_size: int = option(
        "chat", "2000", parse_int, "or when this many rows are waiting (bigger batches catch up faster)"
    )
    chat_queue_max: int = option("chat", "200000", parse_int, "rows buffered while the database is slow")
    chat_http_addr: tuple[str, int] = option(
        "chat", "127.0.0.1:9744", parse_addr, "chat /metrics /healthz /readyz address"
    )
    chat_backfill: bool = option(
        "chat", "0", parse_bool, "fetch the comment replay of catalog VODs that have no recorded chat"
    )
    chat_backfill_pace: float = option(
        "chat", "1s", parse_duration, "wait between two comment-replay pages (Twitch throttles)"
    )
    twitch_gql_url: str = option("chat", "https://gql.twitch.tv/gql", parse_str, "Twitch GraphQL endpoint")
    twitch_gql_client_id: str = option(
        "chat", "kimne78kx3ncx6brgo4mv6wki5h1ko", parse_str, "Client-ID of Twitch's web player (public)"
    )

    # ---- recorder
    live_record: ChannelSelection = option(
        "recorder",
        "",
        parse_channel_selection,
        "channels whose live streams are recorded as they happen: a,b or all (empty: none, the recorder idles)",
    )
    live_record_max: int = option(
        "recorder", "4", parse_int, "live streams recorded at once by one recorder", minimum=1
    )
    live_record_poll: float = option(
        "recorder",
        "0",
        parse_duration,
        "how often a live playlist is read again for new segments (0: every half of its newest segment)",
    )
    live_record_end_grace: float = option(
        "recorder",
        "60s",
        parse_duration,
        "how long a live playlist may stop growing, its stream no longer live, before the recording is finished",
    )
    live_record_keep: str = option(
        "recorder",
        "when-vod-worse",
        parse_keep_policy,
        "a recording once its VOD is verified: when-vod-worse (kept if the VOD is muted, has gaps or is shorter), "
        "always, never (removed)",
    )
    recorder_http_addr: tuple[str, int] = option(
        "recorder", "127.0.0.1:9745", parse_addr, "recorder /metrics /healthz /readyz address"
    )

    # ---- web
    web_addr: tuple[str, int] = option(
        "web",
        "127.0.0.1:9746",
        parse_addr,
        "web viewer address (pages, API, /metrics /healthz /readyz); without WEB_AUTH only a loopback one is served",
    )
    web_auth: str | None = option(
        "web",
        None,
        parse_str,
        "who may use the web viewer: the path of an htpasswd file (bcrypt, scrypt or pbkdf2 hashes), or `token` "
        "for the bearer token WEB_TOKEN; empty: nobody signs in (loopback only, no operator actions)",
    )
    web_token: str | None = option(
        "web", None, parse_str, "the bearer token of WEB_AUTH=token (credential web-token)", secret=True
    )

    # ---- maintenance
    backup_dir: str | None = option(
        "maintenance", None, parse_str, "where database backups go (default: backups/ beside the database)"
    )
    backup_keep: int = option("maintenance", "7", parse_int, "backups kept")
    retention_keep_days: int = option(
        "maintenance", "0", parse_int, "delete uploaded files older than this many days (0: keep)"
    )
    retention_keep_count: int = option(
        "maintenance", "0", parse_int, "keep at most this many files per channel (0: no limit)"
    )
    retention_min_free: int = option(
        "maintenance", "0", parse_size, "delete oldest uploaded files until this much is free (0: off)"
    )
    retention_without_upload: bool = option(
        "maintenance", "0", parse_bool, "also delete files that were never uploaded (only when uploading is off)"
    )
    maintenance_metrics_file: str | None = option(
        "maintenance",
        None,
        parse_str,
        "write maintenance results here in Prometheus text format (for "
        "node_exporter's textfile collector, e.g. /var/lib/prometheus/node-exporter/vodtender.prom)",
    )
    maintenance_vacuum_min_free_pages: float = option(
        "maintenance",
        "0.2",
        parse_float,
        "VACUUM only when at least this fraction of the database file is free "
        "pages (maintenance --vacuum always forces it)",
    )


# One table for every option of every daemon, read off `Settings`.
OPTIONS: list[Option] = [f.metadata["option"](f.name.upper()) for f in dataclasses.fields(Settings)]
OPTIONS_BY_ENV = {o.env: o for o in OPTIONS}


def unset_settings() -> dict[str, Any]:
    """Every field's value when nothing is set (each of its field's type: `option()` ties it to the parser's)."""
    return {o.dest: o.unset_value() for o in OPTIONS}
