"""Per-channel settings: `[channel <login>]` sections of the configuration files.

    twitch-channel = alice,bob
    upload-privacy = private

    [channel alice]
    download-quality = 720p60/best
    upload-privacy = unlisted
    live-record = 1

A section overrides, for that channel's VODs, recordings and chat, the options that make sense per
channel (`PER_CHANNEL`); everything else is the same for every channel.  The global value of an
option still comes from the usual layers (files < credentials < environment < command line); a
channel's section wins over all of them for that channel, since it is the more specific choice.
Keys are written as in the global part; in a section, `live-record` is a yes/no for the channel.
A section ends at the next section; the global part ends at a file's first section.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import configargparse

from vodtender.runtime.options import (
    OPTIONS,
    TWITCH_LOGIN,
    ChannelSelection,
    ConfigError,
    Option,
    Problem,
    parse_bool,
)

PER_CHANNEL = frozenset(
    {
        "download_quality",
        "download_codecs",
        "download_name_template",
        "vod_catalog_types",
        "vod_catalog_max",
        "vod_catalog_max_age_days",
        "live_record",
        "chat_record",
        "upload_enabled",
        "upload_privacy",
        "upload_category",
        "upload_tags",
        "upload_playlist",
        "upload_publish_delay",
        "upload_title_template",
        "upload_description_template",
        "retention_keep_days",
        "retention_keep_count",
        "retention_without_upload",
    }
)
_SECTION = re.compile(r"\[\s*(?P<kind>\S+)(?:\s+(?P<name>[^\]\s]*))?\s*\]")


class GlobalPartParser(configargparse.DefaultConfigFileParser):
    """What configargparse reads of a config file: the lines before its first section."""

    def parse(self, stream: Iterable[str]) -> Any:
        return super().parse(itertools.takewhile(lambda line: not line.lstrip().startswith("["), stream))


@dataclasses.dataclass(frozen=True)
class ChannelOverrides:
    """One channel's section(s), parsed: values by option field name, and where each was set."""

    values: dict[str, object] = dataclasses.field(default_factory=dict)
    sources: dict[str, str] = dataclasses.field(default_factory=dict)


def applied(login: str, overrides: ChannelOverrides | None) -> dict[str, object]:
    """The field values the settings take for `login`: its section's (live-record as the channel's
    own selection)."""
    if overrides is None:
        return {}
    values = dict(overrides.values)
    if "live_record" in values:
        values["live_record"] = ChannelSelection((login,)) if values["live_record"] else ChannelSelection()
    return values


def effective_live_record(
    selection: ChannelSelection, watched: Sequence[str], channels: Mapping[str, ChannelOverrides]
) -> ChannelSelection:
    """LIVE_RECORD with the sections' `live-record` yes/no applied: `all` (every watched channel) minus the
    sections that say no, or the named channels plus those that say yes, minus those that say no."""
    said = {login: bool(o.values["live_record"]) for login, o in channels.items() if "live_record" in o.values}
    if not said:
        return selection
    if selection.every:
        if all(said.get(login, True) for login in watched):
            return selection
        return ChannelSelection(tuple(login for login in watched if said.get(login, True)))
    names = [login for login in selection.names if said.get(login, True)]
    names += [login for login, yes in said.items() if yes and login not in names]
    return ChannelSelection(tuple(names))


def read_channel_sections(files: Sequence[str]) -> tuple[dict[str, ChannelOverrides], list[Problem]]:
    """Every `[channel <login>]` section of these files (later files win), and what is wrong in them."""
    by_key = {o.key: o for o in OPTIONS}
    channels: dict[str, ChannelOverrides] = {}
    problems: list[Problem] = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as stream:
                lines = stream.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue  # configargparse has read (or refused) the file already: its error is reported there
        for login, where, body in _sections(path, lines, problems):
            found = channels.setdefault(login, ChannelOverrides())
            try:
                items = configargparse.DefaultConfigFileParser().parse(body)
            except configargparse.ConfigFileParserException as exc:
                problems.append(Problem(f"{where}: {exc}", origin="config file"))
                continue
            for key, raw in items.items():
                _take(found, by_key.get(key), key, str(raw), where, problems)
    return channels, problems


def _sections(path: str, lines: list[str], problems: list[Problem]) -> Iterable[tuple[str, str, list[str]]]:
    """(login, "config file F [channel x]", the section's lines) for each channel section of a file."""
    starts = [(i, m) for i, line in enumerate(lines) if (m := _SECTION.fullmatch(line.strip()))]
    for n, (start, match) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        where = f"config file {path}:{start + 1} {match.group(0)}"
        login = (match.group("name") or "").lower().lstrip("#")
        if match.group("kind").lower() != "channel" or not TWITCH_LOGIN.fullmatch(login):
            problems.append(
                Problem(
                    f"{where}: not a channel section (write [channel <login>], e.g. [channel alice])",
                    origin="config file",
                )
            )
            continue
        yield login, where, lines[start + 1 : end]


def _take(
    found: ChannelOverrides, option: Option | None, key: str, raw: str, where: str, problems: list[Problem]
) -> None:
    if option is None or option.dest not in PER_CHANNEL:
        known = ", ".join(sorted(o.key for o in OPTIONS if o.dest in PER_CHANNEL))
        what = "unknown option" if option is None else "not a per-channel option"
        problems.append(Problem(f"{where}: {key!r} is {what} (per channel: {known})", origin="config file"))
        return
    try:
        value = parse_bool(raw) if option.dest == "live_record" else option.value_of(raw)
    except ConfigError as exc:
        problems.append(Problem(f"{where}: {key}: {exc}", option.env, "config file"))
        return
    found.values[option.dest] = value
    found.sources[option.dest] = where


def sources_for(
    login: str, channels: Mapping[str, ChannelOverrides], global_sources: Mapping[str, str]
) -> dict[str, str]:
    """Where each option's value for `login` comes from."""
    own = channels.get(login)
    return {**global_sources, **(own.sources if own else {})}
