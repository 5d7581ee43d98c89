"""The poller: Twitch Helix catalog backfill, live detection, placeholder reconciliation.

Its work is a few recurring jobs (catalog page, streams poll, reconciliation attempt, token
validation), each due at some time.  `run_once` runs the one most due, if the rate-limit
pacer allows a request now, and returns the wait until the next one: one Helix request per
step, so the loop stays short (watchdog) and SIGTERM is honoured between any two requests.
A failing job backs off on its own; rejected credentials pause every job, with the reason in
STATUS= and /readyz, and are retried with backoff (no crash loop).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable

from vodtender.clients.helix import HelixAuthError, HelixClient, HelixError, HelixNotFound
from vodtender.daemons.requirements import channels_problems, helix_problems
from vodtender.pipeline.catalog.channels import ChannelDirectory
from vodtender.pipeline.catalog.sync import CatalogSync
from vodtender.pipeline.live.reconcile import Reconciler
from vodtender.pipeline.live.watcher import LiveWatcher, live_stream_ids
from vodtender.pipeline.shared_limits import helix_bucket
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.config import Config, Problem
from vodtender.runtime.daemon import Daemon

TOKEN_VALIDATE_INTERVAL = 3600.0  # Twitch asks apps to validate their token hourly
JOB_BACKOFF_BASE, JOB_BACKOFF_CAP = 2.0, 600.0
AUTH_BACKOFF_BASE, AUTH_BACKOFF_CAP = 5.0, 900.0
RECONCILE_IDLE_CHECK = 30.0  # how often the database is checked for ended placeholders
UNRESOLVED_RETRY = 1.0  # live polling waits this long for the first channel lookup
UNKNOWN_CHANNEL_RETRY = 600.0  # with no channel known on Twitch, look them up again this soon


@dataclasses.dataclass
class Job:
    """A recurring piece of work; `run` does one request at most and returns the delay to its next run."""

    name: str
    run: Callable[[], float]
    due: float = 0.0  # monotonic
    failures: int = 0
    last_error: str | None = None


class Poller(Daemon):
    name = "poller"
    sections = ("general", "twitch", "poller")

    @classmethod
    def config_problems(cls, cfg: Config) -> list[Problem]:
        return channels_problems(cfg) + helix_problems(cfg)

    def setup(self) -> None:
        cfg = self.cfg
        self.client = HelixClient(cfg.twitch_client_id, cfg.twitch_client_secret, cfg.twitch_helix_url,
                                  cfg.twitch_auth_url, shared=helix_bucket())
        self.directory = ChannelDirectory(cfg.twitch_channel)
        self.catalog = CatalogSync(self.client, self.directory, cfg.vod_catalog_types, cfg.vod_catalog_max,
                                   cfg.vod_catalog_max_age_days, live_stream_ids)
        self.watcher = LiveWatcher(self.client, self.directory)
        self.reconciler = Reconciler(self.client, self.directory, cfg.vod_reconcile_delay, cfg.vod_reconcile_window,
                                     cfg.vod_reconcile_match_window)
        self.jobs = [Job("catalog", self._catalog_step), Job("validate", self._validate, due=self._after(
            TOKEN_VALIDATE_INTERVAL)), Job("reconcile", self._reconcile_step)]
        if cfg.chat_auto_start:
            self.jobs.insert(1, Job("live", self._live_step))
        self.auth_problem: str | None = None
        self.auth_failures = 0
        self.auth_retry_at = 0.0
        self.token_job = Job("token", self._fetch_token)

    # -- the loop --------------------------------------------------------------------------------
    def run_once(self) -> float:
        now = time.monotonic()
        if self.auth_problem is not None and now < self.auth_retry_at:
            return self.auth_retry_at - now
        if self.client.token_needed():
            return self._run(self.token_job) if self.token_job.due <= now else self.token_job.due - now
        job = min(self.jobs, key=lambda j: j.due)  # ties: list order (catalog first: it resolves channels)
        if job.due > now:
            return job.due - now
        pace = self.client.ready_in()
        if pace > 0:
            return pace
        return self._run(job)

    def _run(self, job: Job) -> float:
        now = time.monotonic()
        try:
            delay = job.run()
        except HelixAuthError as exc:
            self._auth_failed(str(exc))
            return self.auth_retry_at - now
        except HelixError as exc:
            job.failures += 1
            job.last_error = str(exc)
            retry_in = max(exc.retry_in, backoff_delay(JOB_BACKOFF_BASE, job.failures, JOB_BACKOFF_CAP))
            if isinstance(exc, HelixNotFound):
                retry_in = max(retry_in, 60.0)
            job.due = now + retry_in
            self.log.warning(f"helix {job.name} failed, will retry", error=str(exc), attempt=job.failures,
                             retry_in=f"{retry_in:.1f}s")
            return 0.0
        if self.auth_problem is not None:
            self.log.info("helix credentials accepted again")
        self.auth_problem, self.auth_failures = None, 0
        if job.failures:
            self.log.info(f"helix {job.name} works again", after_failures=job.failures)
        job.failures, job.last_error = 0, None
        job.due = time.monotonic() + delay
        return 0.0

    def _auth_failed(self, reason: str) -> None:
        self.auth_failures += 1
        retry_in = backoff_delay(AUTH_BACKOFF_BASE, self.auth_failures, AUTH_BACKOFF_CAP)
        self.auth_problem = reason
        self.auth_retry_at = time.monotonic() + retry_in
        self.client.token = None
        self.log.error("helix credentials rejected; check TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET", error=reason,
                       attempt=self.auth_failures, retry_in=f"{retry_in:.0f}s")

    @staticmethod
    def _after(seconds: float) -> float:
        return time.monotonic() + seconds

    # -- jobs ------------------------------------------------------------------------------------
    def _fetch_token(self) -> float:
        self.client.fetch_token()
        return 0.0

    def _validate(self) -> float:
        self.client.validate_token()
        return TOKEN_VALIDATE_INTERVAL

    def _catalog_step(self) -> float:
        if not self.catalog.round_active:
            self.directory.resolve(self.client)  # once per round: notices renames
            self.catalog.start_round()
            return 0.0 if self.catalog.round_active else min(UNKNOWN_CHANNEL_RETRY,
                                                             self.cfg.vod_catalog_backfill_interval)
        finished = self.catalog.step()
        return self.cfg.vod_catalog_backfill_interval if finished else 0.0

    def _live_step(self) -> float:
        if not self.directory.known():  # ids kept from an earlier run count: no users lookup needed first
            return UNRESOLVED_RETRY
        self.watcher.poll()
        self._job("reconcile").due = time.monotonic()  # a stream may just have ended
        return self.cfg.chat_auto_poll_interval

    def _reconcile_step(self) -> float:
        self.reconciler.step()
        wait = self.reconciler.next_due()
        return RECONCILE_IDLE_CHECK if wait is None else min(wait, RECONCILE_IDLE_CHECK)

    def _job(self, name: str) -> Job:
        return next(j for j in self.jobs if j.name == name)

    def shutdown(self) -> None:
        self.client.session.close()  # every step is one complete transaction: nothing to checkpoint

    # -- reporting -------------------------------------------------------------------------------
    def status(self) -> str:
        if self.auth_problem is not None:
            wait = max(0.0, self.auth_retry_at - time.monotonic())
            return f"Helix credentials rejected ({self.auth_problem}); next try in {wait:.0f}s"
        parts = []
        channel = self.catalog.current() if self.catalog.round_active else None
        synced = self.catalog.last_synced()
        if channel is not None:
            parts.append(f"backfilling {channel} ({self.catalog.listed} VODs listed)")
        if synced is not None:
            parts.append("catalog synced " + dt.datetime.fromtimestamp(synced, dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
        elif channel is None:
            parts.append("catalog not synced yet")
        if self.cfg.chat_auto_start:
            live = sorted(self.watcher.live)
            parts.append("live: " + ",".join(live) if live else "no channel live")
        failing = [j for j in [*self.jobs, self.token_job] if j.last_error]
        if failing:
            parts.append(f"Helix failing ({failing[0].name}: {failing[0].last_error})")
        return "; ".join(parts)

    def readiness(self) -> list[str]:
        if self.auth_problem is not None:
            return [f"Helix credentials rejected: {self.auth_problem}"]
        return [f"Helix {j.name} failing: {j.last_error}" for j in [*self.jobs, self.token_job]
                if j.last_error and j.failures >= 3]
