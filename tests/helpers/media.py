"""What real ffmpeg says of a media file: the checks every download and recording test makes."""

from __future__ import annotations

import subprocess
from pathlib import Path


def duration(path: Path) -> float:
    """ffprobe's duration of the file, in seconds."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout)


def decode_errors(path: Path) -> str:
    """What ffmpeg reports decoding the whole file (nothing, for a good one)."""
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True
    ).stderr.strip()
