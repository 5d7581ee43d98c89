"""One recording attempt of one claimed live stream, from choosing its playlist to its published file.

source (the stream's in-progress archive VOD if the poller has found it: complete from its first
segment, no ads; else the live playlist) -> resolve (yt-dlp's own Twitch extractors: the live one
fetches the playback token and usher's channel playlist; the best rendition in DOWNLOAD_CODECS) ->
follow (follow.py) into the part file (recording.py) -> at the stream's end: join the runs if
anything was dropped between them (assemble.py), check the duration with ffprobe, publish
`DATA_DIR/<channel>/<date>_live-<stream_id>.<ext>`, `finish_recording`.

A keeper thread renews the lease every second with the progress; a lost lease stops the attempt
("lost").  SIGTERM (`stopping`) releases the recording and keeps the part for the next attempt, which
resumes from its journal at the live edge ("stopped").  A part recorded from one source is not
continued from the other: a stream whose VOD appears mid-way keeps its live recording as it is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
from pathlib import Path

import peewee

from vodtender.clients.hls import FetchAborted, HttpClient
from vodtender.clients.ytdlp import Resolved, YtDlp, YtDlpError
from vodtender.pipeline.download.assemble import Stopped, join_runs
from vodtender.pipeline.download.classify import classify_resolve_error
from vodtender.pipeline.download.paths import sanitise
from vodtender.pipeline.download.verify import media_problems
from vodtender.pipeline.errors import FatalError, PipelineError
from vodtender.pipeline.lease_keeper import lease_kept
from vodtender.pipeline.record import rows
from vodtender.pipeline.record.follow import LiveFollower
from vodtender.pipeline.record.recording import RecordingFile, gaps_to_json, part_path
from vodtender.runtime.backoff import backoff_delay
from vodtender.runtime.identity import host_name
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Recording, Vod, utcnow
from vodtender.runtime.options import format_duration

log = get_logger("recorder")

RESOLVE_RETRY_BASE = 2.0  # seconds before resolving a live stream again, doubling up to the cap
RESOLVE_RETRY_CAP = 60.0
LIVE, VOD = "live", "vod"


@dataclasses.dataclass(frozen=True)
class RecordSettings:
    data_dir: Path
    live_url_template: str  # "https://www.twitch.tv/{channel}"
    vod_url_template: str  # "https://www.twitch.tv/videos/{id}"
    concurrency: int
    fragment_retries: int
    timeout: float
    lease_seconds: float
    min_free: int
    poll_seconds: float  # how often the live playlist is re-read (<= 0: half its target duration)
    end_grace: float  # how long a playlist may stop growing, its stream not live, before the stream counts as ended


class Stop(Exception):
    """The attempt has to end without finishing: shutting down, or the lease is gone."""


class RecordJob:
    """Record one claimed stream.  `run()` never raises: every outcome is written to its row."""

    def __init__(
        self, recording: Recording, settings: RecordSettings, ytdlp: YtDlp, owner: str, stopping: threading.Event
    ):
        self.recording = recording
        self.settings = settings
        self.ytdlp = ytdlp
        self.owner = owner
        self.stopping = stopping
        self.source = recording.source or LIVE
        self.client = HttpClient(timeout=settings.timeout)
        self.file = RecordingFile(
            part_path(settings.data_dir, recording.stream_id),
            self.client,
            concurrency=settings.concurrency,
            fragment_retries=settings.fragment_retries,
            min_free=settings.min_free,
        )
        self._follower: LiveFollower | None = None
        self._loaded = False
        self._lost = False

    # -- what `vodtender status`, STATUS= and the metrics show ------------------------------------------
    @property
    def seconds(self) -> float:
        return self.file.seconds if self._loaded else self.recording.seconds

    @property
    def bytes(self) -> int:
        return self.file.bytes if self._loaded else self.recording.bytes

    @property
    def gap_count(self) -> int:
        return len(self.file.gaps)

    @property
    def ads_seconds(self) -> float:
        return self.file.ads_seconds

    @property
    def lag_seconds(self) -> float:
        """How far the file is behind what the playlist offers: its newest segment's end against ours."""
        edge = self._follower.edge_end if self._follower is not None else None
        last = self.file.last_end
        return max(0.0, (edge - last).total_seconds()) if edge is not None and last is not None else 0.0

    def status(self) -> str:
        whole = int(self.seconds)
        length = format_duration(whole - whole % 60 if whole >= 3600 else whole) if whole else "0s"
        gaps = self.gap_count
        source = " from its VOD" if self.source == VOD else ""
        return f"recording {self.recording.channel}{source} {length}, {gaps} gap{'' if gaps == 1 else 's'}"

    # -- the attempt ---------------------------------------------------------------------------------
    def run(self) -> str:
        rec = self.recording
        log.info("recording started", stream_id=rec.stream_id, channel=rec.channel)
        try:
            return self._outcome()
        except peewee.PeeweeException as exc:  # the row cannot be written: the lease runs out, another attempt resumes
            log.error("recording stopped: the database is unavailable", stream_id=rec.stream_id, error=str(exc))
            return "lost"
        finally:
            self.file.close()

    def _outcome(self) -> str:
        try:
            return self._with_lease()
        except Stop as exc:
            return self._stopped(str(exc))
        except PipelineError as exc:
            return self._fail(str(exc))
        except peewee.PeeweeException:
            raise
        except Exception as exc:  # a bug or an unforeseen error: the part stays for an operator
            log.error(
                "recording failed unexpectedly",
                stream_id=self.recording.stream_id,
                error=f"{type(exc).__name__}: {exc}",
                exc_info=True,
            )
            return self._fail(f"{type(exc).__name__}: {exc}")

    def _with_lease(self) -> str:
        if not self._report():
            raise Stop("lease lost")
        with lease_kept(self._report, lambda: not self._lost, self.recording.stream_id):
            return self._record()

    def _record(self) -> str:
        stream_id = self.recording.stream_id
        vod_id = rows.in_progress_vod(stream_id)
        chosen = VOD if vod_id else LIVE
        self.file.load()
        self._loaded = True
        if self.file.source not in (None, chosen):
            log.info(
                "recording kept as it is: its stream now has another source",
                stream_id=stream_id,
                recorded_from=self.file.source,
                now=chosen,
            )
            return self._finish()
        self.source = chosen
        if chosen == LIVE and not rows.stream_is_live(stream_id):
            return self._finish()  # ended while no recorder held it: its live playlist is gone
        url = (
            self.settings.vod_url_template.format(id=vod_id)
            if vod_id
            else self.settings.live_url_template.format(channel=self.recording.channel)
        )
        try:
            resolved = self._resolve(url)
        except PipelineError as exc:
            if not self.file.segment_count:
                raise
            log.warning("stream not resolved again: finishing what is recorded", stream_id=stream_id, error=str(exc))
            return self._finish()
        self.client.headers = dict(resolved.headers)  # what the site expects, per yt-dlp
        self.file.begin(chosen)
        self._follow(resolved, url, vod_id)
        return self._finish()

    def _follow(self, resolved: Resolved, url: str, vod_id: str | None) -> None:
        follower = LiveFollower(
            resolved.url,
            self.client,
            poll_seconds=self.settings.poll_seconds,
            end_grace=self.settings.end_grace,
            is_live=lambda: rows.stream_is_live(self.recording.stream_id),
            stopping=self.stopping,
            resume=self.file.resume_point,
            refresh_url=lambda: self._resolve_once(url).url,
            origin=_vod_start(vod_id),
            stream_id=self.recording.stream_id,
        )
        self._follower = follower
        try:
            for batch in follower.batches():
                self.file.write(batch, self._keep_going)
                if not self._keep_going():
                    break
        except FetchAborted:
            pass
        if not self._keep_going():
            raise self._why_stopped()

    def _resolve(self, url: str) -> Resolved:
        """The playlist to follow; a live stream that fails to resolve is tried again while the poller has it live."""
        attempt = 0
        while True:
            try:
                return self._resolve_once(url)
            except YtDlpError as exc:
                error = classify_resolve_error(exc, bool(self.ytdlp.twitch_token))
            attempt += 1
            if isinstance(error, FatalError) or not rows.stream_is_live(self.recording.stream_id):
                raise error
            delay = backoff_delay(RESOLVE_RETRY_BASE, attempt, cap=RESOLVE_RETRY_CAP)
            log.warning(
                "live stream not resolved, retrying",
                stream_id=self.recording.stream_id,
                error=str(error),
                retry_in=round(delay, 1),
            )
            if self.stopping.wait(delay) or self._lost:
                raise self._why_stopped()

    def _resolve_once(self, url: str) -> Resolved:
        resolved = self.ytdlp.resolve(url)
        if not resolved.is_hls:
            raise FatalError(f"the stream's chosen format is {resolved.protocol or 'unknown'}, not HLS")
        return resolved

    # -- the end -------------------------------------------------------------------------------------
    def _finish(self) -> str:
        """The stream is over: one checked file under its final name, the row finished."""
        file = self.file
        file.close()
        if not file.segment_count:
            return self._fail(rows.ENDED_UNRECORDED)
        layout = file.layout()
        candidate = file.part
        if layout.joined:  # something was dropped between runs: joined without holes
            candidate = file.part.with_name(file.part.name + ".joined.mp4")
            try:
                join_runs(file.part, layout, candidate, self._keep_going)
            except Stopped:
                raise self._why_stopped() from None
        problems = media_problems(candidate, layout.expected_duration)
        if problems:
            if candidate != file.part:
                candidate.unlink(missing_ok=True)
            return self._fail("integrity check failed (the part file is kept): " + "; ".join(problems))
        final = self._publish(candidate, layout.ext)
        rec = self.recording
        gaps = file.gaps
        if not rows.finish_recording(
            rec.id,
            self.owner,
            str(final),
            seconds=file.seconds,
            bytes=final.stat().st_size,
            gaps=gaps_to_json(gaps),
            ads_seconds=file.ads_seconds,
            ended_at=file.last_end or utcnow(),
            host=host_name(),
        ):
            log.warning("recording published but the lease was taken meanwhile", stream_id=rec.stream_id)
            return "lost"
        file.discard()
        candidate.unlink(missing_ok=True)
        log.info(
            "recording finished",
            stream_id=rec.stream_id,
            channel=rec.channel,
            path=str(final),
            seconds=round(file.seconds, 1),
            gaps=len(gaps),
            ads_seconds=round(file.ads_seconds, 1),
        )
        return "finished"

    def _publish(self, candidate: Path, ext: str) -> Path:
        """The final name for the checked file.  The part file is linked, so it stays until the row says
        finished (a kill in between finishes it again); a joined file, or a filesystem without links, moves."""
        final = self.final_path(ext)
        final.parent.mkdir(parents=True, exist_ok=True)
        if candidate == self.file.part:
            linked = final.with_name(final.name + ".tmp")
            linked.unlink(missing_ok=True)
            try:
                os.link(candidate, linked)
            except OSError:
                pass
            else:
                os.replace(linked, final)
                return final
        os.replace(candidate, final)
        return final

    def final_path(self, ext: str) -> Path:
        rec = self.recording
        started = self.file.started_at or rec.started_at or rec.created_at
        name = f"{started:%Y-%m-%d}_live-{sanitise(rec.stream_id, 40)}.{ext}"
        return self.settings.data_dir / sanitise(rec.channel or "unknown", 60) / name

    def _stopped(self, why: str) -> str:
        rec = self.recording
        log.info("recording paused", stream_id=rec.stream_id, reason=why, seconds=round(self.seconds, 1))
        if self._lost:
            return "lost"
        self.file.close()
        self._report()  # what the part holds now, for `vodtender status`
        rows.release_recording(rec.id, self.owner)
        return "stopped"

    def _fail(self, error: str) -> str:
        rec = self.recording
        log.error("recording failed", stream_id=rec.stream_id, error=error)
        return "failed" if rows.fail_recording(rec.id, self.owner, error) else "lost"

    # -- lease and progress --------------------------------------------------------------------------
    def _keep_going(self) -> bool:
        return not (self.stopping.is_set() or self._lost)

    def _why_stopped(self) -> Stop:
        return Stop("lease lost" if self._lost else "shutting down")

    def _report(self) -> bool:
        loaded = self._loaded
        if not rows.renew_recording(
            self.recording.id,
            self.owner,
            self.settings.lease_seconds,
            seconds=self.seconds,
            bytes=self.bytes,
            gaps=gaps_to_json(self.file.gaps) if loaded else self.recording.gaps,
            ads_seconds=self.ads_seconds if loaded else self.recording.ads_seconds,
            started_at=self.file.started_at,
            part_path=str(self.file.part) if loaded else None,
            source=self.source,
        ):
            self._lost = True
            return False
        return True


def _vod_start(vod_id: str | None) -> dt.datetime | None:
    """When the in-progress VOD's stream started (Helix's created_at): its playlist has no program times."""
    if vod_id is None:
        return None
    vod = Vod.get_or_none(Vod.twitch_vod_id == vod_id)
    return vod.date if vod is not None else None
