"""Is a downloaded file the whole VOD?  ffprobe's duration and packet counts against the playlist.

Duration alone misses holes (a file missing whole segments still reports the full span of
its timestamps), so the packets of each stream are counted and compared with what the
playlist's duration implies (frames per second for video, AAC frames for audio).  The
fragment journal has already shown that every segment is present exactly once.
"""

from __future__ import annotations

import json
import subprocess
import threading
from fractions import Fraction
from pathlib import Path

from vodtender.pipeline.errors import SystemicError

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
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError:
        raise SystemicError("ffprobe not found: install ffmpeg") from None
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


class PacketCounter:
    """ffprobe counting the packets of the bytes fed to it while the download is still running, so the
    full read of the file that packet counting needs costs no time after the download."""

    def __init__(self) -> None:
        try:
            self._proc: subprocess.Popen | None = subprocess.Popen(
                ["ffprobe", "-v", "error", "-count_packets", "-show_entries", STREAM_ENTRIES, "-of", "json",
                 "-i", "pipe:0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except FileNotFoundError:
            raise SystemicError("ffprobe not found: install ffmpeg") from None
        self._output = b""
        self._reader = threading.Thread(target=self._read, name="packet-counter", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        self._output = self._proc.stdout.read()

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._proc is None or self._proc.stdin is None:
            return
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, ValueError):  # ffprobe gave up on the data: streams() says so
            self._proc.stdin = None

    def streams(self) -> list[dict] | None:
        """The streams with their packet counts, once everything is fed (None: ffprobe failed)."""
        if self._proc is None:
            return None
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        code = self._proc.wait()
        self._reader.join()
        self._proc = None
        if code != 0:
            return None
        try:
            return json.loads(self._output or b"{}").get("streams")
        except ValueError:
            return None

    def abort(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._reader.join()
            self._proc = None


def media_problems(path: Path, expected_seconds: float | None, counted: list[dict] | None = None) -> list[str]:
    """What is wrong with the file at `path` for a VOD of `expected_seconds` (empty: it is whole).
    `counted`: the streams with packet counts from a PacketCounter fed with the file's bytes."""
    info = probe(path, count_packets=counted is None)
    if "error" in info:
        return [f"ffprobe cannot read the file: {info['error']}"]
    try:
        duration = float(info.get("format", {}).get("duration") or 0)
    except ValueError:
        duration = 0.0
    streams = counted if counted is not None else info.get("streams") or []
    if not streams:
        return ["no audio or video streams"]
    if not expected_seconds:
        return [] if duration > 0 else ["the file has no duration"]
    problems = []
    slack = tolerance(expected_seconds)
    if abs(duration - expected_seconds) > slack:
        problems.append(f"duration {duration:.2f}s, playlist says {expected_seconds:.2f}s")
    for stream in streams:
        rate = packets_per_second(stream)
        counted = int(stream.get("nb_read_packets") or 0)
        if rate <= 0:
            continue
        expected = expected_seconds * rate
        if abs(counted - expected) > slack * rate:
            problems.append(f"{stream.get('codec_type')} stream {stream.get('index')}: {counted} packets, "
                            f"about {expected:.0f} expected for {expected_seconds:.2f}s")
    return problems
