"""Playback access tokens as the Twitch stand-in issues and checks them (its VOD and live sides alike).

Twitch's token is a JSON value plus a signature of it; usher serves a playlist only for a value whose
signature holds and which names what is asked for (the VOD id, the channel)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

SIGNING_KEY = b"vodtender-twitch-standin"


def signed_token(fields: Mapping[str, object]) -> tuple[str, str]:
    """The token's JSON value (compact, as Twitch writes it) and its signature."""
    value = json.dumps(dict(fields), separators=(",", ":"))
    return value, _signature(value)


def token_names(token: str, signature: str, field: str, expected: str) -> bool:
    """Is `token` genuinely signed, and does its `field` say `expected`?"""
    if not hmac.compare_digest(_signature(token), signature):
        return False
    try:
        return str(json.loads(token).get(field)) == expected
    except (ValueError, AttributeError):
        return False


def _signature(value: str) -> str:
    return hmac.new(SIGNING_KEY, value.encode(), hashlib.sha1).hexdigest()
