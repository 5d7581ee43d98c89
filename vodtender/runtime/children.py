"""The environment a child process (ffmpeg, ffprobe, ...) starts with: ours, without a secret.

A child needs PATH, the locale and such, never the service's credentials: every secret option's
variable, DB_DSN (it may carry the database's password) and CREDENTIALS_DIRECTORY are left out.
"""

from __future__ import annotations

import os

from vodtender.runtime.options import OPTIONS

WITHHELD = frozenset({*(o.env for o in OPTIONS if o.secret), "DB_DSN", "CREDENTIALS_DIRECTORY"})


def child_environment() -> dict[str, str]:
    """For `subprocess.run(..., env=child_environment())`: read at each call, so it follows os.environ."""
    return {name: value for name, value in os.environ.items() if name not in WITHHELD}
