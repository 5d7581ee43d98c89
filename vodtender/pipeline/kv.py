"""The `kv` table: cursors, the circuit breaker and other small shared values.

Every key the service keeps is named here, so one look shows what `kv` holds.  The runbook's
SQL uses these literal names (`DELETE FROM kv WHERE key IN ('circuit_state', ...)`): they
never change.
"""

from __future__ import annotations

from collections.abc import Sequence

from vodtender.runtime.db import retry_on_busy
from vodtender.runtime.models import KV

# The circuit breaker (pipeline/breaker.py); missing keys mean closed.
CIRCUIT_STATE_KEY, CIRCUIT_FAILURES_KEY, CIRCUIT_OPEN_UNTIL_KEY = (
    "circuit_state",
    "circuit_failures",
    "circuit_open_until",
)
CIRCUIT_LAST_SUBJECT_KEY = "circuit_last_subject"  # what failed last (a VOD id): a repeat is not counted
CIRCUIT_KEYS = (CIRCUIT_STATE_KEY, CIRCUIT_FAILURES_KEY, CIRCUIT_OPEN_UNTIL_KEY, CIRCUIT_LAST_SUBJECT_KEY)

# The YouTube quota hold (pipeline/upload/quota.py): unix seconds it lasts until, and why.
QUOTA_HOLD_UNTIL_KEY, QUOTA_HOLD_REASON_KEY = "upload_quota_hold_until", "upload_quota_hold_reason"
# YouTube's per-channel upload count (uploadLimitExceeded), held apart from the units.
UPLOAD_LIMIT_HOLD_UNTIL_KEY, UPLOAD_LIMIT_HOLD_REASON_KEY = "upload_limit_hold_until", "upload_limit_hold_reason"
# Set once a processed video came back private when another privacy was asked (an unaudited API project).
PRIVATE_LOCKED_KEY = "youtube_private_locked"

# What the maintenance timer last did (cli maintenance, shown by `vodtender status`).
MAINTENANCE_LAST_RUN_KEY, MAINTENANCE_INTEGRITY_KEY = "maintenance_last_run", "maintenance_integrity"
BACKUP_LAST_AT_KEY, BACKUP_LAST_PATH_KEY = "backup_last_at", "backup_last_path"


# Per channel (the configured login): one shared key would mix two channels' values.
def catalog_cursor_key(channel: str) -> str:
    """The Helix cursor of the catalog run's next page."""
    return f"catalog_after:{channel}"


def catalog_run_key(channel: str) -> str:
    """The catalog run in progress: JSON {"started": unix, "seen": n, "pages": n, ...}."""
    return f"catalog_run:{channel}"


def catalog_last_sync_key(channel: str) -> str:
    """Unix time the last complete catalog run ended."""
    return f"catalog_last_sync:{channel}"


def channel_user_id_key(login: str) -> str:
    """The channel's Twitch user id, so a renamed channel is followed by id."""
    return f"channel_user_id:{login}"


def broadcaster_type_key(login: str) -> str:
    """The channel's Helix `broadcaster_type` (partner, affiliate or empty): how long Twitch keeps its VODs."""
    return f"channel_broadcaster_type:{login}"


# Per reconciled placeholder: where its chat went, for chat rows written for it late.
RECONCILED_PREFIX = "reconciled:"


def reconciled_key(placeholder_vod_id: str) -> str:
    return RECONCILED_PREFIX + placeholder_vod_id


def kv_get(key: str, default: str | None = None) -> str | None:
    row = KV.get_or_none(KV.key == key)
    return row.value if row is not None and row.value is not None else default


def kv_get_many(keys: Sequence[str]) -> dict[str, str | None]:
    """The stored ones of these keys, in one query."""
    return {row.key: row.value for row in KV.select().where(KV.key.in_(list(keys)))}


def kv_with_prefix(prefix: str) -> dict[str, str | None]:
    """A key family: stored keys starting with `prefix`, without it, and their values.  A range
    scan (not LIKE): it uses the primary key's index and takes the prefix literally."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    rows = KV.select().where((KV.key >= prefix) & (KV.key < upper))
    return {row.key.removeprefix(prefix): row.value for row in rows}


def kv_set(key: str, value: str | None) -> None:
    retry_on_busy(
        lambda: (
            KV.insert(key=key, value=value).on_conflict(conflict_target=[KV.key], update={KV.value: value}).execute()
        )
    )


def kv_delete(*keys: str) -> int:
    return retry_on_busy(lambda: KV.delete().where(KV.key.in_(keys)).execute())
