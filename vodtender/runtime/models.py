"""The tables every daemon shares.  The runbook (OPERATIONS.md) uses these names in raw SQL.

Columns are added only through migrations (`vodtender/runtime/migrations.py`); a model
field without a migration is a bug that `tests/unit/runtime/test_migrations.py` catches.
Times are UTC.  Flags the runbook sets by hand (`processed`) are integers, not booleans,
so `SET processed=0` works on PostgreSQL too.
"""

from __future__ import annotations

import peewee

from vodtender.runtime.clock import utcnow

database_proxy = peewee.DatabaseProxy()


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Vod(BaseModel):
    """One Twitch VOD (or a `live-<unix>` placeholder while a stream is live) and its pipeline state."""

    id = peewee.AutoField()  # peewee's implicit key, named so the type checker sees it

    twitch_vod_id = peewee.TextField(unique=True)
    channel = peewee.TextField(index=True)
    user_id = peewee.TextField(null=True)
    title = peewee.TextField(default="")
    description = peewee.TextField(default="")
    date = peewee.DateTimeField(null=True, index=True)  # created_at from Helix = stream start
    duration_seconds = peewee.IntegerField(default=0)
    stream_id = peewee.TextField(null=True, index=True)
    type = peewee.TextField(default="archive")
    vod_url = peewee.TextField(null=True)
    thumbnail_url = peewee.TextField(null=True)
    muted_segments = peewee.TextField(null=True)  # JSON list of {offset, duration}
    chapters = peewee.TextField(null=True)  # JSON list of {offset, title, game}
    is_placeholder = peewee.IntegerField(default=0)
    live_ended_at = peewee.DateTimeField(null=True)
    helix_missing = peewee.IntegerField(default=0)  # vanished from Helix before download
    helix_seen_at = peewee.DateTimeField(null=True)  # last catalog run that listed it (poller)

    priority = peewee.IntegerField(default=0)
    processed = peewee.IntegerField(default=0, index=True)
    processing_error = peewee.TextField(null=True)
    error_class = peewee.TextField(null=True)  # transient / fatal / systemic / cancelled
    next_attempt_at = peewee.DateTimeField(null=True)

    lease_owner = peewee.TextField(null=True)  # host:pid
    lease_until = peewee.DateTimeField(null=True)
    cancel_requested = peewee.IntegerField(default=0)

    download_state = peewee.TextField(default="discovered")
    download_retries = peewee.IntegerField(default=0)
    download_bytes = peewee.BigIntegerField(default=0)
    download_total = peewee.BigIntegerField(default=0)
    download_speed = peewee.FloatField(default=0)  # bytes/s, last measured
    download_host = peewee.TextField(null=True)
    downloaded_path = peewee.TextField(null=True)
    download_gaps = peewee.TextField(null=True)  # JSON list of {offset, duration, segments} Twitch lost
    video_codec = peewee.TextField(null=True)  # of the downloaded file: h264 / h265 / av1
    video_resolution = peewee.TextField(null=True)  # of the downloaded file, e.g. 1920x1080
    progress_updated_at = peewee.DateTimeField(null=True)

    upload_state = peewee.TextField(null=True)
    upload_retries = peewee.IntegerField(default=0)
    upload_session_uri = peewee.TextField(null=True)
    upload_offset = peewee.BigIntegerField(default=0)
    youtube_url = peewee.TextField(null=True)

    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "vods"


class VodEvent(BaseModel):
    """Error and state history of a VOD, for `vodtender show`."""

    id = peewee.AutoField()  # peewee's implicit key, named so the type checker sees it

    vod = peewee.ForeignKeyField(Vod, backref="events", on_delete="CASCADE", column_name="vod_id")
    at = peewee.DateTimeField(default=utcnow)
    stage = peewee.TextField()  # download / upload / poller / operator
    kind = peewee.TextField()  # e.g. error, retry, cancelled, done
    error_class = peewee.TextField(null=True)
    message = peewee.TextField(default="")

    class Meta:
        table_name = "vod_events"


class Upload(BaseModel):
    """One YouTube video of a VOD: the whole VOD, or one part of a VOD longer than `UPLOAD_MAX_PART`
    (`pipeline/upload/uploads.py` writes it).  A VOD uploaded again (the operator's reset,
    `reprocess --reupload`) gets a new `round`; the rows of earlier rounds stay as its history.

    `state`: pending (not started) -> uploading (a session is open; `session_uri`/`offset` are where
    a restart resumes) -> processing (every byte in; YouTube processes it, `next_check_at` is when we
    ask again) -> processed | rejected | failed (YouTube's word: `reason` is its rejectionReason or
    failureReason).  Only processed counts as published.
    """

    id = peewee.AutoField()  # peewee's implicit key, named so the type checker sees it

    vod = peewee.ForeignKeyField(Vod, backref="uploads", on_delete="CASCADE", column_name="vod_id")
    round = peewee.IntegerField(default=1)
    part = peewee.IntegerField(default=1)  # 1-based
    parts = peewee.IntegerField(default=1)
    start_seconds = peewee.DoubleField(default=0)  # where the part starts in the VOD
    duration_seconds = peewee.DoubleField(default=0)
    path = peewee.TextField(null=True)  # the file uploaded: the VOD's own, or the part cut from it
    size = peewee.BigIntegerField(default=0)
    state = peewee.TextField(default="pending", index=True)
    session_uri = peewee.TextField(null=True)
    offset = peewee.BigIntegerField(default=0)  # bytes YouTube confirmed
    video_id = peewee.TextField(null=True)
    privacy = peewee.TextField(null=True)  # as YouTube reports it once processed
    reason = peewee.TextField(null=True)
    polls = peewee.IntegerField(default=0)  # videos.list calls spent on this video's processing
    next_check_at = peewee.DateTimeField(null=True)

    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "uploads"
        indexes = ((("vod", "round", "part"), True),)


class ChatMessage(BaseModel):
    """One chat event, keyed by its channel and Twitch's message id (a replay is stored once per channel;
    a shared chat's message is stored in each archived channel that received it)."""

    id = peewee.AutoField()  # peewee's implicit key, named so the type checker sees it

    msg_id = peewee.TextField()
    channel = peewee.TextField(index=True)
    vod_id = peewee.TextField(null=True, index=True)  # vods.twitch_vod_id (or live-<unix>)
    kind = peewee.TextField(default="message")  # message action usernotice clearchat clearmsg
    notice_type = peewee.TextField(null=True)  # msg-id of a USERNOTICE: sub, resub, raid, ...
    username = peewee.TextField(default="")
    display_name = peewee.TextField(default="")
    user_id = peewee.TextField(null=True)
    message = peewee.TextField(default="")
    system_message = peewee.TextField(null=True)
    # Double: PostgreSQL maps FloatField to 4-byte REAL, which cannot hold unix time to the millisecond.
    abs_timestamp = peewee.DoubleField(index=True)  # unix seconds, from tmi-sent-ts
    rel_timestamp = peewee.DoubleField(null=True)  # seconds from VOD start
    badges = peewee.TextField(null=True)
    emotes = peewee.TextField(null=True)
    color = peewee.TextField(null=True)
    bits = peewee.IntegerField(default=0)
    first_msg = peewee.IntegerField(default=0)
    reply_parent_msg_id = peewee.TextField(null=True)
    reply_parent_user_login = peewee.TextField(null=True)
    reply_parent_display_name = peewee.TextField(null=True)
    reply_parent_msg_body = peewee.TextField(null=True)
    target_user = peewee.TextField(null=True)  # CLEARCHAT/CLEARMSG target
    ban_duration = peewee.IntegerField(null=True)
    deleted = peewee.IntegerField(default=0)
    tags = peewee.TextField(null=True)  # the raw tag string, for anything not mapped above
    # Shared chat: a message another channel's chat mirrored into this one (`source-room-id`, ...).
    # Columns added after the first release carry a database-level DEFAULT: rows written by raw SQL
    # (the writer's fast path, an operator's INSERT) get the same value as through the model.
    mirrored = peewee.IntegerField(default=0, constraints=[peewee.SQL("DEFAULT 0")])
    source_room_id = peewee.TextField(null=True)
    source_channel = peewee.TextField(null=True)  # the source room's login, when known
    source_msg_id = peewee.TextField(null=True)  # `source-id`
    # live: recorded from IRC; replay: fetched from the VOD's comment replay (fewer fields, no deletions)
    origin = peewee.TextField(default="live", constraints=[peewee.SQL("DEFAULT 'live'")])

    class Meta:
        table_name = "chat_messages"
        indexes = (
            (("vod_id", "abs_timestamp"), False),
            (("channel", "msg_id"), True),
            (("vod_id", "rel_timestamp"), False),  # a window of a VOD's chat (the web viewer's replay)
        )


class ChatGap(BaseModel):
    """A time the recorder was not connected to a channel."""

    id = peewee.AutoField()  # peewee's implicit key, named so the type checker sees it

    channel = peewee.TextField(index=True)
    started_at = peewee.DoubleField()  # unix seconds
    ended_at = peewee.DoubleField(null=True)
    reason = peewee.TextField(default="")

    class Meta:
        table_name = "chat_gaps"


class ChatQuarantine(BaseModel):
    """A chat line the database refused as a row (the rest of its batch was stored): kept as received."""

    id = peewee.AutoField()  # peewee's implicit key, named so the type checker sees it

    channel = peewee.TextField(index=True)
    msg_id = peewee.TextField()
    received_at = peewee.DoubleField()  # unix seconds
    raw_line = peewee.TextField()
    error = peewee.TextField()

    class Meta:
        table_name = "chat_quarantine"


class OAuthToken(BaseModel):
    id = peewee.AutoField()  # peewee's implicit key, named so the type checker sees it
    provider = peewee.TextField()  # twitch / youtube
    channel = peewee.TextField(default="")
    access_token = peewee.TextField(null=True)
    refresh_token = peewee.TextField(null=True)
    expires_at = peewee.DateTimeField(null=True)
    scope = peewee.TextField(null=True)
    invalid_reason = peewee.TextField(null=True)  # e.g. invalid_grant: needs `vodtender auth`
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "oauth_tokens"
        indexes = ((("provider", "channel"), True),)


class KV(BaseModel):
    """Cursors, the circuit breaker and other small shared state (`circuit_state`, ...)."""

    key = peewee.TextField(primary_key=True)
    value = peewee.TextField(null=True)

    class Meta:
        table_name = "kv"


class DaemonHeartbeat(BaseModel):
    """Each running daemon's last sign of life and status line, for `vodtender status`."""

    id = peewee.AutoField()  # peewee's implicit key, named so the type checker sees it

    daemon = peewee.TextField()
    instance = peewee.TextField()  # host:pid
    host = peewee.TextField()
    status = peewee.TextField(default="")
    ready = peewee.IntegerField(default=0)
    http_addr = peewee.TextField(null=True)
    started_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "daemons"
        indexes = ((("daemon", "instance"), True),)


class SchemaMigration(BaseModel):
    name = peewee.TextField(primary_key=True)
    applied_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "schema_migrations"


class SharedLimit(BaseModel):
    """A provider limit every host shares (`pipeline/shared_limits.py`): a token bucket or a per-day counter."""

    name = peewee.TextField(primary_key=True)  # e.g. helix, youtube_quota
    tokens = peewee.DoubleField(default=0)  # bucket: points left at `stamp`; counter: units used in `period`
    stamp = peewee.DoubleField(default=0)  # bucket: unix time `tokens` was computed at
    period = peewee.TextField(default="")  # counter: the day `tokens` counts

    class Meta:
        table_name = "shared_limits"


class Recording(BaseModel):
    """One live stream recorded as it happened (the recorder; `pipeline/record/rows.py` writes it)."""

    id = peewee.AutoField()  # peewee's implicit key, named so the type checker sees it

    stream_id = peewee.TextField(unique=True)
    channel = peewee.TextField(index=True)
    placeholder_vod_id = peewee.TextField(null=True)  # the live-<unix> twitch_vod_id it started from
    source = peewee.TextField(default="live")  # live: the live playlist; vod: the in-progress VOD's playlist
    state = peewee.TextField(default="pending")  # pending / recording / finished / failed
    path = peewee.TextField(null=True)  # the final file (absolute), once finished
    part_path = peewee.TextField(null=True)  # the growing file while recording
    started_at = peewee.DateTimeField(null=True)  # program date time of the first recorded segment
    ended_at = peewee.DateTimeField(null=True)
    # Double: PostgreSQL maps FloatField to 4-byte REAL, too coarse for hours counted in seconds.
    seconds = peewee.DoubleField(default=0)  # media seconds recorded
    bytes = peewee.BigIntegerField(default=0)
    gaps = peewee.TextField(null=True)  # JSON list of {start, end, seconds, why}: ad / missed / outage / restart
    ads_seconds = peewee.DoubleField(default=0)  # stitched ads dropped
    error = peewee.TextField(null=True)
    host = peewee.TextField(null=True)  # the host whose DATA_DIR holds the finished file
    # Once finished and its stream's VOD settled (pipeline/record/keep.py): kept / removed / archive / lost
    outcome = peewee.TextField(null=True)
    outcome_note = peewee.TextField(null=True)  # why, for `vodtender show`
    lease_owner = peewee.TextField(null=True)  # host:pid
    lease_until = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "recordings"


ALL_MODELS = [
    Vod,
    VodEvent,
    Upload,
    ChatMessage,
    ChatGap,
    ChatQuarantine,
    OAuthToken,
    KV,
    DaemonHeartbeat,
    SchemaMigration,
    SharedLimit,
    Recording,
]
