"""The recorder: records the live streams of the channels in LIVE_RECORD as they happen.

`run_once` only supervises: it reaps finished workers, publishes their progress as metrics and
starts new ones while fewer than LIVE_RECORD_MAX run and ffmpeg, ffprobe and DATA_DIR are usable (the
downloader's check, `pipeline/download/preflight.py`): each claims one live stream the poller has
seen (`pipeline/record/rows.py`) and records it in its own thread (`pipeline/record/job.py`).
Every KEEP_INTERVAL it decides what becomes of this host's finished recordings once their VOD has
settled (`pipeline/record/keep.py`, LIVE_RECORD_KEEP): kept, removed, or the stream's archive.
With LIVE_RECORD empty it does nothing and says so (ready all the same: nothing is missing).
"""

from __future__ import annotations

from vodtender.clients.ytdlp import YtDlp
from vodtender.daemons.base import PipelineDaemon
from vodtender.daemons.workers import Workers
from vodtender.pipeline.download.fetcher import share_malloc_arenas
from vodtender.pipeline.download.preflight import Preflight
from vodtender.pipeline.record import rows
from vodtender.pipeline.record.job import RecordJob, RecordSettings
from vodtender.pipeline.record.keep import Keeper
from vodtender.pipeline.record.metrics import RecordingMetrics, export_recording_metrics
from vodtender.runtime.daemon import Runtime
from vodtender.runtime.identity import host_name

IDLE_POLL = 2.0  # seconds between looks for a live stream when there is room for one more
STOP_GRACE = 10.0  # seconds shutdown waits for workers to write their last segment and release
KEEP_INTERVAL = 5.0  # seconds between looks at finished recordings whose VOD may have settled


class Recorder(PipelineDaemon):
    name = "recorder"

    @classmethod
    def export_metrics(cls) -> None:
        super().export_metrics()
        export_recording_metrics()

    def __init__(self, runtime: Runtime):
        super().__init__(runtime)
        self.owner = runtime.instance
        self.metrics = RecordingMetrics()
        self.workers: Workers[RecordJob] = Workers(runtime.wake, lambda _job, outcome: self.metrics.ended(outcome))
        self.disabled = self.cfg.disabled_reason(self.name)
        self.channels = self.cfg.live_record.channels()
        if self.disabled:
            self.log.info("recorder idle", reason=str(self.disabled))
            return
        share_malloc_arenas()
        self.keeper = Keeper(
            self.cfg.live_record_keep, None if self.cfg.data_dir_shared else host_name(), self.metrics.settled
        )
        self.next_keep = 0.0
        self.settings = RecordSettings(
            data_dir=self.cfg.data_dir.resolve(),
            live_url_template=self.cfg.twitch_live_url_template,
            vod_url_template=self.cfg.twitch_vod_url_template,
            concurrency=self.cfg.download_fragment_concurrency,
            fragment_retries=self.cfg.download_fragment_retries,
            timeout=self.cfg.download_timeout,
            lease_seconds=self.cfg.lease_duration,
            min_free=self.cfg.download_min_free,
            poll_seconds=self.cfg.live_record_poll,
            end_grace=self.cfg.live_record_end_grace,
        )
        self.ytdlp = YtDlp.from_settings(self.cfg)
        self.preflight = Preflight(self.settings.data_dir, self.settings.min_free, self.log, self.clock.monotonic)
        if self.preflight.ready():
            self.log.info(
                "recorder working",
                channels=str(self.cfg.live_record),
                max_concurrent=self.cfg.live_record_max,
                keep=self.cfg.live_record_keep,
                data_dir=str(self.settings.data_dir),
                tools=self.preflight.tools.versions(),
            )

    def run_once(self) -> float:
        if self.disabled:
            return 3600.0
        self._publish()
        if self.clock.monotonic() >= self.next_keep:
            self.keeper.step()
            self.next_keep = self.clock.monotonic() + KEEP_INTERVAL
        for rec_id in self.workers.reap():
            self.metrics.forget(rec_id)
        while self.workers.has_room(self.cfg.live_record_max) and self.preflight.ready():
            if not self._start_next():
                break
        return 1.0 if self.workers else IDLE_POLL

    def _publish(self) -> None:
        jobs = self.workers.jobs
        self.metrics.observe(rows.by_ids(self.workers.ids))
        self.metrics.running(len(jobs), max((job.lag_seconds for job in jobs), default=0.0))
        self.metrics.wanted(rows.wanted_live_channels(self.channels))

    def _start_next(self) -> bool:
        rec = rows.claim_recording(self.owner, self.settings.lease_seconds, self.channels)
        if rec is None:
            return False
        self.metrics.claimed(rec)
        job = RecordJob(rec, self.settings, self.ytdlp, self.owner, self.workers.stopping)
        self.workers.start(rec.id, job, f"record-{rec.stream_id}")
        return True

    def status(self) -> str:
        if self.disabled:
            return f"idle: {self.disabled}"
        if self.preflight.problems and not self.workers:
            return self.preflight.status()
        return self.workers.status(idle="idle: no live stream to record")

    def readiness(self) -> list[str]:
        return [] if self.disabled else list(self.preflight.problems)

    def shutdown(self) -> None:
        self.workers.stop(STOP_GRACE)  # each job writes what it has, releases its recording and keeps the part
        if len(self.workers):
            self.metrics.observe(rows.by_ids(self.workers.ids))
        self.workers.clear()
