"""What `vodtender status` shows, gathered from the shared database and the host.

The report is a plain JSON-able dict (its shape: `schemas/status.schema.json`); the CLI
only renders it.  Everything that needs an operator lands in `attention` as a finding:
level "problem" (the command exits non-zero, for monitoring) or "warning" (shown only).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass
from typing import Any

from vodtender.pipeline import kv
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.download.gap_record import gaps_from_json
from vodtender.pipeline.kv import kv_get
from vodtender.pipeline.record import rows as recordings
from vodtender.pipeline.upload import quota
from vodtender.pipeline.vods import DOWNLOADING, STAGES, UPLOADING, lease_ran_out, stage_conditions, stage_counts
from vodtender.runtime.clock import from_unix, unix_seconds
from vodtender.runtime.config import Config
from vodtender.runtime.models import ChatGap, ChatMessage, DaemonHeartbeat, OAuthToken, Recording, Vod, utcnow
from vodtender.runtime.redact import redact_data, register_config_secrets

DAEMON_NAMES = ("poller", "downloader", "uploader", "chat", "recorder", "web")
OPTIONAL_DAEMONS = ("web",)  # down, they are a warning: the archive goes on without them
SCHEMA_VERSION = 1
STALL_AFTER = 300.0  # seconds without download progress before an in-flight VOD counts as stuck
LAST_MESSAGE_HORIZON = 7 * 86400  # `last_message_at` looks back this far (null beyond)
CHAT_GAP_GRACE = 120.0  # a reconnect shorter than this is normal, not a problem
DISABLED_CHAT = "chat recorder disabled"  # the chat daemon's status while configured off (CHAT_AUTO_START=0)
MAINTENANCE_LATE = 3 * 86400  # the timer runs daily
RECORDINGS_HORIZON = 86400.0  # ended recordings are listed this long after their last change
LIVE_UNRECORDED_GRACE = 300.0  # a wanted stream live this long with nothing recorded needs attention


@dataclass
class Finding:
    level: str  # "problem" or "warning"
    area: str
    message: str


def iso(value: dt.datetime | float | None) -> str | None:
    """UTC ISO 8601 with a Z, from a naive-UTC datetime or unix seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        value = from_unix(value)
    return value.replace(microsecond=0).isoformat() + "Z"


def catalog_last_sync(channel: str) -> float | None:
    """Unix time the poller last finished a catalog run of `channel` (None: never)."""
    try:
        return float(kv_get(kv.catalog_last_sync_key(channel)) or "") or None
    except ValueError:
        return None


def _age(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds(), 1)


def recording_summary(r: Recording, now: dt.datetime) -> dict[str, Any]:
    """A live recording as `status` and `show` list it (schemas/status.schema.json, $defs/recording)."""
    gaps = recordings.gaps_of(r)
    return {
        "id": r.id,
        "channel": r.channel,
        "stream_id": r.stream_id,
        "placeholder_vod_id": r.placeholder_vod_id,
        "source": r.source,
        "state": r.state,
        "live": r.state == recordings.RECORDING and recordings.stream_is_live(r.stream_id),
        "started_at": iso(r.started_at),
        "ended_at": iso(r.ended_at),
        "duration_seconds": round(r.seconds, 1),
        "size_bytes": r.bytes,
        "gaps": [gap.as_dict() for gap in gaps],
        "gap_seconds": round(sum(gap.seconds for gap in gaps), 1),
        "ads_dropped_seconds": round(r.ads_seconds, 1),
        "worker": r.lease_owner,
        "progress_age_seconds": _age(now, r.updated_at),
        "path": r.path or r.part_path,
        "error": r.error,
        "outcome": r.outcome,
        "outcome_note": r.outcome_note,
    }


class StatusReport:
    """Collects the report; `findings` fills up as each part is gathered."""

    def __init__(self, cfg: Config, now: dt.datetime | None = None):
        self.cfg = cfg
        self.now = now or utcnow()
        self.now_unix = unix_seconds(self.now)
        self.findings: list[Finding] = []

    def flag(self, level: str, area: str, message: str) -> None:
        self.findings.append(Finding(level, area, message))

    def gather(self) -> dict[str, Any]:
        self.daemon_states = self.daemons()
        report = {
            "schema_version": SCHEMA_VERSION,
            "generated_at": iso(self.now),
            "daemons": self.daemon_states,
            "queue": self.queue(),
            "in_flight": self.in_flight(),
            "recordings": self.recordings(),
            "breaker": self.breaker(),
            "catalog": self.catalog(),
            "chat": self.chat(),
            "youtube": self.youtube(),
            "disk": self.disk(),
            "maintenance": self.maintenance(),
        }
        report["attention"] = [asdict(f) for f in self.findings]
        report["ok"] = not any(f.level == "problem" for f in self.findings)
        return report

    # -- daemons ---------------------------------------------------------------------------------
    def stale_after(self) -> float:
        return max(15.0, 3 * float(self.cfg.heartbeat_interval or 5))

    def daemons(self) -> list[dict[str, Any]]:
        rows = list(DaemonHeartbeat.select().order_by(DaemonHeartbeat.daemon, DaemonHeartbeat.updated_at.desc()))
        out = []
        for name in DAEMON_NAMES:
            instances = [self._instance(r) for r in rows if r.daemon == name]
            live = [i for i in instances if i["state"] != "down"]
            if not live:
                state = "down"
                seen = instances[0]["updated_at"] if instances else None
                why = f"last heartbeat {seen}" if seen else "no heartbeat ever recorded"
                optional = name in OPTIONAL_DAEMONS or (name == "recorder" and self.cfg.live_record.empty)
                self.flag(
                    "warning" if optional else "problem",
                    "daemons",
                    f"{name} is down ({why}): systemctl status vodtender-{name}; journalctl -u vodtender-{name}",
                )
            elif any(i["state"] == "up" for i in live):
                state = "up"
            else:
                state = "idle"
                self.flag("problem", "daemons", f"{name} is idle: {live[0]['status']}")
            out.append({"name": name, "state": state, "instances": live or instances[:1]})
        return out

    def _instance(self, row: DaemonHeartbeat) -> dict[str, Any]:
        age = _age(self.now, row.updated_at)
        if age is None or age > self.stale_after():
            state = "down"
        else:
            state = "up" if row.ready else "idle"
        return {
            "instance": row.instance,
            "host": row.host,
            "state": state,
            "status": row.status,
            "ready": bool(row.ready),
            "http_addr": row.http_addr,
            "started_at": iso(row.started_at),
            "updated_at": iso(row.updated_at),
            "heartbeat_age_seconds": age,
        }

    # -- pipeline --------------------------------------------------------------------------------
    def queue(self) -> dict[str, int]:
        counts = stage_counts()
        if counts.get("failed"):
            self.flag(
                "warning",
                "queue",
                f"{counts['failed']} VOD(s) failed: vodtender vods --state failed, then vodtender show <id>",
            )
        return {stage: counts.get(stage, 0) for stage in STAGES}

    def in_flight(self) -> list[dict[str, Any]]:
        conds = stage_conditions()
        rows = Vod.select().where(conds["downloading"] | conds["uploading"]).order_by(Vod.priority.desc(), Vod.date)
        return [self._flight(v) for v in rows]

    def _flight(self, v: Vod) -> dict[str, Any]:
        uploading = v.download_state != DOWNLOADING and v.upload_state == UPLOADING
        done, total = (v.upload_offset, v.download_total) if uploading else (v.download_bytes, v.download_total)
        speed = None if uploading else (v.download_speed or None)
        eta = round((total - done) / speed) if speed and total and total > done else None
        progress_age = _age(self.now, v.progress_updated_at or v.updated_at)
        lease_expired = lease_ran_out(v, self.now)
        stalled = (not uploading) and progress_age is not None and progress_age > STALL_AFTER
        if stalled:
            self.flag(
                "problem",
                "in_flight",
                f"download of {v.twitch_vod_id} has made no progress for "
                f"{progress_age:.0f}s: check the network, the disk and journalctl -u vodtender-downloader",
            )
        elif lease_expired:
            self.flag(
                "warning",
                "in_flight",
                f"{v.twitch_vod_id}: its worker's lease ran out (the worker stopped); another worker will take it over",
            )
        return {
            "id": v.id,
            "twitch_vod_id": v.twitch_vod_id,
            "channel": v.channel,
            "title": v.title,
            "stage": "uploading" if uploading else "downloading",
            "bytes_done": done,
            "bytes_total": total,
            "percent": round(100.0 * done / total, 1) if total else None,
            "speed_bytes_per_second": speed,
            "eta_seconds": eta,
            "progress_age_seconds": progress_age,
            "worker": v.lease_owner,
            "lease_expired": lease_expired,
            "stalled": stalled,
            "video_codec": v.video_codec,  # what the download got: known once it is done (uploading)
            "video_resolution": v.video_resolution,
            "download_gaps": [gap.as_dict() for gap in gaps_from_json(v.download_gaps)],
        }

    # -- live recordings ---------------------------------------------------------------------------
    def recordings(self) -> list[dict[str, Any]]:
        since = self.now - dt.timedelta(seconds=RECORDINGS_HORIZON)
        self._unrecorded_streams()
        return [self._recording(r) for r in recordings.recent(since)]

    def _recording(self, r: Recording) -> dict[str, Any]:
        summary = recording_summary(r, self.now)
        age = summary["progress_age_seconds"]
        if summary["live"] and age is not None and age > STALL_AFTER:
            self.flag(
                "problem",
                "recordings",
                f"live recording of {r.channel} (stream {r.stream_id}) has made no progress for "
                f"{age:.0f}s: journalctl -u vodtender-recorder",
            )
        if r.state == recordings.FAILED:
            self.flag(
                "warning", "recordings", f"live recording of {r.channel} (stream {r.stream_id}) failed: {r.error}"
            )
        return summary

    def _unrecorded_streams(self) -> None:
        """Streams of LIVE_RECORD channels live for a while that no recorder has taken."""
        if self.cfg.live_record.empty:
            return
        channels = self.cfg.live_record.channels()
        cutoff = self.now - dt.timedelta(seconds=LIVE_UNRECORDED_GRACE)
        cond = (
            (Vod.is_placeholder == 1)
            & Vod.live_ended_at.is_null()
            & Vod.stream_id.is_null(False)
            & (Vod.created_at < cutoff)
            & Vod.stream_id.not_in(Recording.select(Recording.stream_id))
        )
        if channels is not None:
            cond &= Vod.channel.in_(list(channels))
        for v in Vod.select(Vod.channel, Vod.stream_id).where(cond):
            self.flag(
                "problem",
                "recordings",
                f"{v.channel} is live (stream {v.stream_id}) but not being recorded: "
                "systemctl status vodtender-recorder",
            )

    def breaker(self) -> dict[str, Any]:
        state = CircuitBreaker(self.cfg.circuit_failure_threshold or 5, self.cfg.circuit_open_cooldown or 600).current()
        open_until = state.open_until or None
        if state.state == "open":
            self.flag(
                "problem",
                "breaker",
                f"circuit breaker open after {state.failures} failure(s), until "
                f"{iso(open_until)}: find the cause with journalctl -g 'circuit opened', then "
                "vodtender circuit reset",
            )
        elif state.state == "half_open":
            self.flag("warning", "breaker", "circuit breaker half-open: one probe attempt is running")
        return {
            "state": state.state,
            "failures": state.failures,
            "open_until": iso(open_until),
            "threshold": self.cfg.circuit_failure_threshold,
        }

    # -- channels --------------------------------------------------------------------------------
    def channels(self) -> list[str]:
        configured = list(self.cfg.twitch_channel or [])
        known = [r.channel for r in Vod.select(Vod.channel).distinct().order_by(Vod.channel)]
        return configured + [c for c in known if c not in configured]

    def catalog(self) -> list[dict[str, Any]]:
        interval = float(self.cfg.vod_catalog_backfill_interval or 6 * 3600)
        out = []
        for channel in self.channels():
            last = catalog_last_sync(channel)
            age = None if last is None else round(self.now_unix - last, 1)
            if channel in (self.cfg.twitch_channel or []):
                if last is None:
                    self.flag(
                        "warning",
                        "catalog",
                        f"{channel}: catalog never synced yet (the poller does it "
                        "at start and every VOD_CATALOG_BACKFILL_INTERVAL)",
                    )
                elif age is not None and age > 2 * interval + 600:
                    self.flag(
                        "problem",
                        "catalog",
                        f"{channel}: last catalog sync {age / 3600:.1f}h ago: "
                        "check the poller and the Helix credentials (vodtender doctor)",
                    )
            placeholders = self._unreconciled(channel)
            out.append(
                {
                    "channel": channel,
                    "last_sync_at": iso(last),
                    "age_seconds": age,
                    "unreconciled_placeholders": placeholders,
                }
            )
        return out

    def _unreconciled(self, channel: str) -> list[str]:
        """Placeholders whose stream ended longer ago than the reconcile delay + window."""
        limit = float(self.cfg.vod_reconcile_delay or 120) + float(self.cfg.vod_reconcile_window or 900)
        cutoff = self.now - dt.timedelta(seconds=limit)
        ids = [
            v.twitch_vod_id
            for v in Vod.select(Vod.twitch_vod_id).where(
                (Vod.channel == channel)
                & (Vod.is_placeholder == 1)
                & Vod.live_ended_at.is_null(False)
                & (Vod.live_ended_at < cutoff)
            )
        ]
        if ids:
            self.flag(
                "problem",
                "catalog",
                f"{channel}: live placeholder(s) {', '.join(ids)} never matched a "
                "VOD: check TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET (vodtender doctor) and the poller's log",
            )
        return ids

    def chat(self) -> list[dict[str, Any]]:
        now_unix = self.now_unix
        chat_daemon = next(d for d in self.daemon_states if d["name"] == "chat")
        disabled = [i["status"] for i in chat_daemon["instances"] if DISABLED_CHAT in i["status"]]
        chat_up = chat_daemon["state"] == "up" and not disabled
        if disabled and chat_daemon["state"] == "up":
            self.flag("warning", "chat", f"{disabled[0]} (see OPERATIONS.md, Chat not recording)")
        out = []
        for channel in self.cfg.twitch_channel or []:
            # `channel || ''` keeps the planner off the channel index: walking the time index from
            # the newest row is what makes these cheap on a table of millions of messages.
            of_channel = ChatMessage.channel.concat("") == channel
            recent = ChatMessage.select().where(of_channel & (ChatMessage.abs_timestamp >= now_unix - 60)).count()
            last_msg = (
                ChatMessage.select(ChatMessage.abs_timestamp)
                .where(of_channel & (ChatMessage.abs_timestamp >= now_unix - LAST_MESSAGE_HORIZON))
                .order_by(ChatMessage.abs_timestamp.desc())
                .limit(1)
                .scalar()
            )
            gap = ChatGap.select().where(ChatGap.channel == channel).order_by(ChatGap.started_at.desc()).first()
            open_gap = gap is not None and gap.ended_at is None
            if open_gap and chat_up and now_unix - gap.started_at > CHAT_GAP_GRACE:
                self.flag(
                    "problem",
                    "chat",
                    f"{channel}: chat not recorded since {iso(gap.started_at)} ({gap.reason or 'disconnected'})",
                )
            out.append(
                {
                    "channel": channel,
                    "connected": chat_up and not open_gap,
                    "messages_last_minute": recent,
                    "last_message_at": iso(last_msg),
                    "last_gap": None
                    if gap is None
                    else {
                        "started_at": iso(gap.started_at),
                        "ended_at": iso(gap.ended_at),
                        "seconds": round((gap.ended_at or now_unix) - gap.started_at, 1),
                        "reason": gap.reason,
                    },
                }
            )
        return out

    # -- YouTube, disk, maintenance ------------------------------------------------------------------
    def youtube(self) -> dict[str, Any]:
        configured = bool(self.cfg.yt_client_id and self.cfg.yt_client_secret)
        token = (
            OAuthToken.select().where(OAuthToken.provider == "youtube").order_by(OAuthToken.updated_at.desc()).first()
        )
        info: dict[str, Any] = {
            "configured": configured,
            "token": None,
            "quota": self._quota(),
            "upload_limit": self._upload_limit(),
            "private_locked": self._private_locked(),
        }
        if token is not None:
            expires_in = _age(token.expires_at, self.now) if token.expires_at else None
            info["token"] = {
                "expires_at": iso(token.expires_at),
                "expires_in_seconds": expires_in,
                "has_refresh_token": bool(token.refresh_token),
                "invalid_reason": token.invalid_reason,
            }
        if not configured:
            return info
        if token is None:
            self.flag("problem", "youtube", "no YouTube token: run vodtender auth youtube")
        elif token.invalid_reason:
            self.flag(
                "problem", "youtube", f"YouTube token unusable ({token.invalid_reason}): run vodtender auth youtube"
            )
        elif not token.refresh_token and token.expires_at and token.expires_at < self.now:
            self.flag("problem", "youtube", "YouTube token expired and cannot be refreshed: run vodtender auth youtube")
        return info

    def _quota(self) -> dict[str, Any]:
        daily = int(self.cfg.upload_quota_daily or 0)
        used = quota.Quota(daily, int(self.cfg.upload_quota_cost or 0)).used_today(self.now_unix)
        until = self._held_until(kv.QUOTA_HOLD_UNTIL_KEY)
        if until:
            self.flag(
                "warning",
                "youtube",
                f"YouTube quota exhausted ({used}/{daily} units used today): uploads held until {iso(until)} "
                "(the daily reset, midnight Pacific)",
            )
        return {
            "used_today": used,
            "daily_units": daily,
            "held_until": iso(until) if until else None,
            "hold_reason": kv_get(kv.QUOTA_HOLD_REASON_KEY) if until else None,
        }

    def _upload_limit(self) -> dict[str, Any]:
        until = self._held_until(kv.UPLOAD_LIMIT_HOLD_UNTIL_KEY)
        if not until:
            return {"held_until": None, "reason": None}
        self.flag(
            "warning",
            "youtube",
            f"YouTube upload limit reached (the channel's uploads per day, not quota units): uploads held until "
            f"{iso(until)} (UPLOAD_LIMIT_HOLD after YouTube refused)",
        )
        return {"held_until": iso(until), "reason": kv_get(kv.UPLOAD_LIMIT_HOLD_REASON_KEY)}

    def _held_until(self, key: str) -> float:
        """A hold's end from `kv`, 0 when there is none (or it is over)."""
        try:
            until = float(kv_get(key) or 0)
        except ValueError:
            return 0.0
        return until if until > self.now_unix else 0.0

    def _private_locked(self) -> str | None:
        note = kv_get(kv.PRIVATE_LOCKED_KEY)  # the private lock's note (pipeline/upload/private_lock.py)
        if note:
            self.flag(
                "warning",
                "youtube",
                f"YouTube locks uploads private ({note}): the API project is not audited; "
                "apply for Google's audit or set UPLOAD_PRIVACY=private",
            )
        return note

    def disk(self) -> dict[str, Any]:
        folder = self.cfg.data_dir
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        usage = shutil.disk_usage(probe)
        min_free = int(self.cfg.download_min_free or 0)
        if usage.free < min_free:
            self.flag(
                "problem",
                "disk",
                f"only {usage.free / 2**30:.1f} GiB free in {folder} (DOWNLOAD_MIN_FREE "
                f"is {min_free / 2**30:.1f} GiB): free space or set RETENTION_MIN_FREE",
            )
        return {
            "data_dir": str(folder),
            "exists": folder.exists(),
            "free_bytes": usage.free,
            "total_bytes": usage.total,
            "min_free_bytes": min_free,
        }

    def maintenance(self) -> dict[str, Any]:
        last, integrity = kv_get(kv.MAINTENANCE_LAST_RUN_KEY), kv_get(kv.MAINTENANCE_INTEGRITY_KEY)
        if last and (self.now - dt.datetime.fromisoformat(last.rstrip("Z"))).total_seconds() > MAINTENANCE_LATE:
            self.flag(
                "warning", "maintenance", f"maintenance last ran {last}: systemctl status vodtender-maintenance.timer"
            )
        if integrity not in (None, "ok"):
            self.flag(
                "problem",
                "maintenance",
                f"last integrity check failed: {integrity} (restore the newest backup, see OPERATIONS.md)",
            )
        return {
            "last_run_at": last,
            "integrity": integrity,
            "last_backup_at": kv_get(kv.BACKUP_LAST_AT_KEY),
            "last_backup_path": kv_get(kv.BACKUP_LAST_PATH_KEY),
        }


def gather_status(cfg: Config, now: dt.datetime | None = None) -> dict[str, Any]:
    """The whole report, redacted (its texts come from other processes and peers); raises peewee
    errors if the database cannot be read."""
    register_config_secrets(cfg)
    report: dict[str, Any] = redact_data(StatusReport(cfg, now).gather())
    return report


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False)
