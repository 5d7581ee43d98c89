"""Real encodes for the Twitch stand-in: one rendition's segments, made with ffmpeg once and cached.

    media = build_rendition(cache, Rendition("1080p60", "h265", "fmp4"), Layout(segments=20, init_change_at=12))
    media.segments[12].init       # init-1.mp4: a second encode at another size, after a discontinuity
    media.codecs                  # "hvc1.1.6.L60.B0,mp4a.40.2": the CODECS attribute Twitch lists for it

Segments are 2 s by default, cut at keyframes (one GOP each) by ffmpeg's HLS muxer, so the TS segments of
one encode carry continuous timestamps (plain concatenation is a valid file) and the fMP4 fragments a
continuous tfdt.  A break (`discontinuity_at`, `init_change_at`) starts a second encode whose timestamps
restart, as they do on Twitch when the broadcaster's encoder reconnects.  Muted segments are encoded with
silent audio: on Twitch the `-muted` file is the one with the audio removed.

A rendition's folder under the cache is named by a hash of everything that shapes its bytes, written
under a temporary name and renamed when complete, so a session (or an interrupted one) never reuses a
half-built folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

CODECS = ("h264", "h265", "av1")
CONTAINERS = ("ts", "fmp4")
AUDIO_ONLY = "audio_only"
AUDIO_CODEC = "mp4a.40.2"
# Audio alone is cut at any AAC frame: without trimming, the encoder's last partial frame would make a
# tiny extra segment that the video renditions of the same VOD do not have.
AUDIO_TAIL = 0.05
_H264_PROFILES = {"Constrained Baseline": "42C0", "Baseline": "4200", "Main": "4D40", "High": "6400"}


@dataclasses.dataclass(frozen=True)
class Rendition:
    """One variant of the master playlist, named as Twitch names it ("1080p60", "720p30", "audio_only")."""

    name: str
    codec: str = "h264"  # "h264" | "h265" | "av1" (ignored for audio_only)
    container: str = "ts"  # "ts" | "fmp4"
    size: str = "320x180"
    fps: int = 10

    @property
    def audio_only(self) -> bool:
        return self.name == AUDIO_ONLY

    def problem(self) -> str | None:
        """Why this rendition cannot be made, or None."""
        if self.codec not in CODECS:
            return f"unknown codec {self.codec!r} (one of {', '.join(CODECS)})"
        if self.container not in CONTAINERS:
            return f"unknown container {self.container!r} (one of {', '.join(CONTAINERS)})"
        if self.codec == "av1" and self.container == "ts" and not self.audio_only:
            return "AV1 in MPEG-TS is not a shape Twitch serves (its AV1 VODs are fMP4)"
        return None


@dataclasses.dataclass(frozen=True)
class Layout:
    """How the VOD's time is cut: shared by every rendition of one VOD."""

    segments: int = 20
    segment_seconds: int = 2
    muted: tuple[int, ...] = ()
    discontinuity_at: int | None = None
    init_change_at: int | None = None

    def problem(self, container: str) -> str | None:
        for name, index in (("discontinuity_at", self.discontinuity_at), ("init_change_at", self.init_change_at)):
            if index is not None and not 0 < index < self.segments:
                return f"{name}={index} is not inside the VOD's {self.segments} segments"
        if self.init_change_at is not None and container != "fmp4":
            return "init_change_at needs fMP4 renditions (an MPEG-TS segment has no init section)"
        return None

    def parts(self) -> list[tuple[int, int, bool]]:
        """(first segment, segment count, new init section) of each separate encode."""
        breaks = sorted({i for i in (self.discontinuity_at, self.init_change_at) if i is not None})
        starts = [0, *breaks]
        ends = [*breaks, self.segments]
        return [(start, end - start, start == self.init_change_at) for start, end in zip(starts, ends, strict=True)]


@dataclasses.dataclass(frozen=True)
class Segment:
    index: int
    duration: float
    file: str  # name inside the rendition folder
    init: str | None  # the init section it needs (fMP4)
    discontinuity: bool  # timestamps restart here (EXT-X-DISCONTINUITY before it)
    video_packets: int


@dataclasses.dataclass(frozen=True)
class RenditionMedia:
    folder: Path
    segments: tuple[Segment, ...]
    codecs: str  # the CODECS attribute of its EXT-X-STREAM-INF
    resolution: str | None  # of the first part (None: audio only)
    bandwidth: int  # peak bits per second over its segments

    def read(self, name: str) -> bytes | None:
        """A file of this rendition (segment or init section), None if it has no such file."""
        path = self.folder / name
        return path.read_bytes() if "/" not in name and path.is_file() else None


def build_rendition(cache: Path, rendition: Rendition, layout: Layout) -> RenditionMedia:
    """The rendition's media, encoded on the first call for these parameters and read back afterwards."""
    problem = rendition.problem() or layout.problem(rendition.container)
    if problem:
        raise ValueError(f"rendition {rendition.name}: {problem}")
    shape = {**dataclasses.asdict(rendition), "name": AUDIO_ONLY if rendition.audio_only else "video"}
    key = json.dumps([shape, dataclasses.asdict(layout)], sort_keys=True)  # the name does not shape the bytes
    folder = cache / hashlib.sha256(key.encode()).hexdigest()[:16]
    if not (folder / "media.json").exists():
        building = folder.with_name(folder.name + f".building-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        _Encoder(building, rendition, layout).run()
        shutil.rmtree(folder, ignore_errors=True)
        building.rename(folder)
    return _load(folder)


def _load(folder: Path) -> RenditionMedia:
    saved = json.loads((folder / "media.json").read_text())
    segments = tuple(Segment(**s) for s in saved.pop("segments"))
    return RenditionMedia(folder=folder, segments=segments, **saved)


class _Encoder:
    """Runs ffmpeg once per part, then describes the files in media.json."""

    def __init__(self, folder: Path, rendition: Rendition, layout: Layout):
        self.folder = folder
        self.rendition = rendition
        self.layout = layout

    def run(self) -> None:
        segments: list[Segment] = []
        size, init, inits = self.rendition.size, None, 0
        for number, (first, count, new_init) in enumerate(self.layout.parts()):
            if new_init:
                size = _other_size(size)
            if self.rendition.container == "fmp4" and (init is None or new_init):
                init, inits = f"init-{inits}.mp4", inits + 1
            durations = self._encode(first, count, size, init)
            for offset, duration in enumerate(durations):
                index = first + offset
                file = f"{index}.{'mp4' if self.rendition.container == 'fmp4' else 'ts'}"
                packets = self._video_packets(file, init)
                segments.append(Segment(index, duration, file, init, number > 0 and offset == 0, packets))
        description = {
            "segments": [dataclasses.asdict(s) for s in segments],
            "codecs": self._codecs(segments[0]),
            "resolution": None if self.rendition.audio_only else self.rendition.size,
            "bandwidth": max(int((self.folder / s.file).stat().st_size * 8 / max(s.duration, 0.001)) for s in segments),
        }
        (self.folder / "media.json").write_text(json.dumps(description))

    def _encode(self, first: int, count: int, size: str, init: str | None) -> list[float]:
        seconds = self.layout.segment_seconds
        fps = self.rendition.fps
        silent = [
            f"between(t,{(i - first) * seconds},{(i - first + 1) * seconds})"
            for i in self.layout.muted
            if first <= i < first + count
        ]
        audio_filter = ["-af", f"volume=0:enable='{'+'.join(silent)}'"] if silent else []
        video_input = [] if self.rendition.audio_only else ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}"]
        video_codec = [] if self.rendition.audio_only else self._video_codec(seconds * fps)
        container = (
            ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", init or "init-0.mp4"]
            if self.rendition.container == "fmp4"
            else ["-hls_segment_type", "mpegts"]
        )
        suffix = "mp4" if self.rendition.container == "fmp4" else "ts"
        playlist = self.folder / f"part-{first}.m3u8"
        command = [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            *video_input,
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(count * seconds - (AUDIO_TAIL if self.rendition.audio_only else 0)),
            *video_codec, *audio_filter,
            "-c:a", "aac", "-b:a", "32k",
            "-f", "hls", "-hls_time", str(seconds), "-hls_playlist_type", "vod", "-hls_list_size", "0",
            "-start_number", str(first), *container,
            "-hls_segment_filename", str(self.folder / f"%d.{suffix}"),
            str(playlist),
        ]  # fmt: skip
        init_file = self.folder / init if init else None
        kept = init_file.read_bytes() if init_file and init_file.exists() else None
        subprocess.run(command, check=True, env={**os.environ, "SVT_LOG": "1"})  # SVT-AV1 chatters otherwise
        if init_file and kept is not None and init_file.read_bytes() != kept:
            raise RuntimeError(f"the encode after the discontinuity rewrote {init} differently")
        durations = [
            float(line[8:].rstrip(",")) for line in playlist.read_text().splitlines() if line[:8] == "#EXTINF:"
        ]
        playlist.unlink()
        return durations

    def _video_codec(self, gop: int) -> list[str]:
        keyframes = ["-g", str(gop), "-keyint_min", str(gop)]
        if self.rendition.codec == "h265":
            return [
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-tag:v",
                "hvc1",
                "-x265-params",
                "log-level=error",
                *keyframes,
            ]
        if self.rendition.codec == "av1":
            return ["-c:v", "libsvtav1", "-preset", "12", *keyframes]
        return ["-c:v", "libx264", "-preset", "ultrafast", "-sc_threshold", "0", *keyframes]

    def _probe(self, data: bytes, entries: str, *extra: str) -> list[dict[str, str]]:
        answer = subprocess.run(
            ["ffprobe", "-v", "error", *extra, "-show_entries", entries, "-of", "json", "-"],
            input=data,
            capture_output=True,
            check=True,
        )
        streams: list[dict[str, str]] = json.loads(answer.stdout).get("streams", [])
        return streams

    def _video_packets(self, file: str, init: str | None) -> int:
        if self.rendition.audio_only:
            return 0
        data = (self.folder / init).read_bytes() if init else b""
        streams = self._probe(
            data + (self.folder / file).read_bytes(),
            "stream=nb_read_packets",
            "-select_streams",
            "v:0",
            "-count_packets",
        )
        return int(streams[0]["nb_read_packets"])

    def _codecs(self, first: Segment) -> str:
        """RFC 6381 codec strings as Twitch lists them, read from the encode itself."""
        if self.rendition.audio_only:
            return AUDIO_CODEC
        data = (self.folder / first.init).read_bytes() if first.init else b""
        data += (self.folder / first.file).read_bytes()
        video = self._probe(data, "stream=codec_name,profile,level", "-select_streams", "v:0")[0]
        level = int(video.get("level") or 0)
        if video["codec_name"] == "h264":
            return f"avc1.{_H264_PROFILES.get(video['profile'], '4D40')}{level:02X},{AUDIO_CODEC}"
        if video["codec_name"] == "hevc":
            return f"hvc1.1.6.L{level}.B0,{AUDIO_CODEC}"
        return f"av01.0.{level:02d}M.08,{AUDIO_CODEC}"


def _other_size(size: str) -> str:
    """The size of the encode after an init change: another resolution, as after an encoder restart."""
    return "160x90" if size != "160x90" else "320x180"
