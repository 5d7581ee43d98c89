"""Record one loopback Twitch live stream with vodtender's recorder and with streamlink at once, side by side.

    python3 bench/bench_record.py                       # 10 minutes of a ~6 Mbit/s stream (the issue's measurement)
    python3 bench/bench_record.py --minutes 2
    python3 bench/bench_record.py --streamlink PATH     # streamlink not on PATH (it is skipped if absent)
    LIVE_RECORD_POLL=1s python3 bench/bench_record.py   # the recorder's settings come from the env

The stream: the Twitch stand-in's live side (tests/standins/twitch_live.py) at real time (speed 1.0), 2 s MPEG-TS
segments of 1280x720 H.264 at 22 fps (libx264 ultrafast, the stand-in's encoder) + AAC: about 6.2 Mbit/s, 1.5 MB
a segment (testsrc2 at that size and rate; the encoder has no bitrate setting, the picture's size sets it).  Encoded
once into --media-dir and reused.  The stand-in runs as its own process (`python -m tests.standins.twitch`, driven
over its control API) and is sampled like the contenders, so what serving costs is printed, not guessed: at this
rate (two clients, one 1.5 MB segment a second between them) it takes well under 1 % of one core, so the media stays
on the Python stand-in (nginx, as bench_download.py uses, would need the stand-in's playlists to point at it).

Contenders, started together once the stream's first segment is out, each its own process writing to --out-dir:
  vodtender   `vodtender recorder`, LIVE_RECORD naming the channel, with the placeholder row the poller writes for
              a live stream; yt-dlp's own Twitch extractor resolves the stream (pointed at the stand-in by
              tests/standins/ytdlp_hook); it follows the live playlist with its defaults (LIVE_RECORD_POLL=0: every
              half target duration, 3 s on this playlist's #EXT-X-TARGETDURATION:6)
  streamlink  streamlink's HLS stream on usher's master playlist (`hls://...`), with a playback token from the
              stand-in's GraphQL and the query parameters streamlink's Twitch plugin sends
              (plugins/twitch.py, UsherService._create_url); its defaults otherwise: it starts 3 segments behind
              the live edge (--hls-live-edge) and reloads every target duration (--hls-playlist-reload-time
              default).  Its Twitch plugin itself cannot be pointed at loopback: its GraphQL and usher hosts are
              fixed in the plugin.

Measured for each process and its descendants (the recorder's ffprobe at the end), once a second from /proc:
  CPU   % of one core, mean over the whole run (start to exit: wait4's rusage, reaped children included), and
        while live (from its first segment on disk to the stream's end: /proc/PID/stat utime+stime+cutime+cstime)
  RSS   peak: the largest 1 Hz sample of the tree's summed VmRSS, or the kernel's exact peak of its largest
        process (wait4's ru_maxrss), whichever is higher.  A child that lives less than a second (the recorder's
        ffprobe of the finished file, about 58 MB, most of it its shared libraries) is caught by the samples in
        some runs, not in others
  lag   while the stream is live, each second: (the stand-in's live edge - the newest segment complete on disk)
        x 2 s, the seconds of published stream the output lacks.  The edge comes from the stream's start (segment
        N is listed 2 (N+1) s after it at speed 1).  The newest segment on disk comes from the output's size: the
        file starts with one served segment (found by its first bytes) and goes on with the next ones, so its size
        says how many are complete.  streamlink writes through a buffered file, so up to 8 KiB of its newest
        segment waits in memory until the next one comes: a segment counts once all but its last 64 KiB is on
        disk, for both.  The recorder's own `vodtender_recording_lag_seconds`, scraped each second, is printed
        beside it; it is measured against the playlist the recorder last read, so the time a new segment waits
        for the next reload is not in it.
At the end each output is compared byte for byte with the served segments it should hold.  Not run by CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.standins.twitch import ytdlp_hook_env  # noqa: E402
from tests.standins.twitch_live import LiveSpec  # noqa: E402
from tests.standins.twitch_media import Layout, Rendition, RenditionMedia, build_rendition  # noqa: E402
from vodtender.pipeline.record.recording import part_path  # noqa: E402
from vodtender.runtime.clock import utcnow  # noqa: E402
from vodtender.runtime.db import open_database  # noqa: E402
from vodtender.runtime.migrations import migrate  # noqa: E402
from vodtender.runtime.models import Recording, Vod  # noqa: E402

CHANNEL = "benchlive"
STREAM_ID = "45000000001"
SEGMENT_SECONDS = 2
RENDITION = Rendition("720p22", "h264", "ts", size="1280x720", fps=22)  # ~6.2 Mbit/s, ~1.5 MB a segment
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
HEAD = 4096  # first bytes of a segment: its first video packet's timestamps tell the segments apart
UNFLUSHED = 64 * 1024  # of the newest segment that may still sit in a writer's buffer
FINISH_GRACE = 180.0  # seconds after the stream's end for the contenders to finish (the recorder checks and publishes)
CPU_TARGET, RSS_TARGET_MB, LAG_TARGET = 0.05, 100, SEGMENT_SECONDS  # the targets for the recorder
MB = 10**6


# --- the stream ---------------------------------------------------------------------------------------------------


class ServedSegments:
    """The stream's segments as the stand-in serves them: their files, sizes and the first bytes of each."""

    def __init__(self, media: RenditionMedia):
        self.files = [media.folder / segment.file for segment in media.segments]
        self.sizes = [file.stat().st_size for file in self.files]
        self.peak_bitrate = media.bandwidth
        self._by_head: dict[bytes, int] = {}
        for index, file in enumerate(self.files):
            with open(file, "rb") as fh:
                self._by_head.setdefault(fh.read(HEAD), index)
        if len(self._by_head) != len(self.files):
            raise SystemExit(f"two served segments begin with the same {HEAD} bytes: outputs cannot be placed")

    @property
    def mean_bitrate(self) -> float:
        return sum(self.sizes) * 8 / (len(self.sizes) * SEGMENT_SECONDS)

    def starting_with(self, head: bytes) -> int | None:
        """The segment whose first bytes these are."""
        return self._by_head.get(head)


def make_media(media_dir: Path, segments: int) -> RenditionMedia:
    """The stream's encode, made once per length with the stand-in's own encoder, where its go_live finds it."""
    layout = Layout(segments, SEGMENT_SECONDS)
    print(f"encoding (once) or reusing {segments} segments of {RENDITION.size} in {media_dir} ...", flush=True)
    return build_rendition(media_dir, RENDITION, layout)


@dataclasses.dataclass(frozen=True)
class LiveClock:
    """When the stand-in lists each segment: segment N once the stream's time passes its end (speed 1.0)."""

    began: float  # unix seconds
    segments: int

    def edge(self, now: float) -> int:
        """The newest listed segment (-1 before the first)."""
        return min(self.segments, int((now - self.began) // SEGMENT_SECONDS)) - 1

    @property
    def end(self) -> float:
        return self.began + self.segments * SEGMENT_SECONDS


class SegmentsOnDisk:
    """The newest served segment complete in a growing output file (the method is in the module docstring)."""

    def __init__(self, served: ServedSegments, path: Callable[[], Path]):
        self.served = served
        self.path = path
        self.first: int | None = None
        self.newest: int | None = None
        self._next_end = 0  # the file's size once the segment after `newest` is complete

    def read(self) -> int | None:
        try:
            size = self.path().stat().st_size
        except OSError:  # not there yet, or moved to its final name
            return self.newest
        if self.first is None and not self._place(size):
            return self.newest
        sizes = self.served.sizes
        following = self.first if self.newest is None else self.newest + 1
        while following is not None and following < len(sizes):
            if size < self._next_end - min(UNFLUSHED, sizes[following] // 2):
                break
            self.newest, following = following, following + 1
            self._next_end += sizes[following] if following < len(sizes) else 0
        return self.newest

    def _place(self, size: int) -> bool:
        if size < HEAD:
            return False
        with open(self.path(), "rb") as fh:
            self.first = self.served.starting_with(fh.read(HEAD))
        if self.first is None:
            raise RuntimeError(f"{self.path()} does not start with a served segment")
        self._next_end = self.served.sizes[self.first]
        return True


def compare_output(path: Path, served: ServedSegments) -> str:
    """`segments 0-299, identical to the served ones`, or where the output departs from them."""
    with open(path, "rb") as fh:
        first = served.starting_with(fh.read(HEAD))
        if first is None:
            return "does not start with a served segment"
        fh.seek(0)
        index = first
        while index < len(served.files):
            held = fh.read(served.sizes[index])
            if not held:
                break
            if len(held) < served.sizes[index]:
                return f"segments {first}-{index - 1}, then it ends inside segment {index}"
            if held != served.files[index].read_bytes():
                return f"segments {first}-{index - 1}, then segment {index} differs"
            index += 1
        extra = fh.read(1)
    whole = "identical to the served ones" if not extra else "then bytes that are no segment"
    return f"segments {first}-{index - 1} ({index - first}), {whole}"


# --- processes ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProcessUsage:
    name: str  # its command name (/proc/PID/comm)
    cpu: float  # seconds: its own and its reaped descendants' (utime+stime+cutime+cstime, stat fields 14-17)
    rss: int  # resident bytes


def tree_usage(pid: int) -> list[ProcessUsage]:
    """A process and each of its live descendants now; empty if it is gone."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        children = [
            int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()
        ]
    except (OSError, IndexError, ValueError):
        return []
    cpu = sum(int(field) for field in after_name[11:15]) / CLOCK_TICKS
    rss = next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return [ProcessUsage(name, cpu, rss), *(usage for child in children for usage in tree_usage(child))]


@dataclasses.dataclass(frozen=True)
class Exit:
    at: float  # monotonic
    cpu: float  # seconds, its reaped descendants' included
    max_rss: int  # bytes: the peak of its largest process
    code: int


class Measured:
    """A process the bench started: its tree sampled from /proc, its exit reaped with wait4 for the rusage."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: Path, cwd: Path, stdout: int):
        self.log = log
        with open(log, "wb") as err:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=stdout, stderr=err, stdin=subprocess.DEVNULL)
        self.started = time.monotonic()
        self.samples: list[tuple[float, float]] = []  # (monotonic, CPU seconds of the tree)
        self.peak_rss = 0  # the tree's summed VmRSS at its largest sample
        self.peaks: dict[str, int] = {}  # each command's own largest sampled VmRSS
        self.exit: Exit | None = None

    def sample(self) -> None:
        if self.exit is not None or self._reaped(os.WNOHANG):
            return
        tree = tree_usage(self.proc.pid)
        if not tree:
            return
        self.samples.append((time.monotonic(), sum(usage.cpu for usage in tree)))
        self.peak_rss = max(self.peak_rss, sum(usage.rss for usage in tree))
        for usage in tree:
            self.peaks[usage.name] = max(usage.rss, self.peaks.get(usage.name, 0))

    def breakdown(self) -> str:
        """`python3 74, ffprobe 56 MB`: each command's own sampled peak (not necessarily at the same moment)."""
        peaks = sorted(self.peaks.items(), key=lambda peak: -peak[1])
        return ", ".join(f"{name} {rss / MB:.0f}" for name, rss in peaks) + " MB"

    def _reaped(self, flags: int) -> bool:
        pid, status, rusage = os.wait4(self.proc.pid, flags)
        if pid == 0:
            return False
        self.proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen never waits for it
        cpu = rusage.ru_utime + rusage.ru_stime
        self.exit = Exit(time.monotonic(), cpu, rusage.ru_maxrss * 1024, self.proc.returncode)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, SIGKILL after `timeout`; reaped either way."""
        if self.exit is not None or self._reaped(os.WNOHANG):
            return
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not self._reaped(os.WNOHANG):
            if time.monotonic() > deadline:
                self.proc.kill()
                self._reaped(0)
                return
            time.sleep(0.05)

    def cpu_share(self, start: float, end: float) -> float | None:
        """Mean fraction of one core between two monotonic times, from the /proc samples."""
        inside = [sample for sample in self.samples if start <= sample[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-800:].strip()


class StandinProcess:
    """tests/standins/twitch.py as its own process, driven over its control API (see that module's docstring)."""

    def __init__(self, root: Path, media_dir: Path, log: Path):
        cmd = [sys.executable, "-m", "tests.standins.twitch", "--root", str(root), "--media-cache", str(media_dir)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        self.process = Measured(cmd, env, log, REPO, subprocess.PIPE)
        self.base_url = self._printed_url()

    def _printed_url(self, timeout: float = 60.0) -> str:
        out = self.process.proc.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], timeout)
        line = out.readline().decode().strip() if ready else ""
        if not line.startswith("http://"):
            self.process.stop()
            raise SystemExit(f"the Twitch stand-in did not start: {self.process.log_tail() or 'no output'}")
        return line

    def call(self, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}/{path}", data=data, headers=headers or {})
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read())

    def go_live(self, spec: LiveSpec) -> LiveClock:
        state = self.call(
            "_control/live", {"channel": CHANNEL, "spec": dataclasses.asdict(spec), "stream_id": STREAM_ID}
        )
        return LiveClock(dt.datetime.fromisoformat(state["started_at"]).timestamp(), spec.total_segments)

    def master_url(self) -> str:
        """usher's master playlist as streamlink's Twitch plugin asks for it: a stream playback token (the token
        query the stand-in answers, as yt-dlp words it) and UsherService._create_url's parameters."""
        query = (
            f'{{ streamPlaybackAccessToken(channelName: "{CHANNEL}", params: {{platform: "web", '
            'playerBackend: "mediaplayer", playerType: "site"}) { value signature } }'
        )
        answer = self.call("gql", {"query": query}, {"Client-ID": "bench", "Content-Type": "application/json"})
        token = answer["data"]["streamPlaybackAccessToken"]
        params = {
            "platform": "web",
            "p": random.randrange(999999),
            "allow_source": "true",
            "allow_audio_only": "true",
            "playlist_include_framerate": "true",
            "multigroup_video": "true",
            "supported_codecs": "h264",
            "sig": token["signature"],
            "token": token["value"],
        }
        return f"{self.base_url}/usher/api/channel/hls/{CHANNEL}.m3u8?{urllib.parse.urlencode(params)}"


# --- the contenders -----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Contender:
    """One recorder of the stream: its process, what it has on disk, and the lag samples taken while live."""

    name: str
    process: Measured
    on_disk: SegmentsOnDisk
    output: Callable[[], Path | None]  # its finished file, None until it has one
    lags: list[float] = dataclasses.field(default_factory=list)
    first_segment_at: float | None = None  # monotonic

    def sample(self, edge: int, live: bool) -> None:
        self.process.sample()
        newest = self.on_disk.read()
        if newest is None:
            return
        if self.first_segment_at is None:
            self.first_segment_at = time.monotonic()
        if live:
            self.lags.append(max(0, edge - newest) * SEGMENT_SECONDS)


class VodtenderRecorder:
    """`vodtender recorder` on the bench's database, following the stand-in's stream as it would Twitch's."""

    def __init__(self, standin: StandinProcess, out: Path, served: ServedSegments, db_dsn: str):
        self.port = free_loopback_port()
        data_dir = out / "data"
        env = {
            **os.environ,
            "VODTENDER_CONFIG_DIR": str(out / "etc"),
            "DB_DSN": db_dsn,
            "DATA_DIR": str(data_dir),
            "LIVE_RECORD": CHANNEL,
            "RECORDER_HTTP_ADDR": f"127.0.0.1:{self.port}",
            "DOWNLOAD_MIN_FREE": "0",
            "LOG_LEVEL": "warning",
            **ytdlp_hook_env(standin.base_url),
        }
        cmd = [sys.executable, "-m", "vodtender", "recorder"]
        process = Measured(cmd, env, out / "recorder.log", out, subprocess.DEVNULL)
        part = part_path(data_dir, STREAM_ID)
        self.contender = Contender("vodtender", process, SegmentsOnDisk(served, lambda: part), self._output)
        self.metric_lags: list[float] = []
        self.error: str | None = None

    def _output(self) -> Path | None:
        row = Recording.get_or_none(Recording.stream_id == STREAM_ID)
        if row is None or row.state not in ("finished", "failed"):
            return None
        self.error = row.error
        return Path(row.path) if row.path else None

    def sample_metric(self) -> None:
        """vodtender_recording_lag_seconds, once the recording has a segment."""
        if self.contender.first_segment_at is None:
            return
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as answer:
                text = answer.read().decode()
        except OSError:
            return
        found = re.search(r"^vodtender_recording_lag_seconds (\S+)$", text, re.MULTILINE)
        if found:
            self.metric_lags.append(float(found.group(1)))

    def finish(self) -> None:
        """Stopped once its recording is finished (or failed): it would wait for the next stream."""
        if self.contender.process.exit is None and (self._output() is not None or self.error):
            self.contender.process.stop()


def start_streamlink(exe: str, standin: StandinProcess, out: Path, served: ServedSegments) -> Contender:
    target = out / "streamlink.ts"
    cmd = [
        exe,
        "--no-config",
        "--loglevel",
        "warning",
        "--output",
        str(target),
        "hls://" + standin.master_url(),
        "best",
    ]
    process = Measured(cmd, dict(os.environ), out / "streamlink.log", out, subprocess.DEVNULL)
    return Contender(
        "streamlink",
        process,
        SegmentsOnDisk(served, lambda: target),
        lambda: target if process.exit is not None and target.exists() else None,
    )


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the run ------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Result:
    name: str
    cpu_run: float  # fraction of one core, start to exit
    cpu_live: float | None  # fraction of one core, first segment on disk to the stream's end
    cpu_seconds: float
    sampled_rss: int  # the tree's summed VmRSS at its largest 1 Hz sample
    largest_rss: int  # the exact peak of its largest process (wait4)
    by_process: str  # each command's own sampled peak
    lag_median: float | None
    lag_max: float | None
    first_segment: float | None  # seconds from its start to its first segment on disk
    recorded: int  # bytes of its finished file
    output: str  # what the file holds, or why there is none

    @property
    def peak_rss(self) -> int:
        return max(self.sampled_rss, self.largest_rss)


def result_of(contender: Contender, live_end: float, served: ServedSegments, problem: str | None) -> Result:
    process, lags = contender.process, contender.lags
    ended = process.exit
    assert ended is not None, "every contender is stopped before its result is read"
    path = contender.output()
    first = contender.first_segment_at
    return Result(
        name=contender.name,
        cpu_run=ended.cpu / max(ended.at - process.started, 1e-9),
        cpu_live=process.cpu_share(first, live_end) if first is not None else None,
        cpu_seconds=ended.cpu,
        sampled_rss=process.peak_rss,
        largest_rss=ended.max_rss,
        by_process=process.breakdown(),
        lag_median=statistics.median(lags) if lags else None,
        lag_max=max(lags) if lags else None,
        first_segment=first - process.started if first is not None else None,
        recorded=path.stat().st_size if path is not None else 0,
        output=problem or (compare_output(path, served) if path is not None else f"no file (exit {ended.code})"),
    )


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    minutes: float
    out_dir: Path | None
    media_dir: Path
    streamlink: str | None


@dataclasses.dataclass(frozen=True)
class Report:
    results: list[Result]  # vodtender first
    metric_lags: list[float]  # vodtender_recording_lag_seconds while live
    standin_share: float | None  # of one core, while live
    standin_peak_rss: int


def bench(options: BenchOptions) -> None:
    segments = max(3, round(options.minutes * 60 / SEGMENT_SECONDS))
    served = ServedSegments(make_media(options.media_dir, segments))
    out = Path(tempfile.mkdtemp(prefix="vodtender-bench-record-", dir=options.out_dir))
    load_before = os.getloadavg()[0]
    try:
        report = record_side_by_side(served, segments, out, options)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(
        f"stand-in (serving, not a contender): {percent(report.standin_share)} % of one core while live, peak RSS "
        f"{report.standin_peak_rss / MB:.0f} MB; load average (1 min) {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after",
        flush=True,
    )
    print_table(report.results, options.streamlink)
    print_memory(report.results)
    print_metric(report.metric_lags)
    print_targets(report.results[0], report.metric_lags)


def record_side_by_side(served: ServedSegments, segments: int, out: Path, options: BenchOptions) -> Report:
    """The stream goes live on the stand-in; once its first segment is out both contenders start; each is
    measured until it has exited, the recorder once its recording is finished."""
    standin = StandinProcess(out / "twitch", options.media_dir, out / "standin.log")
    contenders: list[Contender] = []
    try:
        db_dsn = str(out / "bench.db")
        db = open_database(db_dsn)
        migrate(db)
        clock = standin.go_live(LiveSpec(rendition=RENDITION, speed=1.0, total_segments=segments))
        print(
            f"live: {segments} x {SEGMENT_SECONDS} s segments ({segments * SEGMENT_SECONDS / 60:.1f} min) of "
            f"{RENDITION.size} H.264 {RENDITION.fps} fps + AAC in MPEG-TS, {served.mean_bitrate / MB:.2f} Mbit/s "
            f"mean ({served.peak_bitrate / MB:.2f} peak), {sum(served.sizes) / len(served.sizes) / MB:.2f} MB a "
            f"segment; served by the Python stand-in at {standin.base_url}; output in {out}; {os.cpu_count()} CPUs",
            flush=True,
        )
        while clock.edge(time.time()) < 0:  # usher says offline until the first segment is out
            time.sleep(0.05)
        Vod.create(
            twitch_vod_id=f"live-{STREAM_ID}", channel=CHANNEL, is_placeholder=1, stream_id=STREAM_ID, date=utcnow()
        )
        recorder = VodtenderRecorder(standin, out, served, db_dsn)
        contenders.append(recorder.contender)
        if options.streamlink:
            contenders.append(start_streamlink(options.streamlink, standin, out, served))
        live_end = follow(clock, contenders, recorder, standin)
        for contender in contenders:
            contender.process.stop()
        standin.process.sample()
        results = [result_of(c, live_end, served, problem_of(c, recorder)) for c in contenders]
        db.close()
        return Report(
            results,
            recorder.metric_lags,
            standin.process.cpu_share(recorder.contender.process.started, live_end),
            standin.process.peak_rss,
        )
    finally:
        for contender in contenders:
            contender.process.stop()
        standin.process.stop()


def follow(
    clock: LiveClock, contenders: list[Contender], recorder: VodtenderRecorder, standin: StandinProcess
) -> float:
    """Sample every second until each contender has exited (or the grace after the stream's end has run out);
    returns when the stream ended, on the monotonic clock."""
    live_end = time.monotonic() + clock.end - time.time()
    ended_told = False
    while True:
        tick, now = time.monotonic(), time.time()
        live = now < clock.end
        for contender in contenders:
            contender.sample(clock.edge(now), live)
        standin.process.sample()
        if live:
            recorder.sample_metric()
        elif not ended_told:  # the poller closes the placeholder once the stream is offline
            Vod.update(live_ended_at=utcnow()).where(Vod.twitch_vod_id == f"live-{STREAM_ID}").execute()
            ended_told = True
        recorder.finish()
        if all(c.process.exit is not None for c in contenders) or now > clock.end + FINISH_GRACE:
            return live_end
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))


def problem_of(contender: Contender, recorder: VodtenderRecorder) -> str | None:
    ended = contender.process.exit
    if contender is recorder.contender and recorder.error:
        return f"failed: {recorder.error[:200]}"
    if ended is not None and ended.code not in (0, -signal.SIGTERM) and contender.output() is None:
        return f"exit {ended.code}: {contender.process.log_tail()[-200:]}"
    return None


# --- the report ---------------------------------------------------------------------------------------------------


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def ratio(ours: float | None, theirs: float | None) -> str:
    return "-" if ours is None or not theirs else f"{ours / theirs:.2f}"


COLUMNS = f"{'':<17}{'CPU % run':>10}{'CPU % live':>11}{'CPU s':>8}{'peak RSS MB':>12}{'lag med s':>10}"
COLUMNS += f"{'lag max s':>10}{'1st seg s':>10}{'recorded MB':>12}  output"


def print_table(results: list[Result], streamlink: str | None) -> None:
    print(f"\n{COLUMNS}")
    for r in results:
        print(
            f"{r.name:<17}{percent(r.cpu_run):>10}{percent(r.cpu_live):>11}{r.cpu_seconds:>8.1f}"
            f"{r.peak_rss / MB:>12.0f}{seconds(r.lag_median):>10}{seconds(r.lag_max):>10}"
            f"{seconds(r.first_segment):>10}{r.recorded / MB:>12.1f}  {r.output}"
        )
    if len(results) < 2:
        print(f"streamlink: skipped ({'not found: give --streamlink PATH' if not streamlink else 'not run'})")
        return
    ours, theirs = results
    print(
        f"{'ours/streamlink':<17}{ratio(ours.cpu_run, theirs.cpu_run):>10}{ratio(ours.cpu_live, theirs.cpu_live):>11}"
        f"{ratio(ours.cpu_seconds, theirs.cpu_seconds):>8}{ratio(ours.peak_rss, theirs.peak_rss):>12}"
        f"{ratio(ours.lag_median, theirs.lag_median):>10}{ratio(ours.lag_max, theirs.lag_max):>10}"
        f"{ratio(ours.first_segment, theirs.first_segment):>10}{ratio(ours.recorded, theirs.recorded):>12}"
    )


def print_memory(results: list[Result]) -> None:
    for r in results:
        print(
            f"{r.name} peak RSS: {r.sampled_rss / MB:.0f} MB summed over its processes at the largest 1 Hz sample "
            f"(each one's own: {r.by_process}), {r.largest_rss / MB:.0f} MB its largest process (wait4)"
        )


def print_metric(lags: list[float]) -> None:
    if lags:
        print(
            f"vodtender_recording_lag_seconds, scraped each second while live: median {statistics.median(lags):.1f} s,"
            f" max {max(lags):.1f} s ({len(lags)} samples)"
        )


def print_targets(ours: Result, metric_lags: list[float]) -> None:
    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    lag = ours.lag_median
    metric = statistics.median(metric_lags) if metric_lags else None
    lags_met = all(value is not None and value <= LAG_TARGET for value in (lag, metric))
    print(
        f"targets (the issue): CPU <= {CPU_TARGET * 100:.0f} % of one core: {percent(ours.cpu_run)} % "
        f"({verdict(ours.cpu_run <= CPU_TARGET)}); RSS < {RSS_TARGET_MB} MB: {ours.peak_rss / MB:.0f} MB with its "
        f"children ({verdict(ours.peak_rss < RSS_TARGET_MB * MB)}), {ours.largest_rss / MB:.0f} MB its largest "
        f"process ({verdict(ours.largest_rss < RSS_TARGET_MB * MB)}); median lag <= one segment ({LAG_TARGET} s): "
        f"{seconds(lag)} s on disk, {seconds(metric)} s by the metric ({verdict(lags_met)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the live stream lasts (default 10)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where the recordings are written (default: tmpfs)",
    )
    parser.add_argument(
        "--media-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vodtender-bench" / "live-media",
        help="where the stream's encode is made (kept for later runs)",
    )
    parser.add_argument("--streamlink", default=shutil.which("streamlink"), help="the streamlink executable")
    args = parser.parse_args()
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    bench(BenchOptions(args.minutes, args.out_dir, args.media_dir, args.streamlink))


if __name__ == "__main__":
    main()
