"""The downloader: claims VODs, downloads them (yt-dlp / own HLS fetcher), checks the result.

`run_once` only supervises: it reaps finished workers, starts new ones while fewer than
MAX_CONCURRENT_DOWNLOADS run and the circuit breaker allows, and (every minute) re-queues
downloaded VODs whose file has gone.  Each download runs in its own thread (`pipeline/download.py`).
"""

from __future__ import annotations

import ctypes
import threading
import time

from vodtender.clients.ytdlp import YtDlp
from vodtender.ops import control as download_control
from vodtender.ops.status import data_dir
from vodtender.pipeline import vods
from vodtender.pipeline.breaker import BreakerState, CircuitBreaker
from vodtender.pipeline.download.job import DownloadJob, DownloadSettings, publish_progress
from vodtender.runtime.config import Config, Problem
from vodtender.runtime.daemon import Daemon
from vodtender.runtime.models import Vod

IDLE_POLL = 2.0  # seconds between looks at the queue when there is room for work
MISSING_FILE_SWEEP = 60.0  # seconds between checks for downloaded files that have disappeared
STOP_GRACE = 10.0  # seconds shutdown waits for workers to checkpoint
M_ARENA_MAX = -8  # mallopt(3)


def share_malloc_arenas() -> None:
    """Fragment buffers are a few MiB each, allocated by one worker thread and freed by another.
    With glibc's default of one arena per thread, freed buffers stay cached in eight arenas that
    never shrink (peak RSS +40%); two shared arenas keep memory near what is really in use."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune

class Downloader(Daemon):
    name = "downloader"
    sections = ("general", "twitch", "downloader")

    @classmethod
    def config_problems(cls, cfg: Config) -> list[Problem]:
        problems = []
        if "{id}" not in (cfg.twitch_vod_url_template or ""):
            problems.append(Problem("TWITCH_VOD_URL_TEMPLATE must contain {id}", "TWITCH_VOD_URL_TEMPLATE"))
        for env, value in (("MAX_CONCURRENT_DOWNLOADS", cfg.max_concurrent_downloads),
                           ("DOWNLOAD_FRAGMENT_CONCURRENCY", cfg.download_fragment_concurrency),
                           ("DOWNLOAD_MAX_ATTEMPTS", cfg.download_max_attempts)):
            if value < 1:
                problems.append(Problem(f"{env} must be at least 1", env))
        return problems

    def setup(self) -> None:
        share_malloc_arenas()
        self.owner = vods.owner_name()
        self.settings = DownloadSettings.from_config(self.cfg, data_dir(self.cfg).resolve())
        self.breaker = CircuitBreaker(self.cfg.circuit_failure_threshold, self.cfg.circuit_open_cooldown)
        self.ytdlp = YtDlp(self.cfg.download_quality, self.cfg.twitch_oauth_token,
                           self.cfg.download_fragment_retries, self.cfg.download_timeout)
        self.stopping = threading.Event()
        self.workers: dict[int, tuple[DownloadJob, threading.Thread]] = {}
        self.breaker_state: BreakerState = self.breaker.current()
        self._last_sweep = 0.0
        self.log.info("downloader working", data_dir=str(self.settings.data_dir),
                      max_concurrent=self.cfg.max_concurrent_downloads,
                      fragment_concurrency=self.settings.concurrency)

    def run_once(self) -> float:
        for vod_id, (_, thread) in list(self.workers.items()):
            if not thread.is_alive():
                del self.workers[vod_id]
        publish_progress([job for job, _ in self.workers.values()])
        self.breaker_state = self.breaker.current()
        if time.monotonic() - self._last_sweep >= MISSING_FILE_SWEEP:
            self._last_sweep = time.monotonic()
            self.requeue_missing_files()
        while len(self.workers) < self.cfg.max_concurrent_downloads and not self.stopping.is_set():
            if self.breaker_state.is_open and time.time() < self.breaker_state.open_until:
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
        job = DownloadJob(vod, self.settings, self.ytdlp, self.breaker, self.owner, self.stopping)
        thread = threading.Thread(target=self._work, args=(job,), name=f"download-{vod.twitch_vod_id}",
                                  daemon=True)
        self.workers[vod.id] = (job, thread)
        thread.start()
        return True

    def _work(self, job: DownloadJob) -> None:
        try:
            job.run()
        finally:
            db = Vod._meta.database
            if not db.is_closed():
                db.close()  # this thread's connection
            self.runtime.wake()

    def requeue_missing_files(self) -> None:
        for vod in download_control.requeue_missing_files(self.cfg.data_dir_shared):
            self.log.warning("downloaded file is gone, downloading again", vod_id=vod.twitch_vod_id,
                             path=vod.downloaded_path)

    def status(self) -> str:
        state = self.breaker_state
        if state.is_open and time.time() < state.open_until:
            return f"circuit open until {time.strftime('%H:%M', time.localtime(state.open_until))}"
        if not self.workers:
            return "idle: nothing to download"
        return "; ".join(job.status() for job, _ in self.workers.values())

    def readiness(self) -> list[str]:
        state = self.breaker_state
        if state.is_open and time.time() < state.open_until:
            return [f"circuit open until {time.strftime('%H:%M:%S', time.localtime(state.open_until))} "
                    f"after {state.failures} systemic failures"]
        return []

    def shutdown(self) -> None:
        self.stopping.set()
        deadline = time.monotonic() + STOP_GRACE
        for _, thread in list(self.workers.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        self.workers.clear()
