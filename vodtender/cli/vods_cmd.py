"""`vodtender vods` (a table of VODs) and `vodtender show <id>` (everything about one VOD)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import peewee

from vodtender.cli.commands import summary
from vodtender.cli.common import load_or_exit
from vodtender.cli.status_cmd import (
    EXIT_UNUSABLE,
    Palette,
    add_color_option,
    open_existing,
    printable,
    recording_line,
)
from vodtender.ops.chat_export.rows import gaps as chat_gaps
from vodtender.ops.status import recording_summary
from vodtender.pipeline.catalog.expiry import describe_rule
from vodtender.pipeline.download.gap_record import describe_gap, gap_from_dict, gaps_from_json
from vodtender.pipeline.kv import broadcaster_type_key, kv_get
from vodtender.pipeline.record import rows as recordings
from vodtender.pipeline.upload import uploads
from vodtender.pipeline.vods import LISTED_STATES, listed_state, stage_of
from vodtender.runtime.config import OPTIONS, Config, format_duration
from vodtender.runtime.models import ChatMessage, Vod, VodEvent, utcnow
from vodtender.runtime.options import format_size


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("vods", help=summary("vods"))
    v.add_argument("--channel", help="only this channel")
    v.add_argument(
        "--state", choices=LISTED_STATES, help="only VODs in this stage; pending = not done yet (processed=0)"
    )
    v.add_argument("--limit", type=int, default=50, help="at most this many rows (0: all; default 50)")
    v.add_argument("--json", action="store_true", help="one JSON object per VOD, as a list")
    add_color_option(v)
    v.set_defaults(func=cmd_vods)
    s = sub.add_parser("show", help=summary("show"))
    s.add_argument("vod", help="Twitch VOD id (or live-<unix> placeholder), or the row id as #123")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    add_color_option(s)
    s.set_defaults(func=cmd_show)


def select_vods(channel: str | None, state: str | None, limit: int) -> list[Vod]:
    query = Vod.select()
    if channel:
        query = query.where(Vod.channel == channel.lower().lstrip("#"))
    if state:
        query = query.where(listed_state(state))
    query = query.order_by(Vod.date.desc(nulls="LAST"), Vod.id.desc())
    return list(query.limit(limit) if limit > 0 else query)


def vod_summary(v: Vod) -> dict[str, Any]:
    size = v.download_total or (
        os.path.getsize(v.downloaded_path) if v.downloaded_path and os.path.exists(v.downloaded_path) else 0
    )
    return {
        "id": v.id,
        "twitch_vod_id": v.twitch_vod_id,
        "channel": v.channel,
        "date": v.date.isoformat() + "Z" if v.date else None,
        "duration_seconds": v.duration_seconds,
        "state": stage_of(v),
        "size_bytes": size,
        "error": v.processing_error,
        "youtube_url": v.youtube_url,
        "title": v.title,
    }


def _cut(text: str | None, width: int) -> str:
    text = printable(text or "")
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(rows: list[dict[str, Any]], c: Palette) -> str:
    head = f"{'ID':<14} {'CHANNEL':<14} {'DATE':<16} {'DURATION':>9} {'STATE':<11} {'SIZE':>10}  ERROR / YOUTUBE"
    lines = [c("bold", head)]
    for r in rows:
        date = r["date"][:16].replace("T", " ") if r["date"] else "-"
        tail = c("red", _cut(r["error"], 60)) if r["error"] else (r["youtube_url"] or "")
        state = f"{r['state']:<11}"
        lines.append(
            f"{r['twitch_vod_id']:<14} {_cut(r['channel'], 14):<14} {date:<16} "
            f"{format_duration(r['duration_seconds']) if r['duration_seconds'] else '-':>9} "
            f"{c.state(r['state']) + state[len(r['state']) :]} {format_size(r['size_bytes']):>10}  {tail}"
        )
    return "\n".join(lines) + "\n"


def cmd_vods(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv)
    try:
        open_existing(cfg)
        rows = [vod_summary(v) for v in select_vods(args.channel, args.state, args.limit)]
    except (peewee.PeeweeException, OSError) as exc:
        print(f"vodtender vods: cannot read the database: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    sys.stdout.write(json.dumps(rows, indent=2) + "\n" if args.json else render_table(rows, Palette(args.color)))
    return 0


def find_vod(ref: str) -> Vod | None:
    if ref.startswith("#") and ref[1:].isdigit():
        return Vod.get_or_none(Vod.id == int(ref[1:]))
    return Vod.get_or_none(Vod.twitch_vod_id == ref.strip())


def _json_list(text: str | None) -> list[Any]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return [{"unparsed": text}]
    return value if isinstance(value, list) else [value]


def vod_details(v: Vod) -> dict[str, Any]:
    fields = {name: getattr(v, name) for name in Vod._meta.sorted_field_names}
    details = {k: (val.isoformat() + "Z" if hasattr(val, "isoformat") else val) for k, val in fields.items()}
    for parsed in ("muted_segments", "chapters", "download_gaps"):
        details.pop(parsed)
    details["stage"] = stage_of(v)
    broadcaster_type = kv_get(broadcaster_type_key(v.channel))
    details["deletion_rule"] = None if broadcaster_type is None else describe_rule(broadcaster_type)
    details["file_exists"] = bool(v.downloaded_path and os.path.exists(v.downloaded_path))
    details["muted_segments"] = _json_list(v.muted_segments)
    details["chapters"] = _json_list(v.chapters)
    details["download_gaps"] = [gap.as_dict() for gap in gaps_from_json(v.download_gaps)]
    details["chat_messages"] = ChatMessage.select().where(ChatMessage.vod_id == v.twitch_vod_id).count()
    details["chat_mirrored"] = (
        ChatMessage.select().where((ChatMessage.vod_id == v.twitch_vod_id) & (ChatMessage.mirrored == 1)).count()
    )
    details["chat_gaps"] = [
        {"start": round(g.start, 1), "end": round(g.end, 1), "reason": g.reason} for g in chat_gaps(v)
    ]
    recording = recordings.for_stream(v.stream_id)
    details["recording"] = None if recording is None else recording_summary(recording, utcnow())
    details["uploads"] = uploads.summaries(v.id)
    details["events"] = [
        {
            "at": e.at.isoformat() + "Z",
            "stage": e.stage,
            "kind": e.kind,
            "error_class": e.error_class,
            "message": e.message,
        }
        for e in VodEvent.select().where(VodEvent.vod == v.id).order_by(VodEvent.at, VodEvent.id)
    ]
    return details


def render_details(d: dict[str, Any], c: Palette) -> str:
    lines = [
        c("bold", printable(f"{d['twitch_vod_id']}  {d['channel']}  {d['title']}")),
        f"  stage: {c.state(d['stage'])}",
    ]
    for key in (
        "date",
        "deletion_deadline",
        "deletion_rule",
        "duration_seconds",
        "type",
        "priority",
        "processed",
        "processing_error",
        "error_class",
        "next_attempt_at",
        "download_state",
        "download_retries",
        "download_bytes",
        "download_total",
        "download_host",
        "downloaded_path",
        "file_exists",
        "video_codec",
        "video_resolution",
        "progress_updated_at",
        "lease_owner",
        "lease_until",
        "cancel_requested",
        "upload_state",
        "upload_retries",
        "upload_offset",
        "youtube_url",
        "vod_url",
        "stream_id",
        "is_placeholder",
        "live_ended_at",
        "chat_messages",
        "chat_mirrored",
    ):
        if (key in d and d[key] not in (None, "", 0, False)) or key in ("processed", "download_state"):
            lines.append(f"  {key}: {printable(d.get(key))}")
    own = d.get("channel_settings")
    if own:
        settings = ", ".join(f"{key} = {value}" for key, value in own.items())
        lines.append(f"  [channel {d['channel']}] sets: {printable(settings)}")
    lines.append(c("bold", "uploads") + ("" if d["uploads"] else ": none"))
    lines += [f"  {upload_line(u)}" for u in d["uploads"]]
    rec = d["recording"]
    lines.append(c("bold", "live recording") + ("" if rec else ": none"))
    if rec:
        lines.append(f"  {recording_line(rec, c)}")
        keys = ("started_at", "ended_at", "path", "outcome_note")
        lines += [f"  {key}: {printable(rec[key])}" for key in keys if rec[key]]
        lines += [
            printable(f"  gap {gap['start']} .. {gap['end']} ({format_duration(gap['seconds'])}, {gap['why']})")
            for gap in rec["gaps"]
        ]
    lines.append(c("bold", "muted segments") + ("" if d["muted_segments"] else ": none"))
    for seg in d["muted_segments"]:
        if isinstance(seg, dict) and "offset" in seg:
            lines.append(f"  at {format_duration(seg['offset'])} for {format_duration(seg.get('duration', 0))}")
        else:
            lines.append(f"  {printable(seg)}")
    lines.append(c("bold", "chat gaps") + ("" if d["chat_gaps"] else ": none"))
    lines += [
        printable(f"  at {format_duration(g['start'])} for {format_duration(g['end'] - g['start'])}: {g['reason']}")
        for g in d["chat_gaps"]
    ]
    lines.append(c("bold", "gaps") + ("" if d["download_gaps"] else ": none"))
    lines += [f"  {describe_gap(gap_from_dict(gap))}" for gap in d["download_gaps"]]
    lines.append(c("bold", "history") + ("" if d["events"] else ": no events"))
    for e in d["events"]:
        kind = c("red", e["kind"]) if e["kind"] in ("error", "failed") else e["kind"]
        klass = f" [{e['error_class']}]" if e["error_class"] else ""
        lines.append(f"  {e['at']}  {e['stage']:<9} {kind}{klass}  {printable(e['message'])}")
    return "\n".join(lines) + "\n"


def upload_line(u: dict[str, Any]) -> str:
    """One YouTube video of the VOD: `round 1 part 2/3  processing  <url>  1.2 GiB  6:00:00`."""
    where = u["youtube_url"] or (f"{format_size(u['offset'])} sent" if u["state"] == "uploading" else "")
    reason = f"  ({u['reason']})" if u["reason"] else ""
    return printable(
        f"round {u['round']} part {u['part']}/{u['parts']}  {u['state']}  {where}  {format_size(u['size'])}"
        f"  {format_duration(u['duration_seconds'])}{reason}"
    )


def channel_settings(cfg: Config, channel: str) -> dict[str, str]:
    """The options the channel's own [channel] section sets, as `config check` shows them."""
    own = cfg.channels.get(channel)
    if own is None:
        return {}
    shown = cfg.for_channel(channel).masked()
    return {o.key: shown[o.env] for o in OPTIONS if o.dest in own.values}


def cmd_show(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv)
    try:
        open_existing(cfg)
        vod = find_vod(args.vod)
        details = vod_details(vod) if vod else None
        if vod and details:
            details["channel_settings"] = channel_settings(cfg, vod.channel)
    except (peewee.PeeweeException, OSError) as exc:
        print(f"vodtender show: cannot read the database: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if details is None:
        print(f"vodtender show: no VOD {args.vod!r} (see vodtender vods)", file=sys.stderr)
        return 1
    text = json.dumps(details, indent=2) + "\n" if args.json else render_details(details, Palette(args.color))
    sys.stdout.write(text)
    return 0
