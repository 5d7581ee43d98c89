"""The poller's recurring Helix jobs (catalog page, streams poll, reconciliation attempt, token
validation), each due at some time, one Helix request per step.

`step()` runs the job most due, if the rate-limit pacer allows a request now, and returns the
wait until the next one.  A failing job backs off on its own; rejected credentials pause every
job, with the reason for STATUS= and /readyz, and are retried with backoff (no crash loop).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from vodtender.clients.helix import HelixAuthError, HelixClient, HelixError, HelixNotFound
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.clock import Clock
from vodtender.runtime.logs import get_logger

log = get_logger("poller")

TOKEN_VALIDATE_INTERVAL = 3600.0  # Twitch asks apps to validate their token hourly
JOB_BACKOFF_BASE, JOB_BACKOFF_CAP = 2.0, 600.0
AUTH_BACKOFF_BASE, AUTH_BACKOFF_CAP = 5.0, 900.0
NOT_FOUND_RETRY = 60.0  # at least this long before a job that got a 404 tries again


@dataclasses.dataclass
class Job:
    """A recurring piece of work; `run` does one request at most and returns the delay to its next run."""

    name: str
    run: Callable[[], float]
    due: float = 0.0  # clock.monotonic()
    failures: int = 0
    last_error: str | None = None


def token_validation(client: HelixClient, clock: Clock) -> Job:
    """The hourly token check, first due an hour from now."""

    def validate() -> float:
        client.validate_token()
        return TOKEN_VALIDATE_INTERVAL

    return Job("validate", validate, due=clock.monotonic() + TOKEN_VALIDATE_INTERVAL)


class HelixSchedule:
    """Runs `jobs` (ties: list order) and, whenever the client has no token, fetches one first."""

    def __init__(self, client: HelixClient, jobs: list[Job], clock: Clock, backoff_base: float = JOB_BACKOFF_BASE):
        self.client = client
        self.jobs = jobs
        self.clock = clock
        self.backoff_base = backoff_base
        self.token_job = Job("token", self._fetch_token)
        self.auth_problem: str | None = None  # why Helix refused our credentials, while it does
        self.auth_failures = 0
        self.auth_retry_at = 0.0

    def step(self) -> float:
        now = self.clock.monotonic()
        if self.auth_problem is not None and now < self.auth_retry_at:
            return self.auth_retry_at - now
        if self.client.token_needed():
            return self._run(self.token_job) if self.token_job.due <= now else self.token_job.due - now
        job = min(self.jobs, key=lambda j: j.due)
        if job.due > now:
            return job.due - now
        pace = self.client.ready_in()
        if pace > 0:
            return pace
        return self._run(job)

    def run_soon(self, name: str) -> None:
        """Make the job due now (another job learnt it has work)."""
        next(j for j in self.jobs if j.name == name).due = self.clock.monotonic()

    def auth_wait(self) -> float:
        """Seconds until rejected credentials are tried again."""
        return max(0.0, self.auth_retry_at - self.clock.monotonic())

    def failing(self) -> list[Job]:
        """Jobs whose last run failed, in list order (the token fetch last)."""
        return [j for j in [*self.jobs, self.token_job] if j.last_error]

    def _fetch_token(self) -> float:
        self.client.fetch_token()
        return 0.0

    def _run(self, job: Job) -> float:
        now = self.clock.monotonic()
        try:
            delay = job.run()
        except HelixAuthError as exc:
            self._auth_failed(str(exc))
            return self.auth_retry_at - now
        except HelixError as exc:
            job.failures += 1
            job.last_error = str(exc)
            retry_in = max(exc.retry_in, backoff_delay(self.backoff_base, job.failures, JOB_BACKOFF_CAP))
            if isinstance(exc, HelixNotFound):
                retry_in = max(retry_in, NOT_FOUND_RETRY)
            job.due = now + retry_in
            log.warning(
                f"helix {job.name} failed, will retry",
                error=str(exc),
                attempt=job.failures,
                retry_in=f"{retry_in:.1f}s",
            )
            return 0.0
        if self.auth_problem is not None:
            log.info("helix credentials accepted again")
        self.auth_problem, self.auth_failures = None, 0
        if job.failures:
            log.info(f"helix {job.name} works again", after_failures=job.failures)
        job.failures, job.last_error = 0, None
        job.due = self.clock.monotonic() + delay
        return 0.0

    def _auth_failed(self, reason: str) -> None:
        self.auth_failures += 1
        retry_in = backoff_delay(AUTH_BACKOFF_BASE, self.auth_failures, AUTH_BACKOFF_CAP)
        self.auth_problem = reason
        self.auth_retry_at = self.clock.monotonic() + retry_in
        self.client.token = None
        log.error(
            "helix credentials rejected; check TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET",
            error=reason,
            attempt=self.auth_failures,
            retry_in=f"{retry_in:.0f}s",
        )
