"""A VOD's local file, for the player: the downloaded file, else its live recording's (finished or growing).

Only files inside DATA_DIR are served: a path is resolved (symbolic links followed) and refused,
with one log line, when it lands outside.  MP4 plays natively in a browser; MPEG-TS (a live
recording) through mpegts.js; other containers are not offered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, send_file

from vodtender.pipeline import vods
from vodtender.pipeline.record import rows as recordings
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Recording, Vod
from vodtender.web.context import error_response, web

log = get_logger("web")
blueprint = Blueprint("media", __name__)

KINDS = {".mp4": "mp4", ".m4v": "mp4", ".ts": "mpegts"}
GROWING = ".part"  # a live recording's file while it grows: MPEG-TS or fragmented MP4, told by its first bytes
TS_SYNC = 0x47
MP4_BOXES = (b"ftyp", b"styp", b"moof")
MIMETYPES = {"mp4": "video/mp4", "mpegts": "video/mp2t"}


@dataclass(frozen=True)
class MediaFile:
    path: Path  # resolved, inside the data dir
    kind: str  # mp4 / mpegts
    size: int

    @property
    def mimetype(self) -> str:
        return MIMETYPES[self.kind]


def inside(path: Path, data_dir: Path) -> Path | None:
    """`path` resolved, when it is a file inside `data_dir` (resolved too); else None."""
    try:
        resolved = path.resolve(strict=True)
        root = data_dir.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(root) and resolved.is_file() else None


def kind_of(path: Path) -> str | None:
    """mp4 / mpegts by the name, or for a growing recording by its first bytes; None: not offered."""
    if path.suffix.lower() != GROWING:
        return KINDS.get(path.suffix.lower())
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if head[:1] == bytes([TS_SYNC]):
        return "mpegts"
    return "mp4" if head[4:8] in MP4_BOXES else None


def candidates(v: Vod, recording: Recording | None) -> list[str]:
    found = []
    if v.downloaded_path and v.download_state == vods.DOWNLOADED:
        found.append(v.downloaded_path)
    if recording is not None:
        found += [p for p in (recording.path, recording.part_path) if p]
    return found


def media_of(v: Vod, recording: Recording | None, data_dir: Path, *, logged: bool = False) -> MediaFile | None:
    """The first playable file of the VOD.  `logged`: say so when one is refused for lying outside `data_dir`."""
    for name in candidates(v, recording):
        path = Path(name)
        if not path.exists():
            continue
        resolved = inside(path, data_dir)
        if resolved is None:
            if logged:
                log.warning("media file outside DATA_DIR not served", vod_id=v.id, data_dir=str(data_dir))
            continue
        kind = kind_of(resolved)
        if kind is not None:
            return MediaFile(resolved, kind, resolved.stat().st_size)
    return None


def recording_of(v: Vod) -> Recording | None:
    """The live recording of the VOD's stream, if one was made."""
    return recordings.for_stream(v.stream_id) if v.stream_id else None


@blueprint.get("/media/<int:vod_id>")
def media(vod_id: int) -> Response:
    """The file with HTTP Range (206 / 416), ETag and Last-Modified, as the player seeks."""
    vod = Vod.get_or_none(Vod.id == vod_id)
    found = media_of(vod, recording_of(vod), web().data_dir, logged=True) if vod else None
    if found is None:
        return error_response(404, f"no playable file for VOD {vod_id}")
    return send_file(found.path, mimetype=found.mimetype, conditional=True, etag=True, max_age=0)
