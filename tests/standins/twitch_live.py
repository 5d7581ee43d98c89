"""Twitch live on loopback: the live side of the Twitch stand-in (tests/standins/twitch.py serves it).

    stream = site.go_live("somechannel", LiveSpec(ad_breaks=((10, 3),), vod_id="3001"))
    stream.live_edge()                 # the newest segment the live playlist lists (-1 before the first)
    stream.segment_at(12)              # its EXT-X-PROGRAM-DATE-TIME, on the stream's clock
    stream.expected_recording(0, 30)   # what a correct recording of segments 0..30 holds (ads dropped)
    site.is_ad(segment_bytes)          # the commercial-break picture is in it
    site.end_stream("somechannel")     # EXT-X-ENDLIST; usher and GraphQL then say "offline"

Time: the stream starts when `go_live` returns and runs `speed` stream seconds per real second on the
clock it was given (a `vodtender.runtime.clock.Clock`; the system clock by default, a ManualClock in a test
that moves time itself).  Segment N is listed once the stream's time passes its end; its program date time
is `started_at + N * segment_seconds` on the stream's clock, which is the wall clock only at speed 1.  The
live playlist is a sliding window of `window` segments; a segment stays fetchable for one more window after
it leaves the playlist, then answers 404 (a recorder that was away cannot reach back further than the
playlist showed it; how long Twitch's edges keep a segment is not on public record).

Paths (on the site's one port, beside the VOD side):
    POST /gql                                  StreamMetadata, ComscoreStreamingQuery, VideoPreviewOverlay
                                               (persisted queries) and the streamPlaybackAccessToken query
    GET  /usher/api/channel/hls/<login>.m3u8   the live master playlist (token and sig checked)
    GET  /v1/playlist/<stream id>/chunked.m3u8 the live media playlist
    GET  /v1/segment/<stream id>/chunked/<N>.ts|mp4, …/ad/<N>.ts|mp4, …/init-0.mp4

What each answer is modelled on (public sources):
- The GraphQL operations, their variables and what is read back: yt-dlp's Twitch extractor
  (yt_dlp/extractor/twitch.py: TwitchStreamIE._real_extract reads `user.stream` {id, type, createdAt} of
  StreamMetadata, `user.displayName` and `broadcastSettings.title` of ComscoreStreamingQuery and
  `user.stream.previewImageURL` of VideoPreviewOverlay; `_download_access_token(channel, 'stream',
  'channelName')`).  An unknown login answers `user: null` ("does not exist"), an offline channel
  `stream: null` (UserNotLive); streamlink's tests/plugins/test_twitch.py (TestTwitchMetadata) shows
  the same `user`/`stream` shape.  The stream token's value carries the fields streamlink's
  UsherService.channel logs and its tests build (channel, channel_id, expires, user_ip, adblock,
  geoblock_reason, hide_ads, server_ads, show_ads).
- usher: the master as in TwitchDownloader issue "M3U8 playlist gets improperly modified" (an
  `#EXT-X-TWITCH-INFO` with NODE, MANIFEST-NODE-TYPE, BROADCAST-ID, STREAM-TIME, …, then
  `#EXT-X-MEDIA` + `#EXT-X-STREAM-INF` with VIDEO="chunked" for the source) and twitch-dlp issue
  "Fetching 2k/4k playlist for livestreams" (FRAME-RATE, the `/v1/playlist/…m3u8` media URL).  An
  offline channel: 404 with the JSON list `[{"error": "twirp error not_found: transcode does not exist",
  "error_code": "transcode_does_not_exist", …}]` (streamlink's tests/plugins/test_twitch.py,
  TestTwitchHLSMultivariantResponse "offline").  An HEVC/AV1 rendition is listed only when
  `supported_codecs` names it, as on the VOD side.  A token for another channel or with a wrong signature
  gets a 403 JSON "unauthorized": the stand-in's own answer, as on the VOD side.
- The live media playlist: `#EXT-X-VERSION:3`, `#EXT-X-TARGETDURATION:6` over 2 s segments,
  `#EXT-X-MEDIA-SEQUENCE`, `#EXT-X-TWITCH-LIVE-SEQUENCE`, `#EXT-X-TWITCH-ELAPSED-SECS`,
  `#EXT-X-TWITCH-TOTAL-SECS`, the `playlist-creation` (CLASS="timestamp") and `playlist-session`
  (CLASS="twitch-session") date ranges, then per segment `#EXT-X-PROGRAM-DATE-TIME` with milliseconds and
  Z, `#EXTINF:2.000,live` and an absolute `/v1/segment/…` URL (uBlock Origin uAssets issue "twitch.tv ads",
  TwitchDownloader issue above, streamlink issue "Any way to have Twitch's reduced delay work on
  Streamlink?").  fMP4 renditions add `#EXT-X-MAP` and `#EXT-X-VERSION:6`, as the VOD side does.
- Low latency: two `#EXT-X-TWITCH-PREFETCH:<url>` lines after the last segment, none while an ad plays
  (streamlink's twitch plugin, TwitchM3U8Parser.parse_tag_ext_x_twitch_prefetch, and its tests
  test_hls_low_latency_has_prefetch / …_with_prefetch_ads).  A prefetch URL answers once its segment is
  complete, as a low-latency edge holds the request.
- Stitched ads: each break is announced by `#EXT-X-DATERANGE:ID="stitched-ad-<unix>-<ns>",
  CLASS="twitch-stitched-ad",START-DATE=…,DURATION=…,X-TV-TWITCH-AD-ROLL-TYPE="PREROLL"|"MIDROLL",
  X-TV-TWITCH-AD-POD-LENGTH, …-POD-POSITION, …-COMMERCIAL-ID, …` and a `CLASS="twitch-ad-quartile"` range,
  fenced by `#EXT-X-DISCONTINUITY` on both sides, its segments titled `Amazon|<id>` (streamlink issues
  "plugins.twitch: mid-roll ads ("Commercial Break in Progress") filtering issue with
  --twitch-disable-ads" and "--twitch-disable-ads doesn't resume regular stream output after mid-roll ads
  have stopped"; the plugin's _is_segment_ad and _is_daterange_ad; "pre-roll ads playing before twitch
  stream").  The ad segments replace the content in the live playlist only: the archive VOD of the same
  stream has the real content there (yt-dlp issue "[Site Request] [Twitch] Dealing with pre-roll and
  mid-roll ads": no embedded ads in VODs).  Their picture is the solid Twitch-purple "Commercial Break in
  Progress" screen (streamlink issue "[Twitch] A new "Commercial Break" segment appears when an ad is
  played"), another encode whose timestamps restart, with another tone: `is_ad` checks for that picture.
- The in-progress archive VOD (`LiveSpec.vod_id`) is served by the VOD side: the same content segments,
  listed up to the live edge, no ENDLIST and the 404_processing preview until the stream ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.standins.twitch_media import Layout, Rendition, RenditionMedia, _Encoder, _load, build_rendition
from tests.standins.twitch_tokens import signed_token, token_names
from vodtender.runtime.clock import Clock, SystemClock

__all__ = ["ExpectedRecording", "LiveSite", "LiveSpec", "LiveStream", "ad_frames", "is_ad"]

Reply = tuple[int, bytes, str]  # status, body, content type: twitch.py wraps it in its own answer type

SOURCE = Rendition("1080p60", "h264", "ts")  # a live stream's default rendition
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
NOT_FOUND: Reply = (404, b"404 page not found\n", TEXT_TYPE)
AD_RGB = (0x91, 0x46, 0xFF)  # Twitch purple: the "Commercial Break in Progress" screen
AD_TONE_HZ = 880  # the content's tone is 440 Hz
PREFETCH = 2  # segments hinted ahead of the live edge
TARGET_FACTOR = 3  # Twitch lists #EXT-X-TARGETDURATION:6 over 2 s segments
_PROBE = 8  # frames are scaled to 8x8 for the picture check
_TOLERANCE = 24  # per channel, after YUV round trips
_LIVE_OPERATIONS = ("StreamMetadata", "ComscoreStreamingQuery", "VideoPreviewOverlay")
_STREAM_TOKEN = re.compile(r'streamPlaybackAccessToken\(\s*channelName:\s*"([^"]*)"')


@dataclasses.dataclass(frozen=True)
class LiveSpec:
    """One live stream as the site serves it."""

    rendition: Rendition = SOURCE
    segment_seconds: int = 2
    window: int = 15  # segments in the sliding live playlist
    speed: float = 4.0  # stream seconds per real second
    ad_breaks: tuple[tuple[int, int], ...] = ()  # (first segment, segment count) replaced by stitched ads
    vod_id: str | None = None  # the in-progress archive VOD of the same stream (None: VODs disabled)
    total_segments: int = 120  # how long the stream lasts unless ended earlier

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveSpec:
        fields = dict(data)
        if "rendition" in fields:
            fields["rendition"] = Rendition(**fields["rendition"])
        fields["ad_breaks"] = tuple((int(first), int(count)) for first, count in fields.get("ad_breaks", ()))
        return cls(**fields)

    def problem(self) -> str | None:
        """Why the site cannot serve this spec, or None."""
        if self.rendition.audio_only:
            return "a live stream needs a video rendition (ad segments are told apart by their picture)"
        if self.segment_seconds < 1 or self.window < 1 or self.total_segments < 1 or self.speed <= 0:
            return "segment_seconds, window, total_segments and speed must be positive"
        covered: set[int] = set()
        for first, count in self.ad_breaks:
            span = set(range(first, first + count))
            if count < 1 or first < 0 or first + count > self.total_segments:
                return f"ad break {(first, count)} is not inside the stream's {self.total_segments} segments"
            if span & covered:
                return f"ad break {(first, count)} overlaps another"
            covered |= span
        if self.vod_id is not None and not self.vod_id.isdigit():
            return f"a Twitch VOD id is digits, not {self.vod_id!r}"
        return self.rendition.problem()

    def ad_break(self, index: int) -> tuple[int, int] | None:
        """The break segment `index` belongs to, or None for a content segment."""
        return next(((f, c) for f, c in self.ad_breaks if f <= index < f + c), None)


@dataclasses.dataclass(frozen=True)
class ExpectedRecording:
    """What a correct recording of a span of segments holds."""

    segments: tuple[int, ...]  # the content segments, in order (no ad segment)
    ad_gaps: tuple[tuple[dt.datetime, dt.datetime], ...]  # wall-clock (start, end) of each ad break dropped
    video_packets: int  # of those content segments
    duration: float  # seconds of those content segments
    started_at: dt.datetime | None  # program date time of the first content segment


class LiveStream:
    """One stream of one channel: its clock, its live playlist and its files."""

    def __init__(
        self,
        channel: str,
        stream_id: str,
        spec: LiveSpec,
        media: RenditionMedia,
        ads: RenditionMedia | None,
        edge_url: str,
        clock: Clock,
        title: str,
    ):
        self.channel = channel
        self.stream_id = stream_id
        self.spec = spec
        self.media = media
        self.ads = ads
        self.title = title
        self.ext = "mp4" if spec.rendition.container == "fmp4" else "ts"
        self._edge_url = edge_url  # .../v1
        self._clock = clock
        self._began = clock.time()
        began = dt.datetime.fromtimestamp(self._began, dt.UTC)
        # whole milliseconds, so that the program date times printed are exactly segment_at()
        self.started_at = began.replace(microsecond=began.microsecond // 1000 * 1000)
        self._ended_second: float | None = None  # on the stream's clock, once end() was called
        self.session_id = str(int(hashlib.sha1(stream_id.encode()).hexdigest()[:15], 16))

    # --- the stream's clock ---

    def elapsed(self) -> float:
        """Stream seconds since the start (stops at the end)."""
        running = (self._clock.time() - self._began) * self.spec.speed
        last = self.spec.total_segments * self.spec.segment_seconds
        return min(running, last, self._ended_second if self._ended_second is not None else last)

    def now(self) -> dt.datetime:
        """The stream's clock: the wall clock at speed 1."""
        return self.started_at + dt.timedelta(seconds=self.elapsed())

    @property
    def ended(self) -> bool:
        return self._ended_second is not None or self.elapsed() >= self.spec.total_segments * self.spec.segment_seconds

    @property
    def is_live(self) -> bool:
        """Live as usher and GraphQL say it: a first segment exists and the stream has not ended."""
        return not self.ended and self.live_edge() >= 0

    def end(self) -> None:
        if self._ended_second is None:
            self._ended_second = self.elapsed()

    def live_edge(self) -> int:
        """The newest complete segment (-1 before the first)."""
        return int(self.elapsed() // self.spec.segment_seconds) - 1

    def segment_at(self, index: int) -> dt.datetime:
        """Segment `index`'s program date time."""
        return self.started_at + dt.timedelta(seconds=index * self.spec.segment_seconds)

    def real_time_of(self, index: int) -> float:
        """Unix seconds (on the stream's clock source) at which segment `index` is listed."""
        return self._began + (index + 1) * self.spec.segment_seconds / self.spec.speed

    def vod_folder(self, digest: str) -> str:
        """Its archive VOD's CDN folder, as Twitch names it: <hash>_<channel>_<stream id>_<start epoch>."""
        return f"{digest}_{self.channel}_{self.stream_id}_{int(self.started_at.timestamp())}"

    def first_listed(self) -> int:
        return max(0, self.live_edge() - self.spec.window + 1)

    # --- what a recording should be ---

    def is_ad_segment(self, index: int) -> bool:
        return self.spec.ad_break(index) is not None

    def expected_recording(self, first: int, last: int, source: str = "live") -> ExpectedRecording:
        """A correct recording of segments `first`..`last` (inclusive, within what the stream has): from the
        live playlist ("live", ad breaks dropped as gaps) or from the in-progress VOD ("vod", content there)."""
        if source not in ("live", "vod"):
            raise ValueError(f"source is 'live' or 'vod', not {source!r}")
        final = self.live_edge() if self.ended else self.spec.total_segments - 1
        indexes = range(max(0, first), min(last, final) + 1)
        kept = tuple(i for i in indexes if source == "vod" or not self.is_ad_segment(i))
        gaps = [] if source == "vod" else self._ad_spans(indexes)
        return ExpectedRecording(
            segments=kept,
            ad_gaps=tuple((self.segment_at(start), self.segment_at(end + 1)) for start, end in gaps),
            video_packets=sum(self.media.segments[i].video_packets for i in kept),
            duration=sum(self.media.segments[i].duration for i in kept),
            started_at=self.segment_at(kept[0]) if kept else None,
        )

    def _ad_spans(self, indexes: range) -> list[tuple[int, int]]:
        spans = []
        for first, count in self.spec.ad_breaks:
            start, end = max(first, indexes.start), min(first + count, indexes.stop) - 1
            if start <= end:
                spans.append((start, end))
        return sorted(spans)

    def state(self) -> dict[str, Any]:
        """For the control API."""
        return {
            "channel": self.channel,
            "stream_id": self.stream_id,
            "started_at": self.started_at.isoformat(),
            "live_edge": self.live_edge(),
            "ended": self.ended,
            "vod_id": self.spec.vod_id,
        }

    # --- what the site serves ---

    def master(self, codecs: set[str], user_ip: str) -> str:
        rendition, media = self.spec.rendition, self.media
        info = [
            'NODE="video-edge-5a1f3c.lo01"',
            'MANIFEST-NODE-TYPE="weaver_cluster"',
            'MANIFEST-NODE="video-weaver.lo01"',
            'SUPPRESS="false"',
            f'SERVER-TIME="{self._clock.time():.2f}"',
            f'USER-IP="{user_ip}"',
            f'SERVING-ID="{hashlib.md5(self.session_id.encode()).hexdigest()}"',
            'CLUSTER="lo01"',
            'ABS="false"',
            f'BROADCAST-ID="{self.stream_id}"',
            f'STREAM-TIME="{self.elapsed():.6f}"',
            'MANIFEST-CLUSTER="lo01"',
        ]
        lines = ["#EXTM3U", f"#EXT-X-TWITCH-INFO:{','.join(info)}"]
        if rendition.codec in codecs:
            lines += [
                f'#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="chunked",NAME="{rendition.name}",AUTOSELECT=YES,DEFAULT=YES',
                f'#EXT-X-STREAM-INF:BANDWIDTH={media.bandwidth},RESOLUTION={media.resolution},CODECS="{media.codecs}",'
                f'VIDEO="chunked",FRAME-RATE={rendition.fps:.3f}',
                self.playlist_url(),
            ]
        return "\n".join(lines) + "\n"

    def playlist_url(self) -> str:
        return f"{self._edge_url}/playlist/{self.stream_id}/chunked.m3u8"

    def segment_url(self, index: int) -> str:
        folder = "ad" if self.is_ad_segment(index) else "chunked"
        return f"{self._edge_url}/segment/{self.stream_id}/{folder}/{index}.{self.ext}"

    def media_playlist(self) -> str:
        edge, first, seconds = self.live_edge(), self.first_listed(), self.spec.segment_seconds
        listed = range(first, edge + 1)
        created = _iso(self.started_at)
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{6 if self.ext == 'mp4' else 3}",
            f"#EXT-X-TARGETDURATION:{seconds * TARGET_FACTOR}",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
            f"#EXT-X-TWITCH-LIVE-SEQUENCE:{first}",
            f"#EXT-X-TWITCH-ELAPSED-SECS:{first * seconds:.3f}",
            f"#EXT-X-TWITCH-TOTAL-SECS:{(edge + 1) * seconds:.3f}",
            f'#EXT-X-DATERANGE:ID="playlist-creation-{int(self._began)}",CLASS="timestamp",START-DATE="{created}",'
            f'END-ON-NEXT=YES,X-SERVER-TIME="{self._began:.2f}"',
            f'#EXT-X-DATERANGE:ID="playlist-session-{int(self._began)}",CLASS="twitch-session",'
            f'START-DATE="{created}",END-ON-NEXT=YES,X-TV-TWITCH-SESSIONID="{self.session_id}"',
        ]
        previous_ad: bool | None = None
        init: str | None = None
        for index in listed:
            ad_break = self.spec.ad_break(index)
            if ad_break and index in (ad_break[0], first):
                lines += self._ad_dateranges(ad_break, announce_quartile=index == ad_break[0])
            if previous_ad is not None and previous_ad != bool(ad_break):
                lines.append("#EXT-X-DISCONTINUITY")
            segment_init = self._init_of(index)
            if segment_init != init:
                init = segment_init
                lines.append(f'#EXT-X-MAP:URI="{self._init_url(index)}"')
            title = f"Amazon|{self._creative_id(ad_break)}" if ad_break else "live"
            lines += [
                f"#EXT-X-PROGRAM-DATE-TIME:{_iso(self.segment_at(index))}",
                f"#EXTINF:{self._duration(index):.3f},{title}",
                self.segment_url(index),
            ]
            previous_ad = bool(ad_break)
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        elif edge >= 0 and not self.is_ad_segment(edge):
            for index in range(edge + 1, min(edge + 1 + PREFETCH, self.spec.total_segments)):
                if self.is_ad_segment(index):
                    break  # no hints while an ad plays, nor into one
                lines.append(f"#EXT-X-TWITCH-PREFETCH:{self.segment_url(index)}")
        return "\n".join(lines) + "\n"

    def _ad_dateranges(self, ad_break: tuple[int, int], announce_quartile: bool) -> list[str]:
        first, count = ad_break
        start = self.segment_at(first)
        seconds = count * self.spec.segment_seconds
        commercial = hashlib.md5(f"{self.stream_id}-{first}".encode()).hexdigest()
        ranges = [
            f'#EXT-X-DATERANGE:ID="stitched-ad-{int(start.timestamp())}-{seconds * 10**9}",'
            f'CLASS="twitch-stitched-ad",START-DATE="{_iso(start)}",DURATION={seconds:.3f},'
            f'X-TV-TWITCH-AD-ROLL-TYPE="{"PREROLL" if first == 0 else "MIDROLL"}",'
            f'X-TV-TWITCH-AD-CREATIVE-ID="{self._creative_id(ad_break)}",X-TV-TWITCH-AD-COMMERCIAL-ID="{commercial}",'
            f'X-TV-TWITCH-AD-POD-LENGTH="1",X-TV-TWITCH-AD-POD-POSITION="0",'
            f'X-TV-TWITCH-AD-AD-SESSION-ID="{commercial[::-1]}"'
        ]
        if announce_quartile:
            ranges.append(
                f'#EXT-X-DATERANGE:ID="quartile-{int(start.timestamp())}-0",CLASS="twitch-ad-quartile",'
                f'START-DATE="{_iso(start)}",DURATION={self.spec.segment_seconds:.3f},X-TV-TWITCH-AD-QUARTILE="0"'
            )
        return ranges

    def _creative_id(self, ad_break: tuple[int, int] | None) -> int:
        return 2_474_283_100_000 + (ad_break[0] if ad_break else 0)

    def _source(self, index: int) -> tuple[RenditionMedia, int]:
        """The encode a listed segment comes from and its index in that encode."""
        ad_break = self.spec.ad_break(index)
        if ad_break is None or self.ads is None:
            return self.media, index
        return self.ads, index - ad_break[0]

    def _duration(self, index: int) -> float:
        media, position = self._source(index)
        return media.segments[position].duration

    def _init_of(self, index: int) -> str | None:
        media, position = self._source(index)
        init = media.segments[position].init
        return None if init is None else f"{'ad' if media is self.ads else 'chunked'}/{init}"

    def _init_url(self, index: int) -> str:
        return f"{self._edge_url}/segment/{self.stream_id}/{self._init_of(index)}"

    def file(self, folder: str, name: str) -> bytes | None:
        """The bytes of `folder/name` (folder "chunked" or "ad"), None when the edge has no such file."""
        media = self.ads if folder == "ad" else self.media
        if media is None or folder not in ("ad", "chunked"):
            return None
        if re.fullmatch(r"init-\d+\.mp4", name):
            return media.read(name)
        match = re.fullmatch(rf"(\d+)\.{self.ext}", name)
        if match is None:
            return None
        index = int(match.group(1))
        if (folder == "ad") != self.is_ad_segment(index) or not self._reachable(index):
            return None
        source, position = self._source(index)
        return source.read(source.segments[position].file)

    def _reachable(self, index: int) -> bool:
        """Listed, recently listed, or a prefetch hint that completes while the request waits."""
        edge = self.live_edge()
        if index <= edge:
            return index >= self.first_listed() - self.spec.window
        if self.ended or index > edge + PREFETCH or index >= self.spec.total_segments:
            return False
        wait = self.real_time_of(index) - self._clock.time()
        time.sleep(max(0.0, wait) + 0.01)
        return index <= self.live_edge()


class LiveSite:
    """The live side of the site: streams by channel, GraphQL answers, usher and the edge."""

    def __init__(self, base_url: str, media_cache: Path):
        self.base_url = base_url
        self.media_cache = media_cache
        self._streams: dict[str, LiveStream] = {}  # by stream id
        self._channels: dict[str, LiveStream] = {}  # the latest stream of each channel
        self._lock = threading.Lock()

    def go_live(
        self,
        channel: str,
        spec: LiveSpec,
        stream_id: str | None = None,
        title: str | None = None,
        clock: Clock | None = None,
    ) -> LiveStream:
        """Encode (or reuse) the stream's media, then start it; ValueError if it cannot be served."""
        channel = channel.lower()
        problem = spec.problem()
        if problem:
            raise ValueError(f"live stream of {channel}: {problem}")
        with self._lock:
            current = self._channels.get(channel)
            if current is not None and not current.ended:
                raise ValueError(f"{channel} is already live (stream {current.stream_id})")
            stream_id = stream_id or str(40_000_000_000 + len(self._streams) * 7919 + _number(channel) % 7919)
            if not stream_id.isdigit() or stream_id in self._streams:
                raise ValueError(f"stream id {stream_id!r} is not digits or is taken")
        media = build_rendition(self.media_cache, spec.rendition, Layout(spec.total_segments, spec.segment_seconds))
        ads = _build_ads(self.media_cache, spec) if spec.ad_breaks else None
        stream = LiveStream(
            channel, stream_id, spec, media, ads, f"{self.base_url}/v1", clock or SystemClock(), title or channel
        )
        with self._lock:
            self._streams[stream_id] = stream
            self._channels[channel] = stream
        return stream

    def end_stream(self, channel: str) -> LiveStream:
        stream = self.current(channel)
        stream.end()
        return stream

    def current(self, channel: str) -> LiveStream:
        """The channel's latest stream (live or ended); KeyError if it never went live."""
        with self._lock:
            if channel.lower() not in self._channels:
                raise KeyError(f"{channel} never went live on the stand-in")
            return self._channels[channel.lower()]

    def _live(self, login: str) -> tuple[bool, LiveStream | None]:
        """(the channel exists, its stream if live now)."""
        with self._lock:
            stream = self._channels.get(login.lower())
        return stream is not None, stream if stream is not None and stream.is_live else None

    # --- GraphQL ---

    def operation(self, op: dict[str, Any]) -> dict[str, Any] | None:
        """The answer to a live operation, None for an operation of the VOD side."""
        token = _STREAM_TOKEN.search(str(op.get("query", "")))
        if token:
            login = token.group(1).lower()
            exists, _ = self._live(login)
            access = None
            if exists:
                value, signature = _stream_token(login)
                access = {"value": value, "signature": signature, "__typename": "PlaybackAccessToken"}
            return {"data": {"streamPlaybackAccessToken": access}}
        name = op.get("operationName")
        if name not in _LIVE_OPERATIONS:
            return None
        variables = op.get("variables") or {}
        login = str(variables.get("channelLogin") or variables.get("channel") or variables.get("login") or "").lower()
        exists, stream = self._live(login)
        user = self._user(name, login, stream) if exists else None
        return {"data": {"user": user}, "extensions": {"operationName": name, "durationMilliseconds": 9}}

    def _user(self, operation: str, login: str, stream: LiveStream | None) -> dict[str, Any]:
        user_id = str(_number(login) % 10**9)
        game = {"id": "509658", "name": "Just Chatting", "displayName": "Just Chatting", "__typename": "Game"}
        latest = self.current(login)
        if operation == "StreamMetadata":
            live = stream and {
                "id": stream.stream_id,
                "type": "live",
                "createdAt": stream.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "viewersCount": 7,
                "game": game,
                "__typename": "Stream",
            }
            return {
                "id": user_id,
                "primaryColorHex": "9146FF",
                "isPartner": False,
                "primaryTeam": None,
                "squadStream": None,
                "channel": {"id": user_id, "chanlets": None, "__typename": "Channel"},
                "lastBroadcast": {"id": latest.stream_id, "title": latest.title, "__typename": "Broadcast"},
                "stream": live,
                "__typename": "User",
            }
        if operation == "ComscoreStreamingQuery":
            return {
                "id": user_id,
                "displayName": login.title(),
                "broadcastSettings": {"id": user_id, "title": latest.title, "__typename": "BroadcastSettings"},
                "stream": stream and {"id": stream.stream_id, "game": game, "__typename": "Stream"},
                "__typename": "User",
            }
        preview = f"{self.base_url}/cdn/previews-ttv/live_user_{login}-440x248.jpg"
        return {
            "id": user_id,
            "login": login,
            "stream": stream and {"id": stream.stream_id, "previewImageURL": preview, "__typename": "Stream"},
            "__typename": "User",
        }

    # --- usher and the edge ---

    def route(self, path: str, query: dict[str, str]) -> Reply:
        """`usher/api/channel/hls/<login>.m3u8` and `v1/...` (paths without their leading slash)."""
        usher = re.fullmatch(r"usher/api/channel/hls/([^/]+)\.m3u8", path)
        if usher:
            return self._usher(usher.group(1).lower(), query, f"{self.base_url}/{path}")
        playlist = re.fullmatch(r"v1/playlist/(\d+)/chunked\.m3u8", path)
        if playlist:
            stream = self._streams.get(playlist.group(1))
            return NOT_FOUND if stream is None else (200, stream.media_playlist().encode(), PLAYLIST_TYPE)
        segment = re.fullmatch(r"v1/segment/(\d+)/(\w+)/([\w.-]+)", path)
        stream = self._streams.get(segment.group(1)) if segment else None
        data = stream.file(segment.group(2), segment.group(3)) if stream and segment else None
        if data is None:
            return NOT_FOUND
        return 200, data, "video/mp4" if path.endswith(".mp4") else "video/mp2t"

    def _usher(self, login: str, query: dict[str, str], url: str) -> Reply:
        if not _token_matches(login, query.get("token", ""), query.get("sig", "")):
            return _usher_error(403, "Unauthorized", "unauthorized", url)
        _, stream = self._live(login)
        if stream is None:
            return _usher_error(404, "twirp error not_found: transcode does not exist", "transcode_does_not_exist", url)
        codecs = set(query.get("supported_codecs", "h264").split(","))
        return 200, stream.master(codecs, "127.0.0.1").encode(), PLAYLIST_TYPE


def is_ad(media: bytes | Path) -> bool:
    """Whether decodable media (a TS segment, an fMP4 init + fragment, a whole recording) shows the
    commercial-break picture in any frame."""
    return ad_frames(media) > 0


def ad_frames(media: bytes | Path) -> int:
    """Frames of the commercial-break picture in decodable media; ValueError if ffmpeg cannot decode it."""
    source, data = ("-", media) if isinstance(media, bytes) else (str(media), None)
    answer = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", source, "-map", "0:v:0", "-fps_mode", "passthrough",
         "-vf", f"scale={_PROBE}:{_PROBE}:flags=area,format=rgb24", "-f", "rawvideo", "-"],
        input=data, capture_output=True,
    )  # fmt: skip
    if answer.returncode != 0:
        raise ValueError(f"ffmpeg cannot decode the media: {answer.stderr.decode(errors='replace').strip()}")
    size = _PROBE * _PROBE * 3
    frames = [answer.stdout[at : at + size] for at in range(0, len(answer.stdout) - size + 1, size)]
    return sum(1 for frame in frames if _is_ad_picture(frame))


def _is_ad_picture(frame: bytes) -> bool:
    return all(abs(frame[at + c] - AD_RGB[c]) <= _TOLERANCE for at in range(0, len(frame), 3) for c in range(3))


class _AdEncoder(_Encoder):
    """twitch_media's encoder with the commercial-break picture and tone instead of the test pattern."""

    def _encode(self, first: int, count: int, size: str, init: str | None) -> list[float]:
        seconds, fps = self.layout.segment_seconds, self.rendition.fps
        fmp4 = self.rendition.container == "fmp4"
        container = (
            ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", init or "init-0.mp4"]
            if fmp4
            else ["-hls_segment_type", "mpegts"]
        )
        playlist = self.folder / "ads.m3u8"
        colour = "".join(f"{c:02X}" for c in AD_RGB)
        command = [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"color=c=0x{colour}:size={size}:rate={fps}",
            "-f", "lavfi", "-i", f"sine=frequency={AD_TONE_HZ}:sample_rate=48000",
            "-t", str(count * seconds), *self._video_codec(seconds * fps), "-c:a", "aac", "-b:a", "32k",
            "-f", "hls", "-hls_time", str(seconds), "-hls_playlist_type", "vod", "-hls_list_size", "0",
            "-start_number", str(first), *container,
            "-hls_segment_filename", str(self.folder / f"%d.{'mp4' if fmp4 else 'ts'}"), str(playlist),
        ]  # fmt: skip
        subprocess.run(command, check=True, env={**os.environ, "SVT_LOG": "1"})
        durations = [
            float(line[8:].rstrip(",")) for line in playlist.read_text().splitlines() if line[:8] == "#EXTINF:"
        ]
        playlist.unlink()
        return durations


def _build_ads(cache: Path, spec: LiveSpec) -> RenditionMedia:
    """The commercial-break encode for the longest break, encoded once per shape and cached."""
    layout = Layout(max(count for _, count in spec.ad_breaks), spec.segment_seconds)
    key = json.dumps(["ad", {**dataclasses.asdict(spec.rendition), "name": ""}, dataclasses.asdict(layout)])
    folder = cache / f"ad-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if not (folder / "media.json").exists():
        building = folder.with_name(folder.name + f".building-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir(parents=True)
        _AdEncoder(building, spec.rendition, layout).run()
        shutil.rmtree(folder, ignore_errors=True)
        building.rename(folder)
    return _load(folder)


def _iso(moment: dt.datetime) -> str:
    """As Twitch writes dates in playlists: milliseconds and Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _number(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:12], 16)


def _stream_token(login: str) -> tuple[str, str]:
    """A stream playback access token: its JSON value and the value's signature."""
    return signed_token(
        {
            "adblock": False,
            "authorization": {"forbidden": False, "reason": ""},
            "channel": login,
            "channel_id": _number(login) % 10**9,
            "chansub": {"restricted_bitrates": []},
            "expires": int(time.time()) + 20 * 60,
            "geoblock_reason": "",
            "hide_ads": False,
            "server_ads": True,
            "show_ads": True,
            "user_id": None,
            "user_ip": "127.0.0.1",
            "version": 2,
        }
    )


def _token_matches(login: str, token: str, signature: str) -> bool:
    return token_names(token, signature, "channel", login)


def _usher_error(status: int, error: str, code: str, url: str) -> Reply:
    body = json.dumps([{"error": error, "error_code": code, "type": "error", "url": url}]).encode()
    return status, body, JSON_TYPE
