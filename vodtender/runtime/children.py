"""The environment a child process (ffmpeg, ffprobe, ...) starts with: ours, without a secret.

A child needs PATH, the locale and such, never the service's credentials: every secret option's
variable, DB_DSN (it may carry the database's password) and CREDENTIALS_DIRECTORY are left out.

A daemon process goes further (`withhold_from_children`, at the start of `Runtime.run`): it moves
those variables out of its own environment, so a child started by a library with the inherited
environment (yt-dlp runs ffmpeg/ffprobe itself) gets none either.  The configuration still reads them
(`process_environment`), at start and at every reload.
"""

from __future__ import annotations

import os

from vodtender.runtime.options import OPTIONS

WITHHELD = frozenset({*(o.env for o in OPTIONS if o.secret), "DB_DSN", "CREDENTIALS_DIRECTORY"})


_withheld: dict[str, str] = {}  # what `withhold_from_children` took out of os.environ


def withhold_from_children() -> None:
    """Take the secrets out of this process's environment (what every child inherits)."""
    for name in WITHHELD & os.environ.keys():
        _withheld[name] = os.environ.pop(name)


def process_environment() -> dict[str, str]:
    """The environment this process was started with, secrets included, for reading the configuration."""
    return {**os.environ, **_withheld}


def child_environment() -> dict[str, str]:
    """For `subprocess.run(..., env=child_environment())`: read at each call, so it follows os.environ."""
    return {name: value for name, value in os.environ.items() if name not in WITHHELD}
