"""From the part file to one playable file per VOD.

The part file holds the pieces in playlist order (fetcher.py).  A VOD of one run, the usual
case, is already one valid file: MPEG-TS segments of one encode concatenate, and so do an fMP4
init section and its fragments (each fragment carries its own decode time), so it is used as
it is.  A lost segment leaves a hole in the timestamps there: the timeline, and with it the
chat's alignment, stays the playlist's.

Several runs (an `#EXT-X-DISCONTINUITY`: an encoder restart whose timestamps start again,
often with a new init section) are joined by ffmpeg's concat demuxer with stream copy into one
MP4: each run is read in place from the part file (ffmpeg's `subfile` protocol, no copy first)
and given its playlist duration, so every run starts where the playlist says it does.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import IO

from vodtender.pipeline.download.fetcher import Piece, Written
from vodtender.pipeline.download.gaps import Gap
from vodtender.pipeline.errors import SystemicError, TransientError
from vodtender.runtime.children import child_environment

POLL_SECONDS = 0.25


@dataclasses.dataclass
class Run:
    start: int  # byte range of the run in the part file (its init section included)
    end: int
    duration: float = 0.0  # playlist seconds, lost segments included
    leading_lost: float = 0.0  # lost seconds before the run's first fetched segment
    trailing_lost: float = 0.0  # lost seconds after its last fetched segment

    @property
    def has_media(self) -> bool:
        return self.leading_lost < self.duration

    def add(self, seconds: float, end: int, lost: bool) -> None:
        if lost:
            if not self.has_media:  # nothing fetched in this run yet
                self.leading_lost += seconds
            self.trailing_lost += seconds
        else:
            self.trailing_lost = 0.0
            self.end = end
        self.duration += seconds


@dataclasses.dataclass(frozen=True)
class Layout:
    """What the part file holds, run by run, and what the finished file must therefore be."""

    runs: list[Run]
    container: str  # of the part file: "ts" or "mp4"
    gaps: list[Gap]
    total_seconds: float  # the playlist's duration

    @property
    def joined(self) -> bool:
        """Does the part file need joining (more than one run with data)?"""
        return len(self.runs) > 1

    @property
    def ext(self) -> str:
        return "mp4" if self.joined else self.container

    @property
    def lost_seconds(self) -> float:
        return sum(gap.duration for gap in self.gaps)

    @property
    def expected_duration(self) -> float:
        """The finished file's duration: the playlist's, less what is lost where no timestamp can
        carry it (before each run's first fetched segment; after the last one)."""
        if not self.runs:
            return 0.0
        return self.total_seconds - sum(run.leading_lost for run in self.runs) - self.runs[-1].trailing_lost

    @property
    def content_seconds(self) -> float:
        """Seconds of video the file really holds (what its packet count must match)."""
        return self.total_seconds - self.lost_seconds


def layout(pieces: list[Piece], written: list[Written], container: str) -> Layout:
    """Runs and gaps of a finished fetch (`written` covers every piece, in order)."""
    runs: list[Run] = []
    gaps: list[Gap] = []
    offset = 0
    at = 0.0
    run_start: int | None = None  # where the next run begins: at its init section, if it has one
    run_number = -1
    for piece, entry in zip(pieces, written, strict=True):
        start, offset = offset, offset + entry.size
        segment = piece.segment
        if segment is None:
            run_start = start
            continue
        if segment.run != run_number:
            run_number = segment.run
            runs.append(Run(start if run_start is None else run_start, start))
        run_start = None
        runs[-1].add(segment.duration, offset, entry.lost)
        if entry.lost:
            _add_gap(gaps, at, segment.duration, segment.index)
        at += segment.duration
    return Layout(_merge_empty_runs(runs), container, gaps, at)


def _merge_empty_runs(runs: list[Run]) -> list[Run]:
    """A run lost entirely has nothing to join: its time goes to the run before (or after)."""
    kept: list[Run] = []
    carried = 0.0
    for run in runs:
        if run.has_media:
            run.duration += carried
            run.leading_lost += carried
            kept.append(run)
            carried = 0.0
        elif kept:
            kept[-1].duration += run.duration
            kept[-1].trailing_lost += run.duration
        else:
            carried += run.duration
    return kept


def _add_gap(gaps: list[Gap], at: float, duration: float, index: int) -> None:
    last = gaps[-1] if gaps else None
    if last is not None and abs(last.offset + last.duration - at) < 1e-6 and last.segments[-1] == index - 1:
        gaps[-1] = Gap(last.offset, last.duration + duration, (*last.segments, index))
    else:
        gaps.append(Gap(round(at, 3), duration, (index,)))


# Tags that say "parameter sets in-band": a joined stream may change them at each run.
IN_BAND_TAGS = {"h264": "avc3", "hevc": "hev1"}


def join_runs(part: Path, plan: Layout, out: Path, keep_going: Callable[[], bool]) -> None:
    """Join the runs of `part` into `out` (MP4, stream copy).  `keep_going()` is asked every
    0.25 s; False kills ffmpeg at once and raises Stopped.

    An fMP4 run keeps its H.264/HEVC parameter sets in its init section only, and an MP4 has one
    sample description: joined as they are, the runs after the first would be decoded with the
    first run's parameters.  So each such run is first copied to MPEG-TS (parameter sets in-band,
    before every keyframe), and the MP4 is tagged avc3/hev1, the forms that carry them in-band.
    MPEG-TS runs have them in-band already; AV1 repeats its sequence header in-band."""
    runs = [_subfile(part, run) for run in plan.runs]
    codec = _video_codec(runs[0])
    steps = _Steps(out, keep_going)
    try:
        if plan.container == "mp4" and codec in IN_BAND_TAGS:
            runs = [steps.to_mpegts(source, index) for index, source in enumerate(runs)]
        listing = steps.file(".concat")
        listing.write_text(_concat_list(runs, plan.runs))
        tag = ["-tag:v", IN_BAND_TAGS[codec]] if codec in IN_BAND_TAGS else []
        steps.ffmpeg(["-f", "concat", "-safe", "0", *PROTOCOLS, "-i", str(listing), *COPY, *tag, "-f", "mp4", str(out)])
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    finally:
        steps.clean_up()


PROTOCOLS = ["-protocol_whitelist", "file,subfile"]
COPY = ["-map", "0:v?", "-map", "0:a?", "-dn", "-sn", "-c", "copy"]


class _Steps:
    """The ffmpeg runs of one join and the files they leave beside `out`."""

    def __init__(self, out: Path, keep_going: Callable[[], bool]):
        self.out = out
        self.keep_going = keep_going
        self.files: list[Path] = []

    def file(self, suffix: str) -> Path:
        path = self.out.with_name(self.out.name + suffix)
        self.files.append(path)
        return path

    def to_mpegts(self, source: str, index: int) -> str:
        target = self.file(f".run{index}.ts")
        self.ffmpeg([*PROTOCOLS, "-i", source, *COPY, "-f", "mpegts", str(target)])
        return str(target)

    def ffmpeg(self, args: list[str]) -> None:
        errors = self.file(".log")
        with open(errors, "wb") as log_file:
            returncode = _run_cancellable(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], log_file, self.keep_going)
        if returncode != 0:
            last = (errors.read_text(errors="replace").strip().splitlines() or [f"ffmpeg exit {returncode}"])[-1]
            raise TransientError(f"joining the VOD's runs failed: {last[:300]}")

    def clean_up(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)


def _video_codec(source: str) -> str | None:
    """ffprobe's name for the first video stream of `source` (None: no video, or unreadable)."""
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", *PROTOCOLS, "-select_streams", "v:0", "-show_entries", "stream=codec_name",
             "-of", "csv=p=0", source],
            capture_output=True, text=True, timeout=120, env=child_environment(),
        )  # fmt: skip
    except FileNotFoundError:
        raise SystemicError("ffprobe not found: install ffmpeg", certain=True) from None
    return out.stdout.strip() or None


def _run_cancellable(cmd: list[str], log_file: IO[bytes], keep_going: Callable[[], bool]) -> int:
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log_file, env=child_environment())
    except FileNotFoundError:
        raise SystemicError("ffmpeg not found: install ffmpeg", certain=True) from None
    try:
        while True:
            try:
                return proc.wait(POLL_SECONDS)
            except subprocess.TimeoutExpired:
                if not keep_going():
                    raise Stopped() from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Stopped(Exception):
    """`keep_going()` said stop while ffmpeg was joining."""


def _subfile(part: Path, run: Run) -> str:
    """The run's bytes of the part file, as ffmpeg reads them in place."""
    return f"subfile,,start,{run.start},end,{run.end},,:{part.resolve()}"


def _concat_list(sources: list[str], runs: list[Run]) -> str:
    lines = ["ffconcat version 1.0"]
    for source, run in zip(sources, runs, strict=True):
        quoted = source.replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
        lines.append(f"duration {run.duration:.3f}")
    return "\n".join(lines) + "\n"
