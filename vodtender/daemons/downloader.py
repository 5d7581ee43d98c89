"""The downloader: claims VODs, downloads them (yt-dlp / own HLS fetcher), checks the result.

`run_once` only supervises: it reaps finished workers, starts new ones while fewer than
MAX_CONCURRENT_DOWNLOADS run, the circuit breaker allows and ffmpeg, ffprobe and DATA_DIR are
usable (`pipeline/download/preflight.py`: otherwise it claims nothing and says what to fix),
and (every minute) re-queues downloaded VODs whose file has gone and removes what finished
downloads left in the partial folder (`pipeline/download/sweep.py`).
Each download runs in its own thread (`pipeline/download/job.py`).
"""

from __future__ import annotations

import time

from vodtender.clients.ytdlp import YtDlp
from vodtender.daemons.base import PipelineDaemon
from vodtender.daemons.workers import Workers
from vodtender.pipeline import vods
from vodtender.pipeline.breaker import BreakerState, CircuitBreaker
from vodtender.pipeline.download.fetcher import share_malloc_arenas
from vodtender.pipeline.download.job import DownloadJob, DownloadSettings, publish_progress
from vodtender.pipeline.download.preflight import Preflight
from vodtender.pipeline.download.sweep import FileSweep
from vodtender.pipeline.metrics import BreakerMetrics
from vodtender.runtime.daemon import Runtime

IDLE_POLL = 2.0  # seconds between looks at the queue when there is room for work
STOP_GRACE = 10.0  # seconds shutdown waits for workers to checkpoint


class Downloader(PipelineDaemon):
    name = "downloader"

    def __init__(self, runtime: Runtime):
        super().__init__(runtime)
        share_malloc_arenas()
        self.owner = runtime.instance
        self.settings = DownloadSettings.from_config(self.cfg, self.cfg.data_dir.resolve())
        self.breaker = CircuitBreaker(
            self.cfg.circuit_failure_threshold, self.cfg.circuit_open_cooldown, BreakerMetrics()
        )
        self.workers: Workers[DownloadJob] = Workers(runtime.wake, self._ended)
        self.breaker_state: BreakerState = self.breaker.current()
        self.sweep = FileSweep(self.settings.data_dir, self.cfg.data_dir_shared, self.clock)
        self.preflight = Preflight(self.settings.data_dir, self.settings.min_free, self.log, self.clock.monotonic)
        if self.preflight.ready():
            self.log.info(
                "downloader working",
                data_dir=str(self.settings.data_dir),
                max_concurrent=self.cfg.max_concurrent_downloads,
                fragment_concurrency=self.settings.concurrency,
                codecs=",".join(self.cfg.download_codecs),
                tools=self.preflight.tools.versions(),
            )

    def run_once(self) -> float:
        self.workers.reap()
        publish_progress(self.workers.jobs)
        self.breaker_state = self.breaker.current()
        self.sweep.run_if_due()
        while self.workers.has_room(self.cfg.max_concurrent_downloads):
            if self.breaker_state.blocking(self.clock.time()) or not self.preflight.ready():
                break
            if not self._start_next():
                break
        return 1.0 if self.workers else IDLE_POLL

    def _start_next(self) -> bool:
        vod = vods.claim(vods.download_due(), self.owner, self.settings.lease_seconds)
        if vod is None:
            return False
        if not self.breaker.allow():  # open, or another worker holds the half-open probe
            vods.release(vod.id, self.owner)
            self.breaker_state = self.breaker.current()
            return False
        own = self.cfg.for_channel(vod.channel)  # a [channel] section may choose its quality, codecs, file names
        settings = DownloadSettings.from_config(own, self.settings.data_dir)
        job = DownloadJob(vod, settings, YtDlp.from_settings(own), self.breaker, self.owner, self.workers.stopping)
        self.workers.start(vod.id, job, f"download-{vod.twitch_vod_id}")
        return True

    def _ended(self, _job: DownloadJob, outcome: str) -> None:
        if outcome != "done":
            self.preflight.recheck()

    def status(self) -> str:
        state = self.breaker_state
        if state.blocking(self.clock.time()):
            return f"circuit open until {time.strftime('%H:%M', time.localtime(state.open_until))}"
        if self.preflight.problems and not self.workers:
            return self.preflight.status()
        return self.workers.status(idle="idle: nothing to download")

    def readiness(self) -> list[str]:
        state = self.breaker_state
        problems = list(self.preflight.problems)
        if state.blocking(self.clock.time()):
            problems.append(
                f"circuit open until {time.strftime('%H:%M:%S', time.localtime(state.open_until))} "
                f"after {state.failures} systemic failures"
            )
        return problems

    def shutdown(self) -> None:
        self.workers.stop(STOP_GRACE)
        self.workers.clear()
