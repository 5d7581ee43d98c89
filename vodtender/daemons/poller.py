"""The poller: Twitch Helix catalog backfill, live detection, placeholder reconciliation.

Its work is a few recurring jobs (catalog page, streams poll, reconciliation attempt, token
validation), each due at some time (`pipeline/catalog/helix_schedule.py`).  `run_once` runs the
one most due, if the rate-limit pacer allows a request now, and returns the wait until the next
one: one Helix request per step, so the loop stays short (watchdog) and SIGTERM is honoured
between any two requests.  A failing job backs off on its own; rejected credentials pause every
job, with the reason in STATUS= and /readyz, and are retried with backoff (no crash loop).
"""

from __future__ import annotations

from vodtender.clients.helix import HelixClient
from vodtender.daemons.base import PipelineDaemon
from vodtender.pipeline.catalog.channels import ChannelDirectory
from vodtender.pipeline.catalog.helix_schedule import HelixSchedule, Job, token_validation
from vodtender.pipeline.catalog.sync import CatalogLimits, CatalogSync
from vodtender.pipeline.live.reconcile import Reconciler
from vodtender.pipeline.live.watcher import LiveWatcher, live_stream_ids
from vodtender.pipeline.shared_limits import helix_bucket
from vodtender.runtime.daemon import Runtime

UNRESOLVED_RETRY = 1.0  # live polling waits this long for the first channel lookup


class Poller(PipelineDaemon):
    name = "poller"

    def __init__(self, runtime: Runtime):
        super().__init__(runtime)
        cfg = self.cfg
        # The runtime idles the poller instead when either is missing (requirements: needs_helix_app).
        assert cfg.twitch_client_id is not None and cfg.twitch_client_secret is not None
        self.client = HelixClient(
            cfg.twitch_client_id,
            cfg.twitch_client_secret,
            cfg.twitch_helix_url,
            cfg.twitch_auth_url,
            shared=helix_bucket(),
        )
        self.directory = ChannelDirectory(cfg.twitch_channel)
        self.catalog = CatalogSync(
            self.client,
            self.directory,
            lambda channel: CatalogLimits.of(self.cfg.for_channel(channel)),
            live_stream_ids,
        )
        self.watcher = LiveWatcher(self.client, self.directory)
        self.reconciler = Reconciler(
            self.client,
            self.directory,
            cfg.vod_reconcile_delay,
            cfg.vod_reconcile_window,
            cfg.vod_reconcile_match_window,
        )
        # catalog first: on a tie it goes first, and it resolves the channels
        jobs = [
            Job("catalog", lambda: self.catalog.advance(cfg.vod_catalog_backfill_interval)),
            token_validation(self.client, self.clock),
            Job("reconcile", self.reconciler.advance),
        ]
        if cfg.chat_auto_start:
            jobs.insert(1, Job("live", self._live_step))
        self.schedule = HelixSchedule(self.client, jobs, self.clock, cfg.helix_backoff_base)

    def run_once(self) -> float:
        return self.schedule.step()

    def _live_step(self) -> float:
        if not self.directory.known():  # ids kept from an earlier run count: no users lookup needed first
            return UNRESOLVED_RETRY
        self.watcher.poll()
        self.schedule.run_soon("reconcile")  # a stream may just have ended
        return self.cfg.chat_auto_poll_interval

    def shutdown(self) -> None:
        self.client.session.close()  # every step is one complete transaction: nothing to checkpoint

    # -- reporting -------------------------------------------------------------------------------
    def status(self) -> str:
        schedule = self.schedule
        if schedule.auth_problem is not None:
            return f"Helix credentials rejected ({schedule.auth_problem}); next try in {schedule.auth_wait():.0f}s"
        parts = self.catalog.describe()
        if self.cfg.chat_auto_start:
            live = sorted(self.watcher.live)
            parts.append("live: " + ",".join(live) if live else "no channel live")
        failing = schedule.failing()
        if failing:
            parts.append(f"Helix failing ({failing[0].name}: {failing[0].last_error})")
        return "; ".join(parts)

    def readiness(self) -> list[str]:
        if self.schedule.auth_problem is not None:
            return [f"Helix credentials rejected: {self.schedule.auth_problem}"]
        return [f"Helix {j.name} failing: {j.last_error}" for j in self.schedule.failing() if j.failures >= 3]
