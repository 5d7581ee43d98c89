"""The `kv` table: cursors, the circuit breaker and other small shared values."""

from __future__ import annotations

from vodtender.runtime.db import retry_on_busy
from vodtender.runtime.models import KV


def kv_get(key: str, default: str | None = None) -> str | None:
    row = KV.get_or_none(KV.key == key)
    return row.value if row is not None and row.value is not None else default


def kv_set(key: str, value: str | None) -> None:
    retry_on_busy(lambda: KV.insert(key=key, value=value).on_conflict(
        conflict_target=[KV.key], update={KV.value: value}).execute())


def kv_delete(*keys: str) -> int:
    return retry_on_busy(lambda: KV.delete().where(KV.key.in_(keys)).execute())
