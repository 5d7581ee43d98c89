"""Live HLS media playlists as Twitch writes them: the sliding window, its clock, and its stitched ads.

What a recorder needs from one read of a live (or still growing EVENT) playlist:
- each segment's media sequence number (`#EXT-X-MEDIA-SEQUENCE` + its place), so a segment is taken
  once however often the window is re-read;
- its wall-clock start (`#EXT-X-PROGRAM-DATE-TIME`, which applies to the next segment; the segments
  after it are extrapolated by their durations, as RFC 8216 section 4.3.2.6 has it);
- whether it is an ad Twitch stitched into the stream.  The rule is streamlink's Twitch plugin's
  (TwitchM3U8Parser: `_is_daterange_ad`, `_is_segment_ad`): a segment whose program time falls in an
  `#EXT-X-DATERANGE` with `CLASS="twitch-stitched-ad"` (or an ID starting `stitched-ad-`, or any
  `X-TV-TWITCH-AD-*` attribute), or whose `#EXTINF` title names an ad server.  Content segments are
  titled `live`; ad segments `Amazon|...` (streamlink), `Adform`/`DCM` (Xtra's StreamPlayerViewModel);
- `#EXT-X-DISCONTINUITY` (around ad breaks, at an encoder restart) and the `#EXT-X-MAP` init section
  of fMP4 renditions.
`#EXT-X-TWITCH-PREFETCH` lines (low-latency hints of segments not yet in the window) are ignored, as
streamlink does unless asked for low latency: they reappear as ordinary segments on a later read.
Odd input never raises: what could not be read is named in `LivePlaylist.problems`.  Segments past
`MAX_PLAYLIST_SEGMENTS` are not listed (a problem too), so a hostile playlist cannot fill memory.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from urllib.parse import urljoin

from vodtender.clients.hls import MAX_PLAYLIST_SEGMENTS

AD_TITLE_MARKERS = ("Amazon", "Adform", "DCM")
AD_DATERANGE_CLASS = "twitch-stitched-ad"
AD_DATERANGE_ID_PREFIX = "stitched-ad-"
AD_ATTRIBUTE_PREFIX = "X-TV-TWITCH-AD-"
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


@dataclasses.dataclass(frozen=True)
class LiveSegment:
    sequence: int  # media sequence number: the same segment keeps it in every read of the window
    url: str
    duration: float
    program_time: dt.datetime | None  # wall-clock start, naive UTC
    title: str
    is_ad: bool
    discontinuity: bool  # an EXT-X-DISCONTINUITY (or a new init section) comes before it
    init_url: str | None = None  # fMP4: its EXT-X-MAP init section

    @property
    def end_time(self) -> dt.datetime | None:
        return self.program_time + dt.timedelta(seconds=self.duration) if self.program_time else None


@dataclasses.dataclass(frozen=True)
class AdRange:
    """One `#EXT-X-DATERANGE` Twitch marks a stitched ad break with."""

    id: str
    start: dt.datetime
    end: dt.datetime | None  # None: open-ended (no DURATION, PLANNED-DURATION or END-DATE)

    def covers(self, moment: dt.datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


@dataclasses.dataclass(frozen=True)
class LivePlaylist:
    media_sequence: int
    target_duration: float
    segments: list[LiveSegment]
    ended: bool  # EXT-X-ENDLIST: the stream (or VOD) is over
    ad_ranges: list[AdRange]
    is_master: bool = False  # a variant list, not segments
    problems: tuple[str, ...] = ()  # what could not be read (the line is skipped)

    @property
    def last_sequence(self) -> int | None:
        return self.segments[-1].sequence if self.segments else None

    @property
    def container(self) -> str:
        return "mp4" if any(s.init_url for s in self.segments) else "ts"


def parse_live_playlist(text: str, base_url: str) -> LivePlaylist:
    """Parse a live media playlist; URIs are made absolute against `base_url`."""
    return _Parser(base_url).parse(text)


class _Parser:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.problems: list[str] = []
        self.media_sequence = 0
        self.target_duration = 0.0
        self.ended = self.is_master = False
        self.ranges: list[AdRange] = []
        self.listed: list[LiveSegment] = []  # as listed: sequence, extrapolated times and ad flags come last
        self._duration, self._title = 0.0, ""
        self._date: dt.datetime | None = None
        self._discontinuity = False
        self._init: str | None = None

    def parse(self, text: str) -> LivePlaylist:
        for raw in text.splitlines():
            line = raw.strip()
            if line and not line.startswith("#EXT-X-TWITCH-PREFETCH"):
                self._line(line)
        segments = self._segments()
        return LivePlaylist(
            self.media_sequence,
            self.target_duration,
            segments,
            self.ended,
            self.ranges,
            self.is_master,
            tuple(dict.fromkeys(self.problems)),
        )

    def _line(self, line: str) -> None:
        tag, _, value = line.partition(":")
        if not line.startswith("#"):
            if len(self.listed) >= MAX_PLAYLIST_SEGMENTS:
                problem = f"more than {MAX_PLAYLIST_SEGMENTS} segments: the rest not listed"
                if problem not in self.problems:
                    self.problems.append(problem)
                return
            url = urljoin(self.base_url, line)
            self.listed.append(
                LiveSegment(0, url, self._duration, self._date, self._title, False, self._discontinuity, self._init)
            )
            self._duration, self._title, self._date, self._discontinuity = 0.0, "", None, False
        elif tag == "#EXTINF":
            duration, _, title = value.partition(",")
            self._duration = self._number(duration, "EXTINF")
            self._title = title.strip()
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            self.media_sequence = int(self._number(value, "EXT-X-MEDIA-SEQUENCE"))
        elif tag == "#EXT-X-TARGETDURATION":
            self.target_duration = self._number(value, "EXT-X-TARGETDURATION")
        elif tag == "#EXT-X-PROGRAM-DATE-TIME":
            self._date = self._time(value, "EXT-X-PROGRAM-DATE-TIME")
        elif tag == "#EXT-X-DATERANGE":
            self._daterange(value)
        elif tag == "#EXT-X-DISCONTINUITY":
            self._discontinuity = True
        elif tag == "#EXT-X-MAP":
            uri = _attributes(value).get("URI")
            new_init = urljoin(self.base_url, uri) if uri else None
            if new_init != self._init and self.listed:
                self._discontinuity = True  # a new init section starts a new run even without the tag
            self._init = new_init
        elif tag == "#EXT-X-ENDLIST":
            self.ended = True
        elif tag == "#EXT-X-STREAM-INF":
            self.is_master = True

    def _segments(self) -> list[LiveSegment]:
        segments: list[LiveSegment] = []
        previous_end: dt.datetime | None = None
        for offset, listed in enumerate(self.listed):
            start = listed.program_time or previous_end  # a segment without its own date follows the one before
            is_ad = any(marker in listed.title for marker in AD_TITLE_MARKERS) or (
                start is not None and any(r.covers(start) for r in self.ranges)
            )
            segment = dataclasses.replace(
                listed, sequence=self.media_sequence + offset, program_time=start, is_ad=is_ad
            )
            segments.append(segment)
            previous_end = segment.end_time
        return segments

    def _daterange(self, value: str) -> None:
        attrs = _attributes(value)
        is_ad = (
            attrs.get("CLASS") == AD_DATERANGE_CLASS
            or attrs.get("ID", "").startswith(AD_DATERANGE_ID_PREFIX)
            or any(key.startswith(AD_ATTRIBUTE_PREFIX) for key in attrs)
        )
        if not is_ad:
            return  # Twitch's other ranges (session, timestamp, source) say nothing about ads
        start = self._time(attrs.get("START-DATE", ""), "EXT-X-DATERANGE START-DATE")
        if start is None:
            return
        end: dt.datetime | None = None
        if "END-DATE" in attrs:
            end = self._time(attrs["END-DATE"], "EXT-X-DATERANGE END-DATE")
        else:
            length = attrs.get("DURATION") or attrs.get("PLANNED-DURATION")
            if length:
                end = start + dt.timedelta(seconds=self._number(length, "EXT-X-DATERANGE DURATION"))
        self.ranges.append(AdRange(attrs.get("ID", ""), start, end))

    def _number(self, text: str, what: str) -> float:
        try:
            number = float(text.strip())
        except ValueError:
            number = -1.0
        if not 0 <= number < math.inf:  # also NaN
            self.problems.append(f"unreadable {what} {text.strip()[:40]!r}")
            return 0.0
        return number

    def _time(self, text: str, what: str) -> dt.datetime | None:
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            self.problems.append(f"unreadable {what} {text.strip()[:40]!r}")
            return None
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment


def _attributes(value: str) -> dict[str, str]:
    """An attribute list (RFC 8216 section 4.2): quoted strings unquoted."""
    return {key: raw[1:-1] if raw.startswith('"') else raw.strip() for key, raw in _ATTRIBUTE.findall(value)}


def with_origin(playlist: LivePlaylist, origin: dt.datetime) -> LivePlaylist:
    """A whole playlist from its first segment (an EVENT VOD playlist, media sequence 0) without program
    times: each segment's start is `origin` plus the durations before it."""
    if playlist.media_sequence != 0 or any(s.program_time for s in playlist.segments):
        return playlist
    timed: list[LiveSegment] = []
    at = origin
    for segment in playlist.segments:
        timed.append(dataclasses.replace(segment, program_time=at))
        at += dt.timedelta(seconds=segment.duration)
    return dataclasses.replace(playlist, segments=timed)
