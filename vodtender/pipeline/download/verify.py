"""Is a downloaded file the whole VOD?  ffprobe's duration and packet counts against the playlist.

Duration alone misses holes (a file missing whole segments still reports the full span of
its timestamps), so packets are counted and compared with what the playlist's duration
implies (frames per second for video, AAC frames for audio): the video packets of an
MPEG-TS download while it is written, every stream's by ffprobe otherwise.  The fragment
journal has already shown that every segment is present exactly once.
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from vodtender.pipeline.errors import SystemicError
from vodtender.runtime.children import child_environment

AAC_SAMPLES_PER_PACKET = 1024
STREAM_ENTRIES = "stream=index,codec_type,codec_name,nb_read_packets,avg_frame_rate,r_frame_rate,sample_rate"


def tolerance(expected_seconds: float) -> float:
    """Seconds of slack: segment boundaries and container rounding, never a whole 10 s segment on short VODs."""
    return max(2.0, expected_seconds * 0.005)


def probe(path: Path, count_packets: bool = True) -> dict:
    cmd = ["ffprobe", "-v", "error", "-show_entries", "format=duration:" + STREAM_ENTRIES, "-of", "json", str(path)]
    if count_packets:
        cmd.insert(1, "-count_packets")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=child_environment())
    except FileNotFoundError:
        raise SystemicError("ffprobe not found: install ffmpeg", certain=True) from None
    if out.returncode != 0:
        return {"error": out.stderr.strip()[:300] or f"ffprobe exit {out.returncode}"}
    return json.loads(out.stdout or "{}")


def _rate(text: str | None) -> float:
    try:
        return float(Fraction(text)) if text and not text.startswith("0/") and text != "0" else 0.0
    except (ValueError, ZeroDivisionError):
        return 0.0


def packets_per_second(stream: dict) -> float:
    if stream.get("codec_type") == "video":
        return _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    if stream.get("codec_type") == "audio" and stream.get("codec_name") == "aac" and stream.get("sample_rate"):
        return int(stream["sample_rate"]) / AAC_SAMPLES_PER_PACKET
    return 0.0


TS_PACKET = 188
TS_SYNC = 0x47


@functools.lru_cache(maxsize=16)
def _match_table(mask: int, value: int) -> bytes:
    """translate() table: 1 for the bytes b with b & mask == value, else 0."""
    return bytes(1 if b & mask == value else 0 for b in range(256))


def pes_starts(data: bytes | bytearray | memoryview, pid: int) -> int:
    """How many MPEG-TS packets of `data` (packet-aligned) start a PES of `pid`: the number of
    video packets ffprobe counts.  Strided slices pick byte 1 and 2 of every packet, translate()
    turns them into 0/1 flags, and one big-integer AND counts both matches: C speed throughout."""
    high, low = 0x40 | (pid >> 8), pid & 0xFF  # 0x40: payload_unit_start_indicator
    first = bytes(data[1::TS_PACKET]).translate(_match_table(0x5F, high))  # ignore error/priority bits
    second = bytes(data[2::TS_PACKET]).translate(_match_table(0xFF, low))
    return (int.from_bytes(first, "big") & int.from_bytes(second, "big")).bit_count()


def video_pid(fragment: bytes | bytearray | memoryview) -> int | None:
    """The MPEG-TS PID of the video stream, as ffprobe reads it from one fragment."""
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=id,codec_type", "-of", "json", "-i", "pipe:0"],
            input=bytes(fragment),
            capture_output=True,
            timeout=60,
            env=child_environment(),
        )
    except FileNotFoundError:
        raise SystemicError("ffprobe not found: install ffmpeg", certain=True) from None
    try:
        streams = json.loads(out.stdout or b"{}").get("streams") or []
        return next(int(s["id"], 16) for s in streams if s.get("codec_type") == "video" and s.get("id"))
    except (ValueError, StopIteration, KeyError, TypeError):
        return None


class VideoPacketCounter:
    """Counts video packets of MPEG-TS fragments as they are written, so the integrity check needs
    no second read of the file (`ffprobe -count_packets` costs about a second of CPU per GB, which
    doubled the download time).  Not MPEG-TS, or no video stream: `packets` is None and the check
    falls back to ffprobe's full count."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.count = 0
        self.usable = True

    def feed(self, fragment: bytes | bytearray | memoryview) -> None:
        if not self.usable:
            return
        if len(fragment) % TS_PACKET or (len(fragment) and fragment[0] != TS_SYNC):
            self.usable = False
            return
        if self.pid is None:
            self.pid = video_pid(fragment)
            if self.pid is None:
                self.usable = False
                return
        self.count += pes_starts(fragment, self.pid)

    @property
    def packets(self) -> int | None:
        return self.count if self.usable and self.pid is not None else None


class Fmp4SampleCounter:
    """Counts the video samples of fMP4 pieces as they are written (each `moof`'s `trun` boxes of the
    video track, the number ffprobe reports), so an fMP4 download needs no full `-count_packets` read
    either.  The init section names the video track; a run's new init section names it again."""

    def __init__(self) -> None:
        self.track: int | None = None
        self.count = 0
        self.usable = True

    def feed(self, piece: bytes | bytearray | memoryview) -> None:
        if not self.usable:
            return
        try:
            for kind, content in _boxes(piece):  # a fragment may hold several moof/mdat pairs
                if kind == b"moov":
                    self.track = _video_track(content)
                elif kind == b"moof" and self.track is not None:
                    self.count += _samples(content, self.track)
        except ValueError:  # not ISO BMFF after all: ffprobe counts
            self.usable = False

    @property
    def packets(self) -> int | None:
        return self.count if self.usable and self.track is not None else None


def _boxes(data: bytes | bytearray | memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """(type, content) of each ISO BMFF box in `data`, in order."""
    view = memoryview(data)
    at = 0
    while at + 8 <= len(view):
        size = int.from_bytes(view[at : at + 4], "big")
        kind = bytes(view[at + 4 : at + 8])
        header = 8
        if size == 1:  # a 64-bit size follows
            size, header = int.from_bytes(view[at + 8 : at + 16], "big"), 16
        elif size == 0:  # to the end
            size = len(view) - at
        if size < header or at + size > len(view):
            raise ValueError(f"box {kind!r} overruns the data")
        yield kind, view[at + header : at + size]
        at += size
    if at != len(view):
        raise ValueError("trailing bytes after the last box")


def _video_track(moov: memoryview) -> int | None:
    for kind, trak in _boxes(moov):
        if kind != b"trak":
            continue
        children = dict(_boxes(trak))
        mdia = dict(_boxes(children[b"mdia"])) if b"mdia" in children else {}
        hdlr, tkhd = mdia.get(b"hdlr"), children.get(b"tkhd")
        if hdlr is not None and tkhd is not None and bytes(hdlr[8:12]) == b"vide":
            offset = 20 if tkhd[0] == 1 else 12  # version 1: 64-bit creation and modification times
            return int.from_bytes(tkhd[offset : offset + 4], "big")
    return None


def _samples(moof: memoryview, track: int) -> int:
    count = 0
    for kind, traf in _boxes(moof):
        if kind != b"traf":
            continue
        children = list(_boxes(traf))
        tfhd = next((content for name, content in children if name == b"tfhd"), None)
        if tfhd is None or int.from_bytes(tfhd[4:8], "big") != track:
            continue
        count += sum(int.from_bytes(content[4:8], "big") for name, content in children if name == b"trun")
    return count


def media_problems(
    path: Path, expected_seconds: float | None, video_packets: int | None = None, content_seconds: float | None = None
) -> list[str]:
    """What is wrong with the file at `path` for a VOD of `expected_seconds` (empty: it is whole).
    `video_packets`: counted while writing (VideoPacketCounter); None: ffprobe counts every stream.
    `content_seconds`: the seconds of media the file holds when segments are lost (gaps keep the
    timeline, so the duration stays `expected_seconds`, but the packets are fewer)."""
    info = probe(path, count_packets=video_packets is None)
    if "error" in info:
        return [f"ffprobe cannot read the file: {info['error']}"]
    try:
        duration = float(info.get("format", {}).get("duration") or 0)
    except ValueError:
        duration = 0.0
    streams = info.get("streams") or []
    if video_packets is not None:
        streams = [{**s, "nb_read_packets": video_packets} for s in streams if s.get("codec_type") == "video"]
    if not streams:
        return ["no audio or video streams"]
    if not expected_seconds:
        return [] if duration > 0 else ["the file has no duration"]
    problems = []
    slack = tolerance(expected_seconds)
    if abs(duration - expected_seconds) > slack:
        problems.append(f"duration {duration:.2f}s, playlist says {expected_seconds:.2f}s")
    held = expected_seconds if content_seconds is None else content_seconds
    for stream in streams:
        rate = packets_per_second(stream)
        counted = int(stream.get("nb_read_packets") or 0)
        if rate <= 0:
            continue
        expected = held * rate
        if abs(counted - expected) > slack * rate:
            problems.append(
                f"{stream.get('codec_type')} stream {stream.get('index')}: {counted} packets, "
                f"about {expected:.0f} expected for {held:.2f}s of media"
            )
    return problems
