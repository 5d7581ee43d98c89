"""`vodtender status`: one screen that answers "is it working?".

Colour on a terminal, plain text when piped, `--json` for scripts (schema:
`schemas/status.schema.json`).  Exit status: 0 all well, 1 something needs attention
(a daemon down, the breaker open, ...), 2 the configuration or database is unusable.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, ClassVar, TextIO

import peewee

from vodtender.cli.commands import summary
from vodtender.cli.common import load_or_exit, open_existing
from vodtender.ops.status import gather_status, to_json
from vodtender.runtime.config import Config, format_duration
from vodtender.runtime.db import describe_dsn
from vodtender.runtime.options import format_size
from vodtender.runtime.redact import redact

EXIT_OK, EXIT_ATTENTION, EXIT_UNUSABLE = 0, 1, 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help=summary("status"))
    p.add_argument("--json", action="store_true", help="machine-readable output (schemas/status.schema.json)")
    add_color_option(p)
    p.set_defaults(func=cmd_status)


def add_color_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output (auto: only on a terminal, and not when NO_COLOR is set)",
    )


class Palette:
    """ANSI colours, or nothing when the output is not a terminal."""

    CODES: ClassVar[dict[str, str]] = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2"}

    def __init__(self, mode: str = "auto", stream: TextIO = sys.stdout):
        if mode == "auto":
            self.enabled = stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        else:
            self.enabled = mode == "always"

    def __call__(self, color: str, text: str) -> str:
        return f"\033[{self.CODES[color]}m{text}\033[0m" if self.enabled else text

    def state(self, text: str) -> str:
        good = {"up", "closed", "connected", "ok", "PASS", "done", "finished"}
        bad = {"down", "open", "disconnected", "FAIL", "failed", "problem"}
        return self("green" if text in good else "red" if text in bad else "yellow", text)


def printable(text: object) -> str:
    """Text from the database made safe for a terminal: one line, no escape sequences."""
    value = str(text).replace("\n", " ").replace("\t", " ")
    return "".join(ch for ch in value if ch.isprintable())


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return f"{format_duration(max(0.0, seconds))} ago" if seconds >= 1 else "just now"


def recording_line(r: dict[str, Any], c: Palette) -> str:
    """One live recording: state (its outcome once decided), channel, stream, source, duration, size, gaps, ads."""
    gaps = r["gaps"]
    gap_text = f"{len(gaps)} gap(s) {format_duration(r['gap_seconds'])}" if gaps else "no gaps"
    ads = f", ads dropped {format_duration(r['ads_dropped_seconds'])}" if r["ads_dropped_seconds"] else ""
    state = "finishing" if r["state"] == "recording" and not r["live"] else r["state"]  # its stream has ended
    state = r["outcome"] or state  # once finished: kept, removed, archive or lost
    error = c("red", f"  {printable(r['error'])}") if r["error"] else ""
    return (
        f"{c.state(state)}{' ' * (10 - len(state))} {printable(r['channel']):<16} stream {printable(r['stream_id'])} "
        f"from {r['source']}  {format_duration(r['duration_seconds'])}  {format_size(r['size_bytes'])}  "
        f"{gap_text}{ads}{error}"
    )


def render(report: dict[str, Any], c: Palette) -> str:
    lines: list[str] = []
    verdict = c("green", "all well") if report["ok"] else c("red", "needs attention")
    lines.append(c("bold", "vodtender status") + f"  {report['generated_at']}  {verdict}")
    read = report["read"]
    files = " ".join(read["config_files"]) or "none"
    lines.append(c("bold", "read") + f"     database {read['database']}; configuration {files}")

    lines.append(c("bold", "daemons"))
    for d in report["daemons"]:
        inst = d["instances"][0] if d["instances"] else None
        detail = (
            f"{printable(inst['status'])}  ({inst['instance']}, heartbeat {ago(inst['heartbeat_age_seconds'])})"
            if inst
            else "no heartbeat"
        )
        lines.append(f"  {d['name']:<11}{c.state(d['state'])}{' ' * (6 - len(d['state']))} {detail}")

    q = report["queue"]
    lines.append(
        c("bold", "queue")
        + "  "
        + "  ".join(f"{stage} {c('red', str(n)) if stage == 'failed' and n else n}" for stage, n in q.items())
    )

    if report["in_flight"]:
        lines.append(c("bold", "in flight"))
    for f in report["in_flight"]:
        pct = f"{f['percent']:.1f}%" if f["percent"] is not None else "?%"
        speed = f"{format_size(f['speed_bytes_per_second'])}/s" if f["speed_bytes_per_second"] else "-"
        eta = format_duration(f["eta_seconds"]) if f["eta_seconds"] is not None else "-"
        flag = c("red", " STALLED") if f["stalled"] else c("yellow", " lease expired") if f["lease_expired"] else ""
        lines.append(
            f"  {f['stage']:<11}{f['twitch_vod_id']:<14}{f['channel']:<16}{pct:>7}  "
            f"{format_size(f['bytes_done'])}/{format_size(f['bytes_total'])}  {speed}  eta {eta}{flag}"
        )

    if report["recordings"]:
        lines.append(c("bold", "live recordings"))
    lines += [f"  {recording_line(r, c)}" for r in report["recordings"]]

    b = report["breaker"]
    until = f" until {b['open_until']}" if b["state"] != "closed" and b["open_until"] else ""
    lines.append(c("bold", "breaker") + f"  {c.state(b['state'])}{until}  failures {b['failures']}/{b['threshold']}")

    for cat in report["catalog"]:
        extra = (
            f"  unreconciled: {', '.join(cat['unreconciled_placeholders'])}" if cat["unreconciled_placeholders"] else ""
        )
        lines.append(c("bold", "catalog") + f"  {cat['channel']:<16} last sync {ago(cat['age_seconds'])}{extra}")

    for ch in report["chat"]:
        gap = ch["last_gap"]
        gap_text = (
            f"last gap {gap['started_at']} ({gap['seconds']:.0f}s{', open' if not gap['ended_at'] else ''})"
            if gap
            else "no gaps"
        )
        lines.append(
            c("bold", "chat") + f"     {ch['channel']:<16} "
            f"{c.state('connected' if ch['connected'] else 'disconnected')}  "
            f"{ch['messages_last_minute']} msg/min  {gap_text}"
        )

    yt = report["youtube"]
    if not yt["configured"]:
        yt_text = "not configured (download-only)"
    elif yt["token"] is None:
        yt_text = c("red", "no token")
    else:
        t = yt["token"]
        yt_text = f"token expires {t['expires_at'] or '?'}" + (" (refreshable)" if t["has_refresh_token"] else "")
        if t["invalid_reason"]:
            yt_text = c("red", f"token invalid: {t['invalid_reason']}")
    q = yt["quota"]
    quota = f"  quota {q['used_today']}/{q['daily_units']}" + (
        c("yellow", f" held until {q['held_until']}") if q["held_until"] else ""
    )
    limit = yt["upload_limit"]
    if limit["held_until"]:
        quota += c("yellow", f"  upload limit reached, held until {limit['held_until']}")
    lines.append(c("bold", "youtube") + f"  {yt_text}{quota}")
    if yt["private_locked"]:
        lines.append(c("bold", "youtube") + "  " + c("yellow", f"uploads locked private: {yt['private_locked']}"))

    disk = report["disk"]
    lines.append(
        c("bold", "disk") + f"     {format_size(disk['free_bytes'])} free of "
        f"{format_size(disk['total_bytes'])} in {disk['data_dir']}"
    )
    m = report["maintenance"]
    lines.append(
        c("bold", "maint.") + f"   last run {m['last_run_at'] or 'never'}, integrity {m['integrity'] or '-'}"
        f", last backup {m['last_backup_at'] or 'never'}"
    )

    for finding in report["attention"]:
        color = "red" if finding["level"] == "problem" else "yellow"
        lines.append(c(color, f"{finding['level']}: ") + printable(finding["message"]))
    return "\n".join(lines) + "\n"


def what_was_read(cfg: Config) -> dict[str, Any]:
    """Which database and configuration files this answer comes from (an operator in the wrong
    directory, or with the wrong DB_DSN, sees it at once)."""
    return {"database": describe_dsn(cfg.db_dsn), "config_files": cfg.files_read}


def cmd_status(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv)
    try:
        open_existing(cfg)
        report = gather_status(cfg) | {"read": what_was_read(cfg)}
    except (peewee.PeeweeException, ValueError, OSError) as exc:
        print(
            redact(f"vodtender status: cannot read the database: {exc} (is DB_DSN right? try vodtender doctor)"),
            file=sys.stderr,
        )
        return EXIT_UNUSABLE
    sys.stdout.write(to_json(report) + "\n" if args.json else render(report, Palette(args.color)))
    return EXIT_OK if report["ok"] else EXIT_ATTENTION
