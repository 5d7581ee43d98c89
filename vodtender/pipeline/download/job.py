"""One download attempt of one claimed VOD, from resolving it to marking it `downloaded`.

resolve (yt-dlp: the VOD's renditions, the best in an acceptable codec) -> fetch (own HLS
fetcher for every HLS VOD, MPEG-TS and fMP4; yt-dlp only for a single progressive file) into
`DATA_DIR/.partial/<id>.part` -> join the runs if the stream restarted -> verify (every
fragment once, ffprobe duration and packet counts, lost segments as gaps) -> rename to the final
name -> `download_state='downloaded'`.  Only a verified file ever gets its final name, and only a
file with its final name is ever marked downloaded.  A VOD Twitch is still recording is not
downloaded yet: it waits.  Every outcome (done, waiting, retry, failed, systemic, cancelled) is
written with the lease released.
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

from prometheus_client import Counter, Gauge

from vodtender.clients.hls import (
    FetchAborted,
    HttpClient,
    HttpStatusError,
    MediaPlaylist,
    RefusedAnswer,
    get_media_playlist,
)
from vodtender.clients.ytdlp import Resolved, YtDlp, YtDlpError
from vodtender.pipeline import vods
from vodtender.pipeline.breaker import CircuitBreaker
from vodtender.pipeline.download.assemble import Layout, Stopped, join_runs, layout
from vodtender.pipeline.download.classify import classify_fetch_error, classify_playlist_error, classify_resolve_error
from vodtender.pipeline.download.fetcher import HlsFetch, TooMuchLost, Written
from vodtender.pipeline.download.gaps import count_completed, describe_gap, gaps_to_json
from vodtender.pipeline.download.paths import partial_path, target_path, with_id
from vodtender.pipeline.download.verify import Fmp4SampleCounter, VideoPacketCounter, media_problems
from vodtender.pipeline.errors import (
    Cancelled,
    FatalError,
    PipelineError,
    SystemicError,
    TransientError,
)
from vodtender.pipeline.lease_keeper import lease_kept
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.config import Config
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod, utcnow
from vodtender.runtime.options import GapLimit
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

SYSTEMIC_RETRY_CAP = 3600.0  # a VOD that failed systemically is tried again within the hour, however often


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
    max_gap: GapLimit
    recording_recheck: float

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
            max_gap=cfg.download_max_gap,
            recording_recheck=cfg.download_recording_recheck,
        )


class Stop(Exception):
    """The worker has to stop without finishing: shutting down, or the lease is gone."""


class StillRecording(Exception):
    """Twitch is still recording the VOD: downloading it now would give only part of it."""


@dataclasses.dataclass(frozen=True)
class Downloaded:
    """A verified file, still under its partial name (`ext`: its container), and what the download
    found on the way."""

    path: Path
    ext: str
    resolved: Resolved
    written: list[Written] = dataclasses.field(default_factory=list)
    plan: Layout | None = None  # HLS only


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
    @property
    def attempt(self) -> int:
        """This attempt's number: one more than the attempts the VOD's row has counted (`download_retries`)."""
        return self.vod.download_retries + 1

    def run(self) -> str:
        vod = self.vod
        DOWNLOADS_ACTIVE.inc()
        try:
            if vod.cancel_requested:
                raise Cancelled()
            DOWNLOAD_ATTEMPTS.inc()
            log.info("download started", vod_id=vod.twitch_vod_id, channel=vod.channel, attempt=self.attempt)
            self._finish(self._with_lease())
            outcome = "done"
        except StillRecording as exc:
            outcome = "waiting"
            self._wait_for_recording_end(str(exc))
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

    def _download(self) -> Downloaded:
        if vods.stream_still_live(self.vod.stream_id):
            raise StillRecording("the stream is still live (poller)")
        resolved = self._resolve()
        if resolved.is_live:
            raise StillRecording("Twitch still shows the VOD as being recorded")
        if resolved.is_hls:
            return self._download_hls(resolved)
        if resolved.is_plain_file:
            return self._download_plain_file(resolved)
        protocol = resolved.protocol or "unknown"
        raise FatalError(f"the chosen format's protocol is {protocol}: only HLS and single files are downloaded")

    def _download_hls(self, resolved: Resolved) -> Downloaded:
        client = HttpClient(resolved.headers, self.settings.timeout)  # the headers the site expects, per yt-dlp
        playlist = self._media_playlist(resolved, client)
        fetch, video_packets = self._fetch_hls(playlist, client, resolved)
        self._check_journal(fetch)
        plan = layout(fetch.pieces, fetch.written, playlist.container)
        downloaded = self.part
        if plan.joined:  # the stream restarted mid-way: one file from its runs
            downloaded = self.part.with_name(self.part.name + ".joined.mp4")
            _ensure_space(self.part.parent, self.part.stat().st_size + self.settings.min_free)
            try:
                join_runs(self.part, plan, downloaded, self._tick)
            except Stopped:
                raise self._why_stopped() from None
            video_packets = None
        self._verify(downloaded, plan.expected_duration, video_packets, plan.content_seconds)
        return Downloaded(downloaded, plan.ext, resolved, fetch.written, plan)

    def _download_plain_file(self, resolved: Resolved) -> Downloaded:
        downloaded = self._fetch_with_ytdlp(resolved)
        self._verify(downloaded, resolved.duration)
        return Downloaded(downloaded, downloaded.suffix.lstrip(".") or resolved.ext, resolved)

    def _verify(
        self, path: Path, expected: float | None, video_packets: int | None = None, content: float | None = None
    ) -> None:
        problems = media_problems(path, expected, video_packets, content)
        if problems:
            self._discard_partial()
            raise TransientError("integrity check failed: " + "; ".join(problems))

    def _publish(self, done: Downloaded) -> Path:
        """Give the verified file its final name; run by `mark_downloaded` in its transaction, once the
        claim is confirmed ours.  A name another VOD's file has already (a template without `{id}`)
        gets this VOD's id added: no file of another VOD is ever replaced."""
        final = target_path(self.settings.data_dir, self.settings.name_template, self.vod, done.ext)
        other = vods.other_vod_with_file(str(final.resolve()), self.vod.id)
        if other is not None:
            taken, final = final, with_id(final, self.vod)
            if vods.other_vod_with_file(str(final.resolve()), self.vod.id) is not None:
                raise FatalError(f"{taken} and {final} are other VODs' files: put {{id}} in DOWNLOAD_NAME_TEMPLATE")
            log.warning(
                "file name taken by another VOD's file; this VOD's id added (put {id} in DOWNLOAD_NAME_TEMPLATE)",
                vod_id=self.vod.twitch_vod_id,
                other_vod_id=other,
                taken=str(taken),
                path=str(final),
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(done.path, final)  # the final name appears only now, for a verified file
        return final.resolve()

    def _media_playlist(self, resolved: Resolved, client: HttpClient) -> MediaPlaylist:
        """The chosen rendition's playlist, if the fetcher can download it whole."""
        try:
            playlist = get_media_playlist(client, resolved.url)
        except (HttpStatusError, OSError) as exc:
            raise classify_playlist_error(exc, bool(self.ytdlp.twitch_token)) from exc
        except RefusedAnswer as exc:  # the same answer again next time: not worth retrying
            raise FatalError(f"the rendition's playlist is refused: {exc}") from exc
        if playlist.unsupported:  # refused before a byte of media is fetched
            raise FatalError("the playlist uses " + " and ".join(playlist.unsupported) + ", which is not supported")
        if playlist.is_master or not playlist.segments:
            raise TransientError("the rendition's playlist lists no segments")
        if not playlist.ended:
            raise StillRecording("its playlist has no EXT-X-ENDLIST yet")
        return playlist

    def _resolve(self) -> Resolved:
        url = self.settings.url_template.format(id=self.vod.twitch_vod_id)
        try:
            return self.ytdlp.resolve(url)
        except YtDlpError as exc:
            raise classify_resolve_error(exc, bool(self.ytdlp.twitch_token)) from exc

    def _fetch_hls(
        self, playlist: MediaPlaylist, client: HttpClient, resolved: Resolved
    ) -> tuple[HlsFetch, int | None]:
        """Fetch into the part file; video packets are counted on the way (the integrity check needs them)."""
        counter = VideoPacketCounter() if playlist.container == "ts" else Fmp4SampleCounter()
        longest_segment = max(s.duration for s in playlist.segments)
        fetch = HlsFetch(
            playlist,
            self.part,
            client,
            concurrency=self.settings.concurrency,
            fragment_retries=self.settings.fragment_retries,
            min_free=self.settings.min_free,
            buffer_bytes=self.settings.buffer_bytes,
            bitrate_kbps=resolved.bitrate_kbps,
            max_lost_seconds=self.settings.max_gap.limit_seconds(playlist.duration, longest_segment),
            on_written=self._on_written,
            sink=counter.feed,
        )
        self._fetch = fetch
        try:
            fetch.run(self._tick)
        except FetchAborted:
            raise self._why_stopped() from None
        except TooMuchLost:
            self._discard_partial()  # the next attempt asks Twitch for every segment again
            raise
        except PipelineError:
            raise
        except Exception as exc:
            raise classify_fetch_error(exc) from exc
        muted = [fetch.pieces[w.position].segment for w in fetch.written if w.muted]
        if muted:
            log.info(
                "muted segments fetched in their muted form",
                vod_id=self.vod.twitch_vod_id,
                segments=",".join(str(s.index) for s in muted if s is not None),
            )
        return fetch, counter.packets

    def _on_written(self, entry: Written) -> None:
        DOWNLOAD_BYTES.inc(entry.size)
        DOWNLOAD_FRAGMENTS.labels("muted" if entry.muted else "normal").inc()

    def _check_journal(self, fetch: HlsFetch) -> None:
        """Every piece of the plan exactly once, in order, and nothing else in the file."""
        written = fetch.written
        size = self.part.stat().st_size
        if [w.position for w in written] != list(range(len(fetch.pieces))) or size != sum(w.size for w in written):
            self._discard_partial()
            raise TransientError(
                f"fragments missing or repeated ({len(written)} of {len(fetch.pieces)}, "
                f"{size} bytes on disk): starting over"
            )

    def _fetch_with_ytdlp(self, resolved: Resolved) -> Path:
        """A single progressive file: yt-dlp downloads it (no resume; its hook cancels), into the partial folder."""
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

    def _with_lease(self) -> Downloaded:
        """Run the download while a keeper thread renews the lease, writes progress and reads the
        cancel flag once a second, whatever phase the download is in (a slow resolve included)."""
        if not self._report(starting=True):
            raise self._why_stopped()
        with lease_kept(self._report, lambda: not self._lost, self.vod.twitch_vod_id):
            return self._download()

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
    def _finish(self, done: Downloaded) -> None:
        size = done.path.stat().st_size
        fetch = self._fetch
        muted = [w for w in done.written if w.muted]
        muted_segments = None
        if muted and not self.vod.muted_segments and fetch is not None:
            starts = _segment_starts(fetch.playlist)
            segments = [fetch.pieces[w.position].segment for w in muted]
            muted_segments = json.dumps(
                [{"offset": round(starts[s.index], 3), "duration": s.duration} for s in segments if s is not None]
            )
        gaps = done.plan.gaps if done.plan is not None else []
        notes = []
        if muted:
            notes.append(f"{len(muted)} muted segment(s)")
        notes.extend(describe_gap(gap) for gap in gaps)
        codec, resolution = done.resolved.codec, done.resolved.resolution
        final = vods.mark_downloaded(
            self.vod.id,
            self.owner,
            lambda: str(self._publish(done)),
            size,
            muted_segments,
            "; ".join(notes),
            gaps=gaps_to_json(gaps),
            video_codec=codec,
            video_resolution=resolution,
        )
        if final is None:
            log.warning(
                "download finished but the lease was taken meanwhile; leaving the VOD and its file to its new owner",
                vod_id=self.vod.twitch_vod_id,
                part=str(done.path),
            )
            return
        self._discard_partial()  # the part file of a joined download, and the journal
        self.breaker.record_success()
        count_completed(codec, resolution, gaps)
        log.info(
            "download complete",
            vod_id=self.vod.twitch_vod_id,
            path=str(final),
            bytes=size,
            muted=len(muted),
            gaps=len(gaps),
            codec=codec or "unknown",
            resolution=resolution or "unknown",
        )
        for gap in gaps:
            log.warning("VOD archived with a gap", vod_id=self.vod.twitch_vod_id, gap=describe_gap(gap))

    def _wait_for_recording_end(self, why: str) -> None:
        delay = self.settings.recording_recheck
        message = f"still being recorded on Twitch ({why}): checking again in {_short_duration(delay)}"
        vods.wait_for_recording_end(self.vod.id, self.owner, utcnow() + dt.timedelta(seconds=delay), message)
        log.info("download waits for the VOD to end", vod_id=self.vod.twitch_vod_id, reason=why)

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
        elif isinstance(exc, SystemicError):
            # Most likely not this VOD's fault, so it never fails for it; but the attempt counts and
            # backs off, so one VOD that keeps failing cannot hold the head of the queue.
            retries = self.attempt
            delay = backoff_delay(self.settings.backoff_base, retries, cap=SYSTEMIC_RETRY_CAP)
            message = f"{message} (retry {retries} in {_short_duration(delay)})"
            vods.retry_download_later(
                vod.id, self.owner, retries, utcnow() + dt.timedelta(seconds=delay), exc.error_class, message
            )
        else:
            retries = self.attempt
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
            self.breaker.record_failure(message, subject=None if exc.certain else vod.twitch_vod_id)
        level = log.warning if kind in ("retry", "cancelled") else log.error
        level(
            f"download {kind if kind != 'error' else 'failed'}",
            vod_id=vod.twitch_vod_id,
            error_class=exc.error_class.value,
            error=message,
            attempt=self.attempt,
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
        raise SystemicError(
            f"disk full: {free // 2**20} MiB free in {folder}, need {needed // 2**20} MiB", certain=True
        )


def _segment_starts(playlist: MediaPlaylist) -> list[float]:
    starts, at = [], 0.0
    for segment in playlist.segments:
        starts.append(at)
        at += segment.duration
    return starts


def _short_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"
