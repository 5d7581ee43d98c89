"""`vodtender config check` and `vodtender config example`."""

from __future__ import annotations

import argparse
import sys

from vodtender.runtime.channel_settings import PER_CHANNEL
from vodtender.runtime.config import OPTIONS, Config, default_config_files, load_config
from vodtender.runtime.redact import redact, redact_data, register_config_secrets


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check or document the configuration")
    csub = p.add_subparsers(dest="config_command", required=True)
    check = csub.add_parser("check", help="print the effective configuration (secrets masked) and every problem")
    check.set_defaults(func=cmd_check)
    example = csub.add_parser("example", help="print a config file documenting every option (etc/vodtender.conf)")
    example.set_defaults(func=cmd_example)


def cmd_check(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_config(config_argv)
    read = " ".join(cfg.files_read) or "none (looked for " + " ".join(default_config_files()) + ")"
    print("# config files read (later ones win): " + read)
    register_config_secrets(cfg)
    shown: dict[str, str] = redact_data(cfg.masked())  # DB_DSN's password too
    width = max(len(env) for env in shown)
    for o in OPTIONS:
        print(f"{o.env:<{width}} = {shown[o.env]:<40} ({cfg.sources.get(o.dest, 'default')})")
    print_channels(cfg, width)
    if not cfg.yt_client_id and not cfg.yt_client_secret:
        print("# note: no YouTube credentials: VODs are archived locally, not uploaded")
    if cfg.twitch_oauth_token and not cfg.twitch_bot_username:
        print(
            "# note: TWITCH_OAUTH_TOKEN without TWITCH_BOT_USERNAME: chat is read anonymously; "
            "the token serves only sub-only VOD downloads (set TWITCH_BOT_USERNAME to log chat in with it)"
        )
    problems = cfg.all_problems()
    for problem in problems:
        print(redact(f"problem: {problem}"), file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("configuration OK")
    return 0


def print_channels(cfg: Config, width: int) -> None:
    """Each channel's value of every per-channel option, and where it comes from."""
    for login in dict.fromkeys([*cfg.twitch_channel, *cfg.channels]):
        own = cfg.for_channel(login)
        shown = redact_data(own.masked())
        sources = cfg.channel_sources(login)
        print(f"# ---- channel {login} (the options a [channel {login}] section may set)")
        for o in OPTIONS:
            if o.dest in PER_CHANNEL:
                value = (
                    ("yes" if login in (own.live_record.channels() or [login]) else "no")
                    if o.dest == "live_record"
                    else shown[o.env]
                )
                print(f"{o.env:<{width}} = {value:<40} ({sources.get(o.dest, 'default')})")


def example_text() -> str:
    lines = [
        "# vodtender configuration.  Every option is listed with its default, commented out.",
        "# Precedence: defaults < this file < conf.d/*.conf < systemd credentials < environment",
        "# < command line.  Keys are the environment names in lower case with dashes.",
        "# Durations: 30s, 5m, 6h, 1h30m.  Sizes: 500M, 10G.  Lists: a,b,c.",
        "# Secrets (marked) are better kept in /etc/vodtender/vodtender.env (mode 0640) or",
        "# as systemd credentials named like the key, e.g. twitch-client-secret.",
        "# After a change: systemctl reload vodtender.target",
    ]
    section = None
    for o in OPTIONS:
        if o.section != section:
            section = o.section
            lines += ["", f"# ---- {section} " + "-" * (60 - len(section))]
        lines.append(f"# {o.help}" + (" [secret]" if o.secret else ""))
        lines.append(f"# env: {o.env}")
        lines.append(f"#{o.key} = {o.default if o.default is not None else ''}".rstrip())
    keys = [o.key for o in OPTIONS if o.dest in PER_CHANNEL]
    lines += [
        "",
        "# ---- per channel " + "-" * 49,
        "# A [channel <login>] section, after every global option of its file, sets for that channel",
        "# (over every other layer) any of these options, live-record as yes/no for the channel:",
        *("#   " + ", ".join(keys[i : i + 4]) for i in range(0, len(keys), 4)),
        "# `vodtender config check` shows each channel's values and where they come from.",
        "#[channel alice]",
        "#download-quality = 720p60/best",
        "#upload-privacy = unlisted",
        "#live-record = 1",
    ]
    return "\n".join(lines) + "\n"


def cmd_example(args: argparse.Namespace, config_argv: list[str]) -> int:
    sys.stdout.write(example_text())
    return 0
