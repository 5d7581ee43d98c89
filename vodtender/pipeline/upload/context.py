"""What the uploads of one uploader share (the YouTube client and tokens, limits, stop signal), and
`connect()`, which builds it (and `processing_follower()`): imported only when uploading is on, as
it loads the Google client."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from vodtender.clients.google_oauth import TokenEndpoint
from vodtender.clients.youtube import YouTubeClient
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.upload.options import UploadOptions
from vodtender.pipeline.upload.private_lock import PrivateLock
from vodtender.pipeline.upload.processing import ProcessingFollower
from vodtender.pipeline.upload.quota import Quota
from vodtender.pipeline.upload.resumable import RetryPolicy
from vodtender.pipeline.upload.tokens import AccessTokens, open_token_store
from vodtender.runtime.clock import Clock, SystemClock
from vodtender.runtime.config import Config
from vodtender.runtime.logs import get_logger

log = get_logger("uploader")


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
    # A channel's own: its [channel] section may set the privacy, playlist, title and description.
    channel_options: Callable[[str], UploadOptions] | None = None

    def options_for(self, channel: str) -> UploadOptions:
        return self.channel_options(channel) if self.channel_options else self.options

    @property
    def policy(self) -> RetryPolicy:
        """Retries of one attempt (chunk by chunk); at least one try."""
        return RetryPolicy(max(1, self.options.max_attempts), self.options.backoff_base)


def connect(
    cfg: Config,
    options: UploadOptions,
    owner: str,
    quota: Quota,
    breaker: CircuitBreaker,
    stop: threading.Event,
    wake: Callable[[], None],
    clock: Clock,
) -> UploadContext:
    """The stored tokens, the token endpoint and the YouTube client for `cfg`'s credentials."""
    assert cfg.yt_client_id and cfg.yt_client_secret, "connect() is only called with YouTube credentials"
    store = open_token_store(cfg)
    endpoint = TokenEndpoint(cfg.youtube_token_url, cfg.yt_client_id, cfg.yt_client_secret, cfg.upload_timeout)
    tokens = AccessTokens(store, endpoint)
    client = YouTubeClient(cfg.youtube_api_url, tokens.access_token, cfg.upload_timeout)
    log.info(
        "uploading to YouTube",
        privacy=options.metadata.privacy,
        tokens_key=store.cipher.describe(),
    )
    return UploadContext(
        options,
        owner,
        client,
        tokens,
        quota,
        breaker,
        stop,
        wake=wake,
        clock=clock,
        channel_options=lambda channel: UploadOptions.from_config(cfg.for_channel(channel)),
    )


def processing_follower(cfg: Config, ctx: UploadContext) -> ProcessingFollower:
    """The follower of YouTube's processing, with a client of its own: it runs in the loop's thread
    while a worker's upload uses (and may abort) the context's."""
    client = YouTubeClient(cfg.youtube_api_url, ctx.tokens.access_token, cfg.upload_timeout)
    return ProcessingFollower(client, ctx.quota, ctx.options, PrivateLock(), ctx.options_for)
