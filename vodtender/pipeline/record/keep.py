"""What becomes of a finished live recording once its stream's VOD has settled (LIVE_RECORD_KEEP).

The recorder calls `Keeper.step()` every few seconds.  It looks at each finished recording whose
outcome is open and whose file is on this host (any host's with DATA_DIR_SHARED):

- **The stream's VOD is verified** (downloaded): `always` keeps the recording, `never` removes its file,
  `when-vod-worse` keeps it only when the VOD is worse: muted segments, gaps Twitch lost, or shorter
  than the recording by more than SHORTER_SLACK.  Otherwise the file is removed.
- **The stream's VOD failed for good** (deleted before it was fetched, refused, ...; not cancelled by
  the operator): the recording becomes that VOD's file.
- **No VOD came within VOD_RECONCILE_WINDOW** (the poller reported the placeholder never reconciled):
  the recording becomes the stream's archive, its placeholder a downloaded VOD.
- Otherwise (the VOD is still on its way, the window still open): decided later.

Becoming the archive is one transaction: the VOD row takes the file (`vods.adopt_recording`), its chat
rows are re-timed to the file (timeline.py: send time - recording start - the gap seconds before), and
the outcome is `archive`.  From then on the uploader treats it as any downloaded VOD.  The file was
checked with ffprobe when the recording finished; here its size is compared with the one stored then,
so a file changed or removed meanwhile is reported (`lost`) rather than uploaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import peewee

from vodtender.pipeline import vods
from vodtender.pipeline.chat.rows import retime_chat
from vodtender.pipeline.download.gap_record import gaps_from_json, gaps_to_json
from vodtender.pipeline.kv import kv_get, reconciled_key
from vodtender.pipeline.record import rows
from vodtender.pipeline.record.timeline import Timeline
from vodtender.runtime.db import write
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Recording, Vod
from vodtender.runtime.options import format_duration

log = get_logger("recorder")

ALWAYS, NEVER, WHEN_VOD_WORSE = "always", "never", "when-vod-worse"
SHORTER_SLACK = 10.0  # seconds a VOD may fall short of the recording before it counts as shorter


def vod_shortcomings(vod: Vod, rec: Recording) -> list[str]:
    """How the verified VOD is worse than the recording (empty: it is not)."""
    found = []
    muted = _json_list(vod.muted_segments)
    if muted:
        seconds = sum(float(m.get("duration") or 0) for m in muted if isinstance(m, dict))
        found.append(f"{len(muted)} muted segment(s), {format_duration(seconds)}")
    lost = gaps_from_json(vod.download_gaps)
    if lost:
        found.append(f"{len(lost)} gap(s) Twitch lost, {format_duration(sum(g.duration for g in lost))}")
    if rec.seconds - vod.duration_seconds > SHORTER_SLACK:
        found.append(f"{format_duration(rec.seconds - vod.duration_seconds)} shorter than the recording")
    return found


def _json_list(text: str | None) -> list[object]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


class Keeper:
    """Decides the outcome of this host's finished recordings, one `step()` at a time."""

    def __init__(self, policy: str, host: str | None, settled: Callable[[str], None]):
        self.policy = policy
        self.host = host  # None: DATA_DIR is shared, every host's files are here
        self.settled = settled  # told each outcome this process decided (the metrics)

    def step(self) -> None:
        for rec in rows.unsettled(self.host):
            try:
                self._settle(rec)
            except peewee.PeeweeException as exc:  # decided again at the next step
                log.warning("recording outcome not decided: database error", stream_id=rec.stream_id, error=str(exc))
                return

    def _settle(self, rec: Recording) -> None:
        vod = _stream_vod(rec)
        if vod is not None and vod.download_state == vods.DOWNLOADED:
            self._against_verified(rec, vod)
        elif vod is not None and vods.stage_of(vod) == "failed":
            if vod.processing_error == vods.CANCEL_MESSAGE:
                self._decide(rec, rows.KEPT, f"the VOD {vod.twitch_vod_id} was cancelled by the operator")
            else:
                self._archive(rec, vod, f"the VOD {vod.twitch_vod_id} could not be archived ({vod.processing_error})")
        elif vod is None:
            placeholder = _placeholder(rec)
            if placeholder is None:
                self._decide(rec, rows.KEPT, "its stream's VOD row is gone")
            elif vods.reported_unreconciled(placeholder.id):
                self._archive(rec, placeholder, "no archive VOD appeared within VOD_RECONCILE_WINDOW")

    def _against_verified(self, rec: Recording, vod: Vod) -> None:
        worse = vod_shortcomings(vod, rec)
        if self.policy == ALWAYS:
            self._decide(rec, rows.KEPT, f"LIVE_RECORD_KEEP=always; the VOD {vod.twitch_vod_id} is verified")
        elif self.policy == WHEN_VOD_WORSE and worse:
            self._decide(rec, rows.KEPT, f"the VOD {vod.twitch_vod_id} is worse: " + "; ".join(worse))
        else:
            why = (
                "LIVE_RECORD_KEEP=never"
                if self.policy == NEVER
                else "not muted, no gaps, not shorter than the recording"
            )
            self._remove(rec, f"the VOD {vod.twitch_vod_id} is verified: {why}")

    def _remove(self, rec: Recording, why: str) -> None:
        assert rec.path is not None, "a finished recording has its file"
        try:
            Path(rec.path).unlink(missing_ok=True)
        except OSError as exc:
            log.error("recording not removed", stream_id=rec.stream_id, path=rec.path, error=str(exc))
            return  # tried again at the next step
        self._decide(rec, rows.REMOVED, f"{why}: its file was removed")

    def _archive(self, rec: Recording, vod: Vod, why: str) -> None:
        assert rec.path is not None, "a finished recording has its file"
        problem = _file_problem(rec)
        if problem:
            self._decide(rec, rows.LOST, f"{why}, but it cannot become the archive: {problem}")
            return
        gaps = rows.gaps_of(rec)
        started = rec.started_at or vod.date
        assert started is not None, "a placeholder is opened with its stream's start time"
        timeline = Timeline(started, gaps)
        note = f"{why}: the live recording of stream {rec.stream_id} is its archive"

        def move() -> bool:
            if not rows.settle(rec.id, rows.ARCHIVE, note):
                return False
            file_gaps = gaps_to_json(timeline.file_gaps())
            vods.adopt_recording(vod.id, str(rec.path), rec.bytes, rec.seconds, file_gaps, rec.host or "", note)
            retimed = retime_chat(vod.twitch_vod_id, timeline.pieces())
            log.info(
                "live recording is the archive",
                stream_id=rec.stream_id,
                vod_id=vod.twitch_vod_id,
                reason=why,
                chat_rows=retimed,
                path=rec.path,
            )
            return True

        if write(move):
            self.settled(rows.ARCHIVE)

    def _decide(self, rec: Recording, outcome: str, note: str) -> None:
        if rows.settle(rec.id, outcome, note):
            self.settled(outcome)
            level = log.error if outcome == rows.LOST else log.info
            level(f"live recording {outcome}", stream_id=rec.stream_id, reason=note, path=rec.path)


def _stream_vod(rec: Recording) -> Vod | None:
    """The stream's real archive VOD, as the poller found it (not its placeholder): by stream id, or the
    one reconciliation moved the placeholder's chat to (matched by start time: a VOD without a stream id)."""
    cond = (Vod.stream_id == rec.stream_id) & (Vod.is_placeholder == 0)
    if rec.placeholder_vod_id:  # once it is the archive, the placeholder is a VOD of the stream too
        cond &= Vod.twitch_vod_id != rec.placeholder_vod_id
    found: Vod | None = Vod.select().where(cond).order_by(Vod.id).first()
    if found is None and rec.placeholder_vod_id:
        found = Vod.get_or_none(Vod.twitch_vod_id == _reconciled_to(rec.placeholder_vod_id))
    return found


def _reconciled_to(placeholder_vod_id: str) -> str | None:
    try:
        return str(json.loads(kv_get(reconciled_key(placeholder_vod_id)) or "")["vod"])
    except (ValueError, KeyError, TypeError):
        return None


def _placeholder(rec: Recording) -> Vod | None:
    """The stream's placeholder, still open or ended (the playlist's ENDLIST may come before the poller
    sees the stream offline)."""
    found: Vod | None = Vod.get_or_none((Vod.twitch_vod_id == rec.placeholder_vod_id) & (Vod.is_placeholder == 1))
    return found


def _file_problem(rec: Recording) -> str | None:
    path = Path(str(rec.path))
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"its file cannot be read ({exc.strerror or exc})"
    if size != rec.bytes:
        return f"its file has {size} bytes, {rec.bytes} when it was finished"
    return None
