"""The uploader's settings, read from the configuration in one place.

Light on purpose: the download-only uploader and `vodtender status` use it without loading the
Google client (pipeline/upload/context.py builds what uploading needs).
"""

from __future__ import annotations

from dataclasses import dataclass

from vodtender.pipeline.upload.metadata import UploadSettings
from vodtender.pipeline.upload.parts import DEFAULT_PART_LIMITS, PartLimits
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
    processing_check: float = 30.0  # seconds to the first look at YouTube's processing; doubles per look
    processing_max_checks: int = 60
    limit_hold: float = 86400.0  # seconds uploads wait after uploadLimitExceeded
    part_limits: PartLimits = DEFAULT_PART_LIMITS

    @classmethod
    def from_config(cls, cfg: Config) -> UploadOptions:
        metadata = UploadSettings(
            cfg.upload_title_template,
            cfg.upload_description_template,
            cfg.upload_privacy,
            cfg.upload_category,
            tuple(cfg.upload_tags),
            cfg.twitch_vod_url_template,
            cfg.upload_publish_delay,
        )
        return cls(
            metadata=metadata,
            lease_seconds=cfg.lease_duration,
            chunk_bytes=cfg.upload_chunk_size,
            max_attempts=cfg.upload_max_attempts,
            backoff_base=cfg.upload_backoff_base,
            quota_daily=cfg.upload_quota_daily,
            quota_cost=cfg.upload_quota_cost,
            playlist=cfg.upload_playlist,
            delete_local=cfg.upload_delete_local,
            data_dir_shared=cfg.data_dir_shared,
            processing_check=cfg.upload_processing_check,
            processing_max_checks=cfg.upload_processing_max_checks,
            limit_hold=cfg.upload_limit_hold,
            part_limits=PartLimits(cfg.upload_max_part, cfg.upload_max_part_bytes),
        )
