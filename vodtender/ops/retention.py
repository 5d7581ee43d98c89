"""Retention: delete downloaded files that are safely elsewhere, never a VOD's row or chat.

Three policies, each off at 0: by age (RETENTION_KEEP_DAYS, the VOD's stream date), by
count (RETENTION_KEEP_COUNT files per channel, newest kept), and by free space
(RETENTION_MIN_FREE in DATA_DIR, deleting oldest first and stopping as soon as the
threshold is reached).  A file may go only when its upload is confirmed (`youtube_url`
set and `processed=1`), or, when uploading is off, only if RETENTION_WITHOUT_UPLOAD=1
(and the VOD is done).  A deletion clears `downloaded_path`, adds a `vod_events` row and
is logged; the check, the unlink and the update happen in one write transaction, so an
operator re-queueing the VOD at the same moment either wins or sees the path cleared.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vodtender.pipeline.vods import DOWNLOADED, forget_file, is_leased
from vodtender.runtime.config import Config
from vodtender.runtime.db import write
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod, utcnow

log = get_logger("retention")
DELETED, GONE = "deleted", "gone"


@dataclass
class Policy:
    keep_days: int = 0
    keep_count: int = 0
    min_free: int = 0
    uploading: bool = True  # YouTube configured (YT_CLIENT_ID)
    without_upload: bool = False
    shared_data_dir: bool = False

    @classmethod
    def from_config(cls, cfg: Config) -> Policy:
        return cls(
            keep_days=cfg.retention_keep_days or 0,
            keep_count=cfg.retention_keep_count or 0,
            min_free=cfg.retention_min_free or 0,
            uploading=bool(cfg.yt_client_id),  # the secret is the uploader's alone: maintenance never gets it
            without_upload=bool(cfg.retention_without_upload),
            shared_data_dir=bool(cfg.data_dir_shared),
        )

    @property
    def active(self) -> bool:
        return bool(self.keep_days or self.keep_count or self.min_free)

    @classmethod
    def any_active(cls, cfg: Config) -> bool:
        """Whether retention has anything to do: globally, or in some channel's section."""
        return cls.from_config(cfg).active or any(
            cls.from_config(cfg.for_channel(login)).active for login in cfg.channels
        )


@dataclass
class Removal:
    vod_id: int
    twitch_vod_id: str
    channel: str
    path: str
    size: int
    reason: str


@dataclass
class Plan:
    removals: list[Removal] = field(default_factory=list)
    kept_not_uploaded: list[str] = field(default_factory=list)  # files a policy wanted but may not delete
    free_before: int = 0
    free_after: int = 0  # projected
    short_of_min_free: bool = False

    @property
    def bytes(self) -> int:
        return sum(r.size for r in self.removals)


def safe_to_delete(vod: Vod, policy: Policy, now: dt.datetime) -> bool:
    """Is this VOD's file confirmed to be somewhere else (or allowed to go without that)?"""
    if vod.processed != 1 or vod.download_state != DOWNLOADED or vod.is_placeholder:
        return False
    if is_leased(vod, now):
        return False  # a worker holds it right now
    if vod.youtube_url:
        return True
    return not policy.uploading and policy.without_upload


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


class Retention:
    """`policy` is the global one (RETENTION_MIN_FREE is for the whole DATA_DIR); `channel_policy(channel)`
    gives a channel's age, count and without-upload rules (a `[channel]` section may set its own)."""

    def __init__(
        self,
        policy: Policy,
        data_dir: Path,
        free_bytes: Callable[[], int] | None = None,
        channel_policy: Callable[[str], Policy] | None = None,
    ):
        self.policy = policy
        self.channel_policy = channel_policy or (lambda channel: policy)
        self.data_dir = data_dir
        self.free_bytes = free_bytes or (lambda: shutil.disk_usage(self._existing(data_dir)).free)

    @staticmethod
    def _existing(path: Path) -> Path:
        while not path.exists() and path != path.parent:
            path = path.parent
        return path

    def _ours(self, vod: Vod) -> bool:
        """Only files of this host (or a shared DATA_DIR) inside DATA_DIR are ever touched."""
        if not self.policy.shared_data_dir and vod.download_host not in (None, socket.gethostname()):
            return False
        root = self.data_dir.resolve()
        assert vod.downloaded_path is not None, "files() selects only rows with a downloaded_path"
        return Path(vod.downloaded_path).resolve().is_relative_to(root)

    def files(self) -> list[Vod]:
        """VODs with a file on this host, oldest first."""
        rows = (
            Vod.select()
            .where(Vod.downloaded_path.is_null(False) & (Vod.is_placeholder == 0))
            .order_by(Vod.date.asc(nulls="FIRST"), Vod.id)
        )
        return [v for v in rows if self._ours(v)]

    def plan(self, now: dt.datetime | None = None) -> Plan:
        now = now or utcnow()
        vods = self.files()
        plan = Plan(free_before=self.free_bytes())
        chosen: dict[int, str] = {}  # vod id -> reason

        for v in vods:
            keep_days = self.channel_policy(v.channel).keep_days
            if keep_days and v.date is not None and v.date < now - dt.timedelta(days=keep_days):
                chosen.setdefault(v.id, f"older than {keep_days} days")
        by_channel: dict[str, list[Vod]] = {}
        for v in vods:
            by_channel.setdefault(v.channel, []).append(v)
        for channel, channel_vods in by_channel.items():
            keep_count = self.channel_policy(channel).keep_count
            if keep_count:
                for v in channel_vods[:-keep_count]:  # all but the newest N
                    chosen.setdefault(v.id, f"more than {keep_count} files in channel")

        projected = plan.free_before
        for v in vods:
            if v.id not in chosen:
                continue
            if safe_to_delete(v, self.channel_policy(v.channel), now):
                plan.removals.append(self._removal(v, chosen[v.id]))
                projected += plan.removals[-1].size
            else:
                plan.kept_not_uploaded.append(v.twitch_vod_id)

        if self.policy.min_free and projected < self.policy.min_free:
            planned = {r.vod_id for r in plan.removals}
            for v in vods:  # oldest first
                if projected >= self.policy.min_free:
                    break
                if v.id in planned:
                    continue
                if safe_to_delete(v, self.channel_policy(v.channel), now):
                    plan.removals.append(self._removal(v, f"free space below {self.policy.min_free} bytes"))
                    projected += plan.removals[-1].size
                elif v.twitch_vod_id not in plan.kept_not_uploaded:
                    plan.kept_not_uploaded.append(v.twitch_vod_id)
            plan.short_of_min_free = projected < self.policy.min_free
        plan.free_after = projected
        return plan

    @staticmethod
    def _removal(v: Vod, reason: str) -> Removal:
        assert v.downloaded_path is not None, "files() selects only rows with a downloaded_path"
        return Removal(v.id, v.twitch_vod_id, v.channel, v.downloaded_path, _file_size(v.downloaded_path), reason)

    def apply(self, plan: Plan) -> list[Removal]:
        """Delete the planned files; returns those actually deleted (a VOD that changed meanwhile is skipped)."""
        done = []
        for removal in plan.removals:
            try:
                outcome = write(functools.partial(self._delete, removal))
                if outcome == DELETED:
                    done.append(removal)
                    log.info(
                        "file deleted by retention",
                        vod_id=removal.twitch_vod_id,
                        channel=removal.channel,
                        path=removal.path,
                        bytes=removal.size,
                        reason=removal.reason,
                    )
                elif outcome == GONE:
                    log.info("file was already gone, path cleared", vod_id=removal.twitch_vod_id, path=removal.path)
                else:
                    log.info("file kept: the VOD changed since the plan", vod_id=removal.twitch_vod_id)
            except OSError as exc:
                log.error("file could not be deleted", vod_id=removal.twitch_vod_id, path=removal.path, error=str(exc))
        if plan.short_of_min_free:
            log.warning(
                "retention cannot reach RETENTION_MIN_FREE: the remaining files are not uploaded yet",
                free_bytes=plan.free_after,
                min_free=self.policy.min_free,
            )
        return done

    def _delete(self, removal: Removal) -> str | None:
        """In the write transaction: re-check, unlink, clear the path, record the event."""
        vod = Vod.get_or_none(Vod.id == removal.vod_id)
        if vod is None or vod.downloaded_path != removal.path or not safe_to_delete(vod, self.policy, utcnow()):
            return None
        outcome = DELETED
        try:
            os.unlink(removal.path)
        except FileNotFoundError:
            outcome = GONE  # e.g. UPLOAD_DELETE_LOCAL removed it: the row still must stop pointing at it
        forget_file(
            vod.id, f"deleted {removal.path} ({removal.size} bytes): {removal.reason}" if outcome == DELETED else None
        )
        return outcome
