"""One download attempt of one claimed VOD, from resolving it to marking it `downloaded`.

resolve (yt-dlp) -> fetch (own HLS fetcher, or yt-dlp for anything else) into
`DATA_DIR/.partial/<id>.part` -> verify (every fragment once, ffprobe duration and packet
counts) -> rename to the final name -> `download_state='downloaded'`.  Only a verified file
ever gets its final name, and only a file with its final name is ever marked downloaded.
Every outcome (done, retry, failed, systemic, cancelled) is written with the lease released.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import peewee
from prometheus_client import Counter, Gauge

from vodtender.clients.hls import FetchAborted, HttpClient, HttpStatusError, MediaPlaylist, parse_media_playlist
from vodtender.clients.ytdlp import Resolved, YtDlp, YtDlpError
from vodtender.pipeline import vods
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.download.classify import classify_fetch_error, classify_resolve_error
from vodtender.pipeline.download.fetcher import HlsFetch, Written
from vodtender.pipeline.download.paths import partial_path, target_path
from vodtender.pipeline.download.verify import VideoPacketCounter, media_problems
from vodtender.pipeline.errors import (
    Cancelled,
    FatalError,
    PipelineError,
    SystemicError,
    TransientError,
)
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.config import Config
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod, utcnow
from vodtender.runtime.speed import SpeedMeter

log = get_logger("downloader")

DOWNLOAD_BYTES = Counter("vodtender_download_bytes_total", "bytes of VOD data written to disk")
DOWNLOAD_SPEED = Gauge("vodtender_download_speed_bytes_per_second", "current download throughput (all VODs)")
DOWNLOAD_FRAGMENTS = Counter("vodtender_download_fragments_total", "HLS fragments written", ["kind"])
DOWNLOAD_ATTEMPTS = Counter("vodtender_download_attempts_total", "download attempts started")
DOWNLOAD_OUTCOMES = Counter("vodtender_download_outcomes_total", "download attempts by how they ended", ["outcome"])
DOWNLOAD_FAILURES = Counter(
    "vodtender_download_failures_total", "failed download attempts by error class", ["error_class"]
)
DOWNLOADS_ACTIVE = Gauge("vodtender_download_active", "downloads in progress in this process")
DOWNLOAD_REMAINING = Gauge("vodtender_download_remaining_bytes", "estimated bytes still to fetch (in progress)")
DOWNLOAD_ETA = Gauge("vodtender_download_eta_seconds", "estimated seconds until the slowest download in progress ends")
DOWNLOAD_FRAGMENT_PROGRESS = Gauge(
    "vodtender_download_fragment_progress", "fragments of the downloads in progress", ["which"]
)

PROGRESS_INTERVAL = 1.0  # seconds between progress writes to the database, lease renewals and cancel checks


@dataclasses.dataclass(frozen=True)
class DownloadSettings:
    data_dir: Path
    name_template: str
    url_template: str
    concurrency: int
    fragment_retries: int
    buffer_bytes: int
    timeout: float
    min_free: int
    max_attempts: int
    backoff_base: float
    lease_seconds: float

    @classmethod
    def from_config(cls, cfg: Config, data_dir: Path) -> DownloadSettings:
        return cls(
            data_dir=data_dir,
            name_template=cfg.download_name_template,
            url_template=cfg.twitch_vod_url_template,
            concurrency=cfg.download_fragment_concurrency,
            fragment_retries=cfg.download_fragment_retries,
            buffer_bytes=cfg.download_buffer,
            timeout=cfg.download_timeout,
            min_free=cfg.download_min_free,
            max_attempts=cfg.download_max_attempts,
            backoff_base=cfg.download_backoff_base,
            lease_seconds=cfg.lease_duration,
        )


class Stop(Exception):
    """The worker has to stop without finishing: shutting down, or the lease is gone."""


class DownloadJob:
    """Download one claimed VOD.  `run()` never raises: every outcome is written to the database."""

    def __init__(
        self,
        vod: Vod,
        settings: DownloadSettings,
        ytdlp: YtDlp,
        breaker: CircuitBreaker,
        owner: str,
        stopping: threading.Event,
    ):
        self.vod = vod
        self.settings = settings
        self.ytdlp = ytdlp
        self.breaker = breaker
        self.owner = owner
        self.stopping = stopping
        self.part = partial_path(settings.data_dir, vod)
        self.bytes_done = 0
        self.total = 0
        self.speed = 0.0
        self._meter = SpeedMeter()
        self._fetch: HlsFetch | None = None
        self._cancel = False  # the operator asked to cancel
        self._lost = False  # our lease was taken (it ran out and someone else claimed the VOD)

    # -- what `vodtender status`, STATUS= and the metrics show ------------------------------------------
    @property
    def remaining(self) -> int:
        return max(0, self.total - self.bytes_done)

    @property
    def eta(self) -> float | None:
        return self.remaining / self.speed if self.speed > 0 and self.remaining else None

    @property
    def fragments(self) -> tuple[int, int]:
        """(written, in the playlist); (0, 0) before the playlist is known or for a yt-dlp download."""
        fetch = self._fetch
        return (fetch.progress.fragments_done, fetch.progress.fragment_count) if fetch is not None else (0, 0)

    def status(self) -> str:
        percent = f" {100 * self.bytes_done / self.total:.0f}%" if self.total else ""
        speed = f" {self.speed / 2**20:.1f} MiB/s" if self.speed else ""
        eta = f" ETA {_short_duration(self.eta)}" if self.eta is not None else ""
        return f"downloading {self.vod.twitch_vod_id}{percent}{speed}{eta}"

    # -- the attempt ---------------------------------------------------------------------------------
    def run(self) -> str:
        vod = self.vod
        DOWNLOADS_ACTIVE.inc()
        try:
            if vod.cancel_requested:
                raise Cancelled()
            DOWNLOAD_ATTEMPTS.inc()
            log.info(
                "download started", vod_id=vod.twitch_vod_id, channel=vod.channel, attempt=vod.download_retries + 1
            )
            final, written = self._with_lease()
            self._finish(final, written)
            outcome = "done"
        except Stop as exc:
            outcome = "stopped"
            self._release_unchanged(str(exc))
        except PipelineError as exc:
            outcome = exc.error_class.value
            self._fail(exc)
        except Exception as exc:  # a bug or an unforeseen error: retried like a transient one, with its trace
            log.error(
                "download failed unexpectedly",
                vod_id=vod.twitch_vod_id,
                error=f"{type(exc).__name__}: {exc}",
                exc_info=True,
            )
            outcome = "transient"
            self._fail(TransientError(f"{type(exc).__name__}: {exc}"))
        finally:
            DOWNLOADS_ACTIVE.dec()
            DOWNLOAD_SPEED.set(0)
        DOWNLOAD_OUTCOMES.labels(outcome).inc()
        return outcome

    def _download(self) -> tuple[Path, list[Written]]:
        resolved = self._resolve()
        client = HttpClient(resolved.headers, self.settings.timeout)  # the headers the site expects, per yt-dlp
        playlist = self._media_playlist(resolved, client)
        video_packets = None
        expected: float | None
        if playlist is not None and playlist.is_plain:
            written, video_packets = self._fetch_hls(playlist, client, resolved)
            self._check_journal(playlist, written)
            downloaded, ext, expected = self.part, "ts", playlist.duration
        else:  # not plain HLS (fMP4, encrypted, progressive, DASH, ...): yt-dlp's own downloader
            written = []
            downloaded = self._fetch_with_ytdlp(resolved)
            ext, expected = downloaded.suffix.lstrip(".") or resolved.ext, resolved.duration
        problems = media_problems(downloaded, expected, video_packets)
        if problems:
            self._discard_partial()
            raise TransientError("integrity check failed: " + "; ".join(problems))
        final = target_path(self.settings.data_dir, self.settings.name_template, self.vod, ext)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(downloaded, final)  # the final name appears only now, for a verified file
        return final, written

    def _media_playlist(self, resolved: Resolved, client: HttpClient) -> MediaPlaylist | None:
        if not resolved.is_hls:
            return None
        try:
            text = client.get(resolved.url).decode("utf-8", errors="replace")
        except (HttpStatusError, OSError) as exc:
            raise classify_resolve_error(_as_download_text(exc), bool(self.ytdlp.twitch_token)) from exc
        return parse_media_playlist(text, resolved.url)

    def _resolve(self) -> Resolved:
        url = self.settings.url_template.format(id=self.vod.twitch_vod_id)
        try:
            return self.ytdlp.resolve(url)
        except YtDlpError as exc:
            raise classify_resolve_error(exc, bool(self.ytdlp.twitch_token)) from exc

    def _fetch_hls(
        self, playlist: MediaPlaylist, client: HttpClient, resolved: Resolved
    ) -> tuple[list[Written], int | None]:
        """Fetch into the part file; video packets are counted on the way (the integrity check needs them)."""
        counter = VideoPacketCounter()
        fetch = HlsFetch(
            playlist,
            self.part,
            client,
            concurrency=self.settings.concurrency,
            fragment_retries=self.settings.fragment_retries,
            min_free=self.settings.min_free,
            buffer_bytes=self.settings.buffer_bytes,
            bitrate_kbps=resolved.bitrate_kbps,
            on_written=self._on_written,
            sink=counter.feed,
        )
        self._fetch = fetch
        try:
            written = fetch.run(self._tick)
        except FetchAborted:
            raise self._why_stopped() from None
        except PipelineError:
            raise
        except Exception as exc:
            raise classify_fetch_error(exc) from exc
        muted = [w.index for w in written if w.muted]
        if muted:
            log.info(
                "muted segments fetched in their muted form",
                vod_id=self.vod.twitch_vod_id,
                segments=",".join(map(str, muted)),
            )
        return written, counter.packets

    def _on_written(self, entry: Written) -> None:
        DOWNLOAD_BYTES.inc(entry.size)
        DOWNLOAD_FRAGMENTS.labels("muted" if entry.muted else "normal").inc()

    def _check_journal(self, playlist: MediaPlaylist, written: list[Written]) -> None:
        """Every segment of the playlist exactly once, in order, and nothing else in the file."""
        indexes = [w.index for w in written]
        size = self.part.stat().st_size
        if indexes != list(range(len(playlist.segments))) or size != sum(w.size for w in written):
            self._discard_partial()
            raise TransientError(
                f"fragments missing or repeated ({len(indexes)} of {len(playlist.segments)}, "
                f"{size} bytes on disk): starting over"
            )

    def _fetch_with_ytdlp(self, resolved: Resolved) -> Path:
        """Not plain HLS: yt-dlp downloads it (no resume), into the partial folder."""
        needed = int((resolved.bitrate_kbps or 0) * 1000 / 8 * (resolved.duration or 0)) * 2  # + remux copy
        _ensure_space(self.part.parent, needed + self.settings.min_free)

        def hook(status: Mapping[str, Any]) -> None:
            self.bytes_done = int(status.get("downloaded_bytes") or 0)
            self.total = int(status.get("total_bytes") or status.get("total_bytes_estimate") or 0)
            if not self._tick():
                raise FetchAborted()

        try:
            downloaded = self.ytdlp.download(resolved, self.part, hook)
        except FetchAborted:
            raise self._why_stopped() from None
        except YtDlpError as exc:
            if isinstance(exc.cause, FetchAborted):
                raise self._why_stopped() from None
            raise classify_fetch_error(exc) from exc
        except OSError as exc:
            raise classify_fetch_error(exc) from exc
        return downloaded

    # -- progress, lease, cancel ---------------------------------------------------------------------
    def _tick(self) -> bool:
        """Called often by the fetch: False means stop now (cancel, lease lost, shutting down)."""
        fetch = self._fetch
        if fetch is not None:
            self.bytes_done = fetch.progress.bytes_done
            self.total = fetch.progress.total_estimate
        return not (self.stopping.is_set() or self._cancel or self._lost)

    def _with_lease(self) -> tuple[Path, list[Written]]:
        """Run the download while a keeper thread renews the lease, writes progress and reads the
        cancel flag once a second, whatever phase the download is in (a slow resolve included)."""
        if not self._report(starting=True):
            raise self._why_stopped()
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep_lease, args=(done,), daemon=True, name=f"lease-{self.vod.twitch_vod_id}"
        )
        keeper.start()
        try:
            return self._download()
        finally:
            done.set()
            keeper.join()

    def _keep_lease(self, done: threading.Event) -> None:
        try:
            while not done.wait(PROGRESS_INTERVAL) and not self._lost:
                try:
                    self._report()
                except peewee.PeeweeException as exc:  # the database is briefly unavailable: try next second
                    log.warning("progress not written", vod_id=self.vod.twitch_vod_id, error=str(exc))
        finally:
            db = Vod._meta.database
            if not db.is_closed():
                db.close()  # this thread's connection

    def _report(self, starting: bool = False) -> bool:
        self._tick()
        self.speed = self._meter.update(self.bytes_done)
        DOWNLOAD_SPEED.set(self.speed)
        if not vods.renew_download(
            self.vod.id,
            self.owner,
            self.settings.lease_seconds,
            done=self.bytes_done,
            total=self.total,
            speed=self.speed,
            starting=starting,
        ):
            self._lost = True
            return False
        if vods.cancel_requested(self.vod.id):
            self._cancel = True
            return False
        return True

    def _why_stopped(self) -> Exception:
        if self._cancel:
            return Cancelled()
        if self._lost:
            return Stop("lease lost")
        return Stop("shutting down")

    # -- outcomes ----------------------------------------------------------------------------------------
    def _finish(self, final: Path, written: list[Written]) -> None:
        size = final.stat().st_size
        muted = [w for w in written if w.muted]
        muted_segments = None
        if muted and not self.vod.muted_segments and self._fetch is not None:
            segments = self._fetch.playlist.segments
            starts = _segment_starts(self._fetch.playlist)
            muted_segments = json.dumps(
                [{"offset": round(starts[w.index], 3), "duration": segments[w.index].duration} for w in muted]
            )
        note = f"{size} bytes at {final}" + (f"; {len(muted)} muted segment(s)" if muted else "")
        if not vods.mark_downloaded(self.vod.id, self.owner, str(final.resolve()), size, muted_segments, note):
            log.warning(
                "download finished but the lease was taken meanwhile; not marking it", vod_id=self.vod.twitch_vod_id
            )
            return
        self.part.with_name(self.part.name + ".frags").unlink(missing_ok=True)
        self.breaker.record_success()
        log.info("download complete", vod_id=self.vod.twitch_vod_id, path=str(final), bytes=size, muted=len(muted))

    def _fail(self, exc: PipelineError) -> None:
        vod = self.vod
        DOWNLOAD_FAILURES.labels(exc.error_class.value).inc()
        message = str(exc)
        kind = "error"
        if isinstance(exc, Cancelled):
            kind = "cancelled"
            self._discard_partial()
            vods.cancel_download(vod.id, self.owner)
        elif isinstance(exc, FatalError):
            self._discard_partial()
            vods.fail_download(vod.id, self.owner, exc.error_class, message, message)
        elif isinstance(exc, SystemicError):  # not this VOD's fault: the breaker decides when to try again
            vods.download_waits_for_breaker(vod.id, self.owner, message)
        else:
            retries = vod.download_retries + 1
            if retries >= self.settings.max_attempts:
                vods.fail_download(
                    vod.id,
                    self.owner,
                    exc.error_class,
                    f"gave up after {retries} attempts: {message}",
                    message,
                    retries,
                )
            else:
                delay = backoff_delay(self.settings.backoff_base, retries)
                kind = "retry"
                message = f"{message} (retry {retries} in {_short_duration(delay)})"
                vods.retry_download_later(
                    vod.id, self.owner, retries, utcnow() + dt.timedelta(seconds=delay), exc.error_class, message
                )
        if isinstance(exc, SystemicError):
            self.breaker.record_failure(message)
        level = log.warning if kind in ("retry", "cancelled") else log.error
        level(
            f"download {kind if kind != 'error' else 'failed'}",
            vod_id=vod.twitch_vod_id,
            error_class=exc.error_class.value,
            error=message,
        )

    def _release_unchanged(self, why: str) -> None:
        """Stopping mid-way (shutdown): the partial file and its journal stay for the next attempt."""
        log.info("download paused", vod_id=self.vod.twitch_vod_id, reason=why, bytes=self.bytes_done)
        if why != "lease lost":
            vods.give_back_download(self.vod.id, self.owner)

    def _discard_partial(self) -> None:
        for path in (self.part, self.part.with_name(self.part.name + ".frags")):
            path.unlink(missing_ok=True)
        for leftover in self.part.parent.glob(self.part.stem + ".*"):  # yt-dlp's own pieces
            leftover.unlink(missing_ok=True)


def publish_progress(jobs: list[DownloadJob]) -> None:
    """The progress gauges, summed over the downloads in progress."""
    DOWNLOAD_REMAINING.set(sum(job.remaining for job in jobs))
    DOWNLOAD_ETA.set(max((job.eta or 0 for job in jobs), default=0))
    DOWNLOAD_FRAGMENT_PROGRESS.labels("written").set(sum(job.fragments[0] for job in jobs))
    DOWNLOAD_FRAGMENT_PROGRESS.labels("total").set(sum(job.fragments[1] for job in jobs))


def _ensure_space(folder: Path, needed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise SystemicError(f"disk full: {free // 2**20} MiB free in {folder}, need {needed // 2**20} MiB")


def _segment_starts(playlist: MediaPlaylist) -> list[float]:
    starts, at = [], 0.0
    for segment in playlist.segments:
        starts.append(at)
        at += segment.duration
    return starts


def _as_download_text(exc: HttpStatusError | OSError) -> Exception:
    """The playlist fetch's errors in yt-dlp's words, so one classifier handles both."""
    if isinstance(exc, HttpStatusError):
        return Exception(f"HTTP Error {exc.status}: {exc}")
    return Exception(f"{type(exc).__name__}: {exc} {os.strerror(exc.errno) if exc.errno else ''}")


def _short_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"
