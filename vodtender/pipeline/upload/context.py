"""What the upload stage of one uploader runs with: its settings, and what its uploads share."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from vodtender.clients.youtube import YouTubeClient
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.upload.metadata import UploadSettings
from vodtender.pipeline.upload.quota import Quota
from vodtender.pipeline.upload.resumable import RetryPolicy
from vodtender.pipeline.upload.tokens import AccessTokens
from vodtender.runtime.clock import Clock, SystemClock
from vodtender.runtime.config import Config


@dataclass(frozen=True)
class UploadOptions:
    """The uploader's settings, read from the configuration in this one place."""

    metadata: UploadSettings
    lease_seconds: float
    chunk_bytes: int
    max_attempts: int
    backoff_base: float
    quota_daily: int
    quota_cost: int
    playlist: str | None
    delete_local: bool
    data_dir_shared: bool

    @classmethod
    def from_config(cls, cfg: Config) -> UploadOptions:
        metadata = UploadSettings(cfg.upload_title_template, cfg.upload_description_template, cfg.upload_privacy,
                                  cfg.upload_category, tuple(cfg.upload_tags), cfg.twitch_vod_url_template)
        return cls(metadata=metadata, lease_seconds=cfg.lease_duration, chunk_bytes=cfg.upload_chunk_size,
                   max_attempts=cfg.upload_max_attempts, backoff_base=cfg.upload_backoff_base,
                   quota_daily=cfg.upload_quota_daily, quota_cost=cfg.upload_quota_cost,
                   playlist=cfg.upload_playlist, delete_local=cfg.upload_delete_local,
                   data_dir_shared=cfg.data_dir_shared)

    @property
    def policy(self) -> RetryPolicy:
        """Retries of one attempt (chunk by chunk); at least one try."""
        return RetryPolicy(max(1, self.max_attempts), self.backoff_base)


@dataclass(frozen=True)
class UploadContext:
    """What every upload of one uploader shares: the YouTube client and tokens, the limits, the stop signal."""

    options: UploadOptions
    owner: str  # the lease owner, host:pid
    client: YouTubeClient
    tokens: AccessTokens
    quota: Quota
    breaker: CircuitBreaker
    stop: threading.Event
    wake: Callable[[], None]  # makes the daemon's loop look at a finished upload at once
    clock: Clock = field(default_factory=SystemClock)
