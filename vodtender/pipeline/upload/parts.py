"""A VOD longer (or larger) than YouTube takes, cut into parts: planned, cut, verified.

YouTube refuses a video over 12 hours or 256 GB.  A longer VOD is cut by stream copy (ffmpeg's
segment muxer, `-c copy`: no re-encode) at the first keyframe after each even split point, into a
private work folder next to the VOD.  The parts are verified like a download: their durations add
up to the whole within a second, and each one decodes.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vodtender.pipeline.download.verify import probe
from vodtender.pipeline.errors import SystemicError, TransientError
from vodtender.runtime.children import child_environment
from vodtender.runtime.files import make_private, private_mask

SUM_TOLERANCE = 1.0  # seconds the parts' durations may differ from the whole's
YOUTUBE_MAX_SECONDS = 12 * 3600
CUT_TIMEOUT = 4 * 3600  # a stream copy of a day-long VOD reads it once


@dataclass(frozen=True)
class PartLimits:
    max_seconds: float
    max_bytes: int


DEFAULT_PART_LIMITS = PartLimits(11 * 3600 + 55 * 60, 250 * 2**30)  # UPLOAD_MAX_PART, UPLOAD_MAX_PART_BYTES


@dataclass(frozen=True)
class CutPart:
    """One file to upload: where it starts in the VOD and how long it is."""

    path: str
    start_seconds: float
    duration_seconds: float
    size: int


def part_count(duration: float, size: int, limits: PartLimits) -> int:
    """How many parts keep every one within both limits (at least one)."""
    by_time = math.ceil(duration / limits.max_seconds) if limits.max_seconds > 0 else 1
    by_size = math.ceil(size / limits.max_bytes) if limits.max_bytes > 0 else 1
    return max(1, by_time, by_size)


def split_points(duration: float, parts: int) -> list[float]:
    """Even split points (the cut happens at the first keyframe at or after each)."""
    return [duration * i / parts for i in range(1, parts)]


def work_folder(vod_path: str) -> Path:
    """The parts' folder, next to the VOD so a cut never crosses file systems."""
    path = Path(vod_path)
    return path.with_name(path.name + ".parts")


def remove_parts(vod_path: str) -> None:
    """The parts are uploaded (or the VOD reset): their folder goes."""
    shutil.rmtree(work_folder(vod_path), ignore_errors=True)


def file_duration(path: Path) -> float:
    info = probe(path, count_packets=False)
    if "error" in info:
        raise TransientError(f"cannot read {path.name}: {info['error']}")
    try:
        return float(info["format"]["duration"])
    except (KeyError, TypeError, ValueError):
        raise TransientError(f"{path.name} has no duration") from None


def _run(cmd: list[str], what: str) -> None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=CUT_TIMEOUT, env=child_environment())
    except FileNotFoundError:
        raise SystemicError("ffmpeg not found: install ffmpeg", certain=True) from None
    if out.returncode != 0:
        raise TransientError(f"{what}: {out.stderr.strip()[-300:] or f'ffmpeg exit {out.returncode}'}")


def cut(vod_path: str, parts: int) -> list[CutPart]:
    """Cut `vod_path` into `parts` files by stream copy and verify them; raises if they do not add up."""
    duration = file_duration(Path(vod_path))
    folder = work_folder(vod_path)
    shutil.rmtree(folder, ignore_errors=True)  # a cut interrupted half-way is done again from the start
    folder.mkdir(mode=0o777 & ~private_mask())
    suffix = Path(vod_path).suffix or ".mp4"
    pattern = folder / f"part%03d{suffix}"
    times = ",".join(f"{t:.3f}" for t in split_points(duration, parts))
    _run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", vod_path, "-map", "0", "-c", "copy", "-f", "segment",
         "-segment_times", times, "-reset_timestamps", "1", str(pattern)],
        "cutting into parts",
    )  # fmt: skip
    files = sorted(folder.glob(f"part*{suffix}"))
    if len(files) != parts:
        raise TransientError(f"cutting into {parts} parts gave {len(files)} (too few keyframes?)")
    cut_parts, start = [], 0.0
    for file in files:
        make_private(file)
        _run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(file), "-f", "null", "-"], f"{file.name} does not decode")
        length = file_duration(file)
        cut_parts.append(CutPart(str(file), start, length, file.stat().st_size))
        start += length
    if abs(start - duration) > SUM_TOLERANCE:
        raise TransientError(f"the parts last {start:.1f}s in all, the VOD {duration:.1f}s")
    return cut_parts
