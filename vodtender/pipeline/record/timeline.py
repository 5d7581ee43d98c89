"""Where a moment of the stream lies in its recording's file.

A recording starts at the program date time of its first segment and leaves out its gaps (ads, a
restart, an outage): the file is the live span with every gap squeezed out.  A chat line sent at unix
time `t` therefore plays at `t - start - (gap seconds before t)`; a line sent during a gap plays where
the gap was cut, the first frame after it.  Lines sent before the first segment get a negative
position, as on a VOD.

`pieces()` states the same as a few spans of unix time, each with one linear rule, so chat rows can be
re-timed by a handful of UPDATEs (pipeline/chat/rows.py `retime_chat`) instead of row by row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from vodtender.pipeline.download.gap_record import Gap
from vodtender.pipeline.record.rows import StoredGap
from vodtender.runtime.clock import unix_seconds


@dataclasses.dataclass(frozen=True)
class Piece:
    """Chat sent in [start, end) plays at `sent - shift`, or at `fixed` for a span the file left out."""

    start: float  # unix seconds; -inf for the first piece
    end: float  # unix seconds; +inf for the last piece
    shift: float = 0.0
    fixed: float | None = None


@dataclasses.dataclass(frozen=True)
class _Cut:
    start: float
    end: float
    seconds: float  # what the file lacks: the gap's recorded seconds


class Timeline:
    def __init__(self, started_at: dt.datetime, gaps: Sequence[StoredGap]):
        self.start = unix_seconds(started_at)
        cuts = [_Cut(_unix(g.start), _unix(g.end), g.seconds) for g in gaps]
        self.cuts = sorted((c for c in cuts if c.end > c.start and c.start >= self.start), key=lambda c: c.start)

    def position(self, sent: float) -> float:
        """Seconds into the file at which something that happened at unix time `sent` plays."""
        for piece in self.pieces():
            if piece.start <= sent < piece.end:
                return piece.fixed if piece.fixed is not None else sent - piece.shift
        raise AssertionError("the pieces cover every moment")

    def pieces(self) -> list[Piece]:
        pieces: list[Piece] = []
        shift = self.start
        since = float("-inf")
        for cut in self.cuts:
            pieces.append(Piece(since, cut.start, shift=shift))
            pieces.append(Piece(cut.start, cut.end, fixed=cut.start - shift))
            shift += cut.seconds
            since = cut.end
        pieces.append(Piece(since, float("inf"), shift=shift))
        return pieces

    def file_gaps(self) -> list[Gap]:
        """The gaps as a downloaded VOD's are stored (`vods.download_gaps`): where in the file each one is cut."""
        return [Gap(offset=max(0.0, self.position(cut.start)), duration=cut.seconds, segments=()) for cut in self.cuts]


def _unix(iso: str) -> float:
    """A gap's end as the recorder wrote it: with its offset (program date time), or naive UTC."""
    moment = dt.datetime.fromisoformat(iso)
    return moment.timestamp() if moment.tzinfo else unix_seconds(moment)
