"""One redaction for every text that leaves the process.

Log lines, STATUS=, /readyz, heartbeat rows, `vodtender status`, `config check`, `doctor` and the
errors stored in the database all pass through `redact()`.  It masks two kinds of secret:

- the values this process knows (`register_secret`: the configured secrets, the DSN's password,
  tokens obtained at run time), wherever they appear;
- secret-looking fields whose value nobody registered, as a peer may echo them in an error body:
  `client_secret=...`, `"access_token": "..."`, `Authorization: Bearer ...`, `scheme://user:password@`.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

from vodtender.runtime.config import Config, mask

MASKED = "****"  # what `mask` shows in place of the hidden characters
_SECRET_FIELDS = (
    r"client_secret|access_token|refresh_token|id_token|api_key|apikey|password|passwd|passphrase"
    r"|encryption_key|secret|token|code"
)
_PATTERNS = (
    # form fields and libpq keywords: client_secret=abc, password=abc
    re.compile(rf"(?i)(\b(?:{_SECRET_FIELDS})=)([^&\s\"',;]+)"),
    # JSON members: "access_token": "abc"
    re.compile(rf"(?i)(\"(?:{_SECRET_FIELDS})\"\s*:\s*\")((?:[^\"\\]|\\.)+)"),
    # HTTP credentials: Authorization: OAuth abc (Bearer, Basic), or a bearer token alone
    re.compile(r"(?i)(\bAuthorization[\"']?\s*[:=]\s*[\"']?(?:(?:Bearer|OAuth|Basic)\s+)?)([A-Za-z0-9._~+/=:-]+)"),
    re.compile(r"(?i)(\bBearer\s+)([A-Za-z0-9._~+/=:-]{8,})"),
    # URL user info: postgresql://user:password@host
    re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)(@)"),
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this value (and an `oauth:`-less form of it) in every text from now on."""
    if not value or len(value) < 4:
        return
    with _secrets_lock:
        _secrets.add(value)
        if value.startswith("oauth:"):
            _secrets.add(value[6:])


def register_config_secrets(cfg: Config) -> None:
    """The configuration's secrets, and the password in its database DSN."""
    for value in cfg.secrets():
        register_secret(value)
    register_secret(dsn_password(cfg.db_dsn))


def dsn_password(dsn: str) -> str | None:
    """The password in a URL DSN (`postgresql://user:pw@host/db`) or a libpq one (`password=pw`)."""
    if "://" in dsn:
        try:
            password = urlsplit(dsn).password
        except ValueError:
            return None
        return unquote(password) if password else None
    found = re.search(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn)
    return found.group(1).strip("'") if found else None


def redact(text: str) -> str:
    """`text` with every known secret masked and every secret-looking field's value hidden."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, mask(secret))
    for pattern in _PATTERNS:
        text = pattern.sub(_hide_value, text)
    return text


def _hide_value(match: re.Match[str]) -> str:
    value = match.group(2)
    if value.startswith(MASKED):  # already masked as a known secret: keep its last four characters
        return match.group(0)
    return match.group(1) + MASKED + "".join(match.groups()[2:])


def redact_data(value: Any) -> Any:
    """A JSON-able structure with `redact()` applied to every string in it (keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value
