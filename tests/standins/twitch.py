"""Twitch on loopback for VODs: GraphQL, usher and the VOD CDN on one port, answering as Twitch answers.

    site = TwitchStandin(root, media_cache=cache).start()
    site.add_vod("1001", VodSpec((Rendition("1080p60", "h265", "fmp4"), Rendition("480p30"))), title="Stream")
    with point_ytdlp_at(site.base_url):            # yt-dlp's real Twitch extractor now talks to the stand-in
        yt_dlp.YoutubeDL().extract_info("https://www.twitch.tv/videos/1001", download=False)
    env.update(ytdlp_hook_env(site.base_url))       # the same for a child process (sitecustomize hook)
    site.add_rule("*/chunked/7.mp4", status=503, times=2)   # fault rules as tests/standins/hls.py has them
    site.expected("1001", "1080p60")                # what a correct download of that rendition holds
    site.stop()

Paths (one port for the three hosts):
    POST /gql                           GraphQL: VideoMetadata, VideoPlayer_ChapterSelectButtonVideo,
                                        VideoPlayer_VODSeekbarPreviewVideo (persisted queries, one list) and
                                        the videoPlaybackAccessToken query; VideoCommentsByOffsetOrCursor
                                        (the comment replay: tests/standins/twitch_comments.py)
    GET  /usher/vod/<id>.m3u8           the master playlist (token and sig checked, supported_codecs honoured)
    GET  /cdn/<vod path>/<rendition>/…  media playlists, segments, init sections, storyboard JSON
    the live side (tests/standins/twitch_live.py): the stream GraphQL operations and token, usher's
    /usher/api/channel/hls/<login>.m3u8, the live edge's /v1/playlist/… and /v1/segment/…

What each answer is modelled on (public sources):
- The GraphQL operations, their variables, the token query text and what is read back: yt-dlp's Twitch
  extractor (yt_dlp/extractor/twitch.py: _download_info, _download_access_token, _extract_info_gql,
  _extract_storyboard).  A deleted VOD answers `video: null`; a VOD still recording has the
  `404_processing_…png` preview and broadcastType ARCHIVE (that file's comment about yt-dlp issue 14455).
  A request without Client-ID is refused with a 400 JSON error (the message Twitch's APIs give for a
  missing Client-ID; no archiver's fixture records it).
- The access token value's fields (authorization, chansub, expires, vod_id, …): the token printed in
  TwitchLeecher's issue "Can't download VODS, errors out" and streamlink's Twitch plugin's token schema.
- The usher master: `#EXT-X-TWITCH-INFO:ORIGIN="s3",B="false",REGION=…,CLUSTER=…,MANIFEST-CLUSTER=…` then
  per rendition an `#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID=…,NAME=…` and `#EXT-X-STREAM-INF` with BANDWIDTH,
  CODECS, RESOLUTION, VIDEO, FRAME-RATE and an absolute CDN URL (streamlink pull request "tell twitch.tv
  we can eat HEVC and AV1"; streamlink's tests/resources/hls/test_master_twitch_vod.m3u8 and
  test_multivariant_codecs.m3u8 for the AV1/HEVC variants).  The source rendition lives in `chunked/`.
  The "ivs" shape has no EXT-X-MEDIA and STABLE-VARIANT-ID / IVS-NAME / IVS-GROUPS / IVS-VARIANT-SOURCE
  attributes instead (streamlink's tests/resources/hls/test_multivariant_twitch_usher_v2.m3u8).
- HEVC/AV1 renditions are listed only when `supported_codecs` names them; without the parameter Twitch
  serves h264 (twitch-hls-client issue "New codecs in supported_codecs usher param", streamlink pull
  request "plugins.twitch: add --twitch-supported-codecs", yt-dlp pull request "[extractor/twitch]
  Support AV1/HEVC extraction").
- A sub-only VOD: usher answers 403 with a JSON list `[{"error":"Manifest is resticted" (sic),
  "error_code":"vod_manifest_restricted","type":"error","url":…}]` (streamlink issue "Client error 403 -
  VOD manifest is restricted"; yt-dlp's extractor reads element 0 of that list).  An unknown VOD: 404
  `404 page not found` in text/plain (TwitchLeecher issue above).  A token that does not match its VOD
  or signature gets a 403 JSON "unauthorized": the stand-in's own answer, no public record shows it.
- Media playlists: `#EXT-X-VERSION:3` (TS) or `:6` (fMP4), `#EXT-X-TARGETDURATION`, `#ID3-EQUIV-TDTG`,
  `#EXT-X-PLAYLIST-TYPE:EVENT`, `#EXT-X-MEDIA-SEQUENCE:0`, `#EXT-X-TWITCH-ELAPSED-SECS`,
  `#EXT-X-TWITCH-TOTAL-SECS`, `#EXTINF:2.000,` then a relative `N.ts`; fMP4 adds
  `#EXT-X-MAP:URI="init-0.mp4"` and `N.mp4` (twitch-dlp issues "Download sub-only videos" and "Can't
  download video with some unmuted segments"; yt-dlp issues "[Twitch] broken download" and "Cannot
  download Twitch VOD with initialization fragments after media fragments", which also show the
  `#EXT-X-DISCONTINUITY` + second `#EXT-X-MAP` shape; Ganymede issue "Initialization fragment found after
  media fragments").  No `#EXT-X-ENDLIST` while the VOD still records.
- Muting: `index-dvr.m3u8` lists a muted segment as `N-unmuted.ts`, which answers 403, while the master
  points at `index-muted-<SLUG>.m3u8`, which lists `N-muted.ts` (yt-dlp issue "[Broken] muted Twitch
  vods", TwitchDownloader issue "Unmute muted sections of vods").  The CDN is S3 behind CloudFront: a
  missing or withheld object answers 403 with the 111-byte `AccessDenied` XML (twitch-dlp issue above),
  which is also how a lost segment answers.
- EXT-X-BYTERANGE and EXT-X-KEY AES-128 are not shapes Twitch VODs use today; they follow RFC 8216 so a
  fetcher's handling of them can be tested against the same site.

Run as a process: `python -m tests.standins.twitch --root DIR [--media-cache DIR] [--port 0]` prints its
base URL; the same control API over HTTP:
    POST   /_control/vods           {"vod_id": "1001", "spec": {...VodSpec fields...}, "title": "..."}
    POST   /_control/vods/<id>/finish
    GET    /_control/expected?vod_id=1001&rendition=1080p60
    POST   /_control/rules          {"pattern": "*/7.ts", "status": 503, "times": 2}
    DELETE /_control/rules
    GET    /_control/counts | DELETE /_control/counts
    GET    /_control/requests       -> [[path, {query}], ...]
    POST   /_control/live           {"channel": "chan", "spec": {...LiveSpec fields...}, "stream_id": "..."}
    POST   /_control/live/<channel>/end
    GET    /_control/live/<channel> -> {"stream_id", "started_at", "live_edge", "ended", "vod_id", ...}
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.standins.hls import FaultRules, Rule
from tests.standins.twitch_comments import CommentReplay
from tests.standins.twitch_live import LiveSite, LiveSpec, LiveStream, is_ad
from tests.standins.twitch_media import Layout, Rendition, RenditionMedia, Segment, build_rendition
from tests.standins.twitch_tokens import signed_token, token_names
from vodtender.runtime.clock import Clock
from vodtender.runtime.httpserver import HttpServer, QuietHandler

__all__ = [
    "Expected",
    "LiveSpec",
    "LiveStream",
    "Rendition",
    "TwitchStandin",
    "VodSpec",
    "point_ytdlp_at",
    "ytdlp_hook_env",
]

HOOK_DIR = Path(__file__).resolve().parent / "ytdlp_hook"
REPO = Path(__file__).resolve().parents[2]
BASE_VARIABLE = "VODTENDER_TEST_TWITCH_BASE"
STATES = ("ok", "deleted", "sub_only", "usher_404", "access_denied")
SHAPES = ("media_groups", "ivs")
ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
)
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
JSON_TYPE = "application/json"
CHUNK = 64 * 1024
_CREATED = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class VodSpec:
    """One VOD as the site serves it (see the module docstring for what each choice looks like)."""

    renditions: tuple[Rendition, ...]  # the first is the source, served from chunked/
    segments: int = 20
    segment_seconds: int = 2
    muted: tuple[int, ...] = ()  # listed as N-unmuted (403) in index-dvr, served as N-muted
    lost: tuple[int, ...] = ()  # every name of the segment answers 403 AccessDenied
    discontinuity_at: int | None = None  # EXT-X-DISCONTINUITY before segment N, timestamps restart
    init_change_at: int | None = None  # fMP4: EXT-X-DISCONTINUITY + init-1.mp4 (another resolution)
    recording: bool = False  # half the segments listed, no ENDLIST, 404_processing preview
    state: str = "ok"  # see STATES
    master_shape: str = "media_groups"  # or "ivs"
    byterange: bool = False  # one file per encode, segments as EXT-X-BYTERANGE
    encrypted: bool = False  # every file AES-128-CBC, one EXT-X-KEY with an explicit IV

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VodSpec:
        fields = {**data, "renditions": tuple(Rendition(**r) for r in data["renditions"])}
        for name in ("muted", "lost"):
            fields[name] = tuple(fields.get(name, ()))
        return cls(**fields)

    @property
    def layout(self) -> Layout:
        return Layout(self.segments, self.segment_seconds, self.muted, self.discontinuity_at, self.init_change_at)

    def problem(self) -> str | None:
        """Why the site cannot serve this spec, or None."""
        if not self.renditions:
            return "a VOD needs at least one rendition"
        if self.state not in STATES:
            return f"unknown state {self.state!r} (one of {', '.join(STATES)})"
        if self.master_shape not in SHAPES:
            return f"unknown master_shape {self.master_shape!r} (one of {', '.join(SHAPES)})"
        if self.byterange and (self.muted or self.lost or self.encrypted):
            return "byterange playlists have one file per encode: no muted, lost or encrypted segments"
        if any(not 0 <= i < self.segments for i in (*self.muted, *self.lost)):
            return f"muted/lost segments must be in 0..{self.segments - 1}"
        names = [r.name for r in self.renditions]
        if len(set(names)) != len(names) or "chunked" in names[1:]:
            return f"rendition names repeat (chunked/ is the source's folder): {names}"
        return None


@dataclasses.dataclass(frozen=True)
class Expected:
    """What a correct, complete download of one rendition holds."""

    duration: float  # seconds, the sum of the playlist's EXTINF (the whole VOD, even while recording)
    video_packets: int  # of the source media, every segment
    segment_packets: tuple[int, ...]  # per segment, in order
    lost_spans: tuple[tuple[float, float], ...]  # (start, end) seconds no download can have
    muted_spans: tuple[tuple[float, float], ...]  # (start, end) seconds served with silent audio
    discontinuities: tuple[int, ...]  # segment indexes where timestamps restart


class _Served:
    """One rendition of one VOD: its media and how its files are named and answered."""

    def __init__(self, folder: str, rendition: Rendition, media: RenditionMedia, spec: VodSpec, key: bytes):
        self.folder = folder
        self.rendition = rendition
        self.media = media
        self.spec = spec
        self.key = key
        self.ext = "mp4" if rendition.container == "fmp4" else "ts"
        self._offsets = self._byte_offsets() if spec.byterange else {}
        self._encrypted: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        """The NAME Twitch shows for it (the source folder is chunked/, its NAME the quality)."""
        if self.rendition.audio_only:
            return "Audio Only"
        if self.rendition.name != "chunked":
            return self.rendition.name
        return f"{self.rendition.size.split('x')[1]}p{self.rendition.fps}"

    def listed_name(self, segment: Segment, muted_index: bool) -> str:
        if segment.index in self.spec.muted:
            return f"{segment.index}-{'muted' if muted_index else 'unmuted'}.{self.ext}"
        return segment.file

    def media_playlist(self, segments: tuple[Segment, ...], muted_index: bool, finished: bool) -> str:
        total = sum(s.duration for s in segments)
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{6 if self.rendition.container == 'fmp4' else 3}",
            f"#EXT-X-TARGETDURATION:{self.spec.segment_seconds}",
            f"#ID3-EQUIV-TDTG:{(_CREATED + dt.timedelta(seconds=total)).strftime('%Y-%m-%dT%H:%M:%S')}",
            "#EXT-X-PLAYLIST-TYPE:EVENT",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-TWITCH-ELAPSED-SECS:0.000",
            f"#EXT-X-TWITCH-TOTAL-SECS:{total:.3f}",
        ]
        if self.spec.encrypted:
            lines.append(f'#EXT-X-KEY:METHOD=AES-128,URI="key.bin",IV=0x{self._iv().hex()}')
        init = None
        for segment in segments:
            if segment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if segment.init != init:
                init = segment.init
                lines.append(f'#EXT-X-MAP:URI="{init}"')
            lines.append(f"#EXTINF:{segment.duration:.3f},")
            if self.spec.byterange:
                start, length, file = self._offsets[segment.index]
                lines += [f"#EXT-X-BYTERANGE:{length}@{start}", file]
            else:
                lines.append(self.listed_name(segment, muted_index))
        if finished:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def file(self, name: str, listed: int) -> bytes | None:
        """The bytes the CDN holds under `name`, or None (S3 then answers AccessDenied)."""
        if name == "key.bin" and self.spec.encrypted:
            return self.key
        if self.spec.byterange and name.startswith("media-"):
            return self._byterange_file(name)
        match = re.fullmatch(rf"(\d+)(-muted)?\.{self.ext}", name)
        if match:
            index = int(match.group(1))
            muted = index in self.spec.muted
            if index >= listed or index in self.spec.lost or muted != bool(match.group(2)):
                return None
            name = f"{index}.{self.ext}"
        elif not re.fullmatch(r"init-\d+\.mp4", name):
            return None
        data = self.media.read(name)
        return data if data is None or not self.spec.encrypted else self._encrypt(name, data)

    def _byte_offsets(self) -> dict[int, tuple[int, int, str]]:
        """segment index -> (offset, length, file) when each encode is one file."""
        offsets: dict[int, tuple[int, int, str]] = {}
        part, position = -1, 0
        for segment in self.media.segments:
            if segment.index == 0 or segment.discontinuity:
                part, position = part + 1, 0
            size = (self.media.folder / segment.file).stat().st_size
            offsets[segment.index] = (position, size, f"media-{part}.{self.ext}")
            position += size
        return offsets

    def _byterange_file(self, name: str) -> bytes | None:
        files = [s.file for s in self.media.segments if self._offsets[s.index][2] == name]
        return b"".join(self.media.read(f) or b"" for f in files) if files else None

    def _iv(self) -> bytes:
        return hashlib.sha256(self.key).digest()[:16]

    def _encrypt(self, name: str, data: bytes) -> bytes:
        with self._lock:
            if name not in self._encrypted:
                padder = padding.PKCS7(128).padder()
                encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self._iv())).encryptor()
                self._encrypted[name] = encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()
            return self._encrypted[name]


class _Vod:
    """A VOD: its GraphQL record, its master playlist and its renditions on the CDN."""

    def __init__(self, vod_id: str, spec: VodSpec, channel: str, title: str, media: list[RenditionMedia]):
        self.vod_id = vod_id
        self.spec = spec
        self.channel = channel
        self.title = title
        self.live: LiveStream | None = None  # the stream this VOD is the in-progress archive of
        self._finished = not spec.recording
        digest = hashlib.sha1(vod_id.encode()).hexdigest()
        stream_id = 40_000_000_000 + int(digest[:8], 16)
        # as Twitch names a VOD's CDN folder: <hash>_<channel>_<stream id>_<start epoch>
        self.path = f"{digest[:20]}_{channel}_{stream_id}_{int(_CREATED.timestamp())}"
        self.slug = "".join(chr(ord("A") + int(c, 16) % 26) for c in digest[20:30])
        key = hashlib.sha256(b"key" + vod_id.encode()).digest()[:16]
        self.renditions = {
            folder: _Served(folder, rendition, built, spec, key)
            for folder, rendition, built in zip(self._folders(), spec.renditions, media, strict=True)
        }

    def _folders(self) -> list[str]:
        return ["chunked", *(r.name for r in self.spec.renditions[1:])]

    @property
    def finished(self) -> bool:
        return self.live.ended if self.live is not None else self._finished

    @finished.setter
    def finished(self, value: bool) -> None:
        self._finished = value

    @property
    def index_name(self) -> str:
        """The media playlist the master points at: the muted index once Twitch muted something."""
        return f"index-muted-{self.slug}.m3u8" if self.spec.muted else "index-dvr.m3u8"

    def listed(self) -> int:
        """Segments the playlists list now: half while recording, up to the live edge for a live stream's."""
        if self.live is not None:
            return self.live.live_edge() + 1
        return self.spec.segments if self.finished else max(1, self.spec.segments // 2)

    def find(self, rendition: str) -> _Served:
        """By folder ("chunked") or by the rendition's name; KeyError if it has neither."""
        for served in self.renditions.values():
            if rendition in (served.folder, served.rendition.name):
                return served
        raise KeyError(f"VOD {self.vod_id} has no rendition {rendition!r}")

    def master(self, cdn: str, codecs: set[str]) -> str:
        lines = [
            "#EXTM3U",
            '#EXT-X-TWITCH-INFO:ORIGIN="s3",B="false",REGION="EU",USER-IP="127.0.0.1",'
            f'SERVING-ID="{hashlib.md5(self.vod_id.encode()).hexdigest()}",CLUSTER="cloudfront_vod",'
            'USER-COUNTRY="DE",MANIFEST-CLUSTER="cloudfront_vod"',
        ]
        for served in self.renditions.values():
            if not served.rendition.audio_only and served.rendition.codec not in codecs:
                continue
            lines += self._variant(served, f"{cdn}/{self.path}/{served.folder}/{self.index_name}")
        return "\n".join(lines) + "\n"

    def _variant(self, served: _Served, url: str) -> list[str]:
        rendition, media = served.rendition, served.media
        stream = [f"BANDWIDTH={media.bandwidth}", f'CODECS="{media.codecs}"']
        if media.resolution:
            stream.append(f"RESOLUTION={media.resolution}")
        if self.spec.master_shape == "ivs":
            groups = "landscape,portrait" if rendition.audio_only else "landscape"
            stream += [
                f"FRAME-RATE={rendition.fps:.3f}",
                f'STABLE-VARIANT-ID="{served.folder}"',
                f'IVS-NAME="{served.label}"',
                f'IVS-GROUPS="{groups}"',
                'IVS-VARIANT-SOURCE="source"',
            ]
            return [f"#EXT-X-STREAM-INF:{','.join(stream)}", url]
        default = "NO" if rendition.audio_only else "YES"
        stream.append(f'VIDEO="{served.folder}"')
        if not rendition.audio_only:
            stream.append(f"FRAME-RATE={rendition.fps:.3f}")
        return [
            f'#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="{served.folder}",NAME="{served.label}",'
            f"AUTOSELECT={default},DEFAULT={default}",
            f"#EXT-X-STREAM-INF:{','.join(stream)}",
            url,
        ]

    def playlist(self, served: _Served, name: str) -> str | None:
        if name not in ("index-dvr.m3u8", self.index_name):
            return None
        segments = served.media.segments[: self.listed()]
        return served.media_playlist(segments, muted_index=name != "index-dvr.m3u8", finished=self.finished)

    def gql_video(self, cdn: str) -> dict[str, Any]:
        listed = self.renditions["chunked"].media.segments[: self.listed()]
        preview = (
            f"{cdn}/{self.path}/thumb/thumb0-320x180.jpg" if self.finished else f"{cdn}/_404/404_processing_320x180.png"
        )
        created = self.live.started_at if self.live is not None else _CREATED
        return {
            "id": self.vod_id,
            "title": self.title,
            "description": None,
            "previewThumbnailURL": preview,
            "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "publishedAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lengthSeconds": round(sum(s.duration for s in listed)),
            "viewCount": 7,
            "broadcastType": "ARCHIVE",
            "owner": {"id": "1234", "login": self.channel, "displayName": self.channel.title(), "__typename": "User"},
            "game": {"id": "509658", "displayName": "Just Chatting", "name": "Just Chatting", "__typename": "Game"},
            "__typename": "Video",
        }

    def storyboard(self) -> list[dict[str, Any]]:
        """The seek-preview index the player (and yt-dlp's storyboard formats) read."""
        seconds = sum(s.duration for s in self.renditions["chunked"].media.segments[: self.listed()])
        count = max(1, int(seconds // 10))
        return [
            {
                "count": count,
                "width": 220,
                "rows": 10,
                "cols": 10,
                "height": 124,
                "quality": "low",
                "interval": 10,
                "images": [f"{self.vod_id}-low-0.jpg"],
            }
        ]

    def expected(self, rendition: str) -> Expected:
        segments = self.find(rendition).media.segments
        starts = [sum(s.duration for s in segments[:i]) for i in range(len(segments))]

        def spans(indexes: tuple[int, ...]) -> tuple[tuple[float, float], ...]:
            return tuple((starts[i], starts[i] + segments[i].duration) for i in sorted(indexes))

        return Expected(
            duration=sum(s.duration for s in segments),
            video_packets=sum(s.video_packets for s in segments),
            segment_packets=tuple(s.video_packets for s in segments),
            lost_spans=spans(self.spec.lost),
            muted_spans=spans(self.spec.muted),
            discontinuities=tuple(s.index for s in segments if s.discontinuity),
        )


def _token(vod_id: str) -> tuple[str, str]:
    """A playback access token as Twitch issues one: its JSON value and the value's signature."""
    return signed_token(
        {
            "authorization": {"forbidden": False, "reason": ""},
            "chansub": {"restricted_bitrates": []},
            "device_id": None,
            "expires": int(time.time()) + 20 * 3600,
            "https_required": True,
            "privileged": False,
            "user_id": None,
            "version": 2,
            "vod_id": int(vod_id) if vod_id.isdigit() else vod_id,
        }
    )


def _token_matches(vod_id: str, token: str, signature: str) -> bool:
    return token_names(token, signature, "vod_id", vod_id)


@dataclasses.dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def _json(status: int, data: object) -> _Answer:
    return _Answer(status, json.dumps(data).encode(), JSON_TYPE)


def _access_denied() -> _Answer:
    return _Answer(403, ACCESS_DENIED, "application/xml")


def _usher_error(status: int, error: str, code: str, url: str) -> _Answer:
    return _json(status, [{"error": error, "error_code": code, "type": "error", "url": url}])


class TwitchStandin(FaultRules):
    """The site: VODs by id, fault rules, and what was asked of it."""

    def __init__(self, root: Path, media_cache: Path | None = None, host: str = "127.0.0.1", port: int = 0):
        super().__init__()
        self.root = Path(root)
        self.media_cache = Path(media_cache) if media_cache else self.root / "media"
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._vods: dict[str, _Vod] = {}
        self._server = HttpServer((host, port), _handler(self), name="twitch-standin", backlog=128, quiet_errors=True)
        self.live = LiveSite(self._server.url, self.media_cache)
        self.comments = CommentReplay()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash): what ytdlp_hook_env / point_ytdlp_at take."""
        return self._server.url

    @property
    def cdn_url(self) -> str:
        return self.base_url + "/cdn"

    def start(self) -> TwitchStandin:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> TwitchStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_vod(self, vod_id: str, spec: VodSpec, channel: str = "chan", title: str | None = None) -> None:
        """Encode (or reuse from the cache) the VOD's media and serve it under `vod_id`.  ValueError if the
        spec asks for something the site cannot serve."""
        if not vod_id.isdigit():
            raise ValueError(f"a Twitch VOD id is digits, not {vod_id!r}")
        problem = spec.problem()
        if problem:
            raise ValueError(f"VOD {vod_id}: {problem}")
        media = [build_rendition(self.media_cache, r, spec.layout) for r in spec.renditions]
        vod = _Vod(vod_id, spec, channel, title or f"Stream {vod_id}", media)
        with self._lock:
            self._vods[vod_id] = vod

    def go_live(
        self,
        channel: str,
        spec: LiveSpec,
        stream_id: str | None = None,
        *,
        title: str | None = None,
        clock: Clock | None = None,
    ) -> LiveStream:
        """`channel` goes live now (see tests/standins/twitch_live.py); with `spec.vod_id` its in-progress
        archive VOD appears too.  ValueError if the spec cannot be served or the channel is live already."""
        stream = self.live.go_live(channel, spec, stream_id, title, clock)
        if spec.vod_id is not None:
            vod_spec = VodSpec((spec.rendition,), spec.total_segments, spec.segment_seconds, recording=True)
            self.add_vod(spec.vod_id, vod_spec, stream.channel, stream.title)
            vod = self._vod(spec.vod_id)
            vod.live = stream
            vod.path = stream.vod_folder(vod.path.partition("_")[0])
        return stream

    def end_stream(self, channel: str) -> LiveStream:
        """The stream ends: its playlist gets EXT-X-ENDLIST, usher and GraphQL say offline, its VOD finishes."""
        return self.live.end_stream(channel)

    def is_ad(self, data: bytes | Path) -> bool:
        """Whether decodable media shows the stitched-ad picture (twitch_live.is_ad)."""
        return is_ad(data)

    def finish_recording(self, vod_id: str) -> None:
        """The stream ended: every segment listed, EXT-X-ENDLIST, a real preview thumbnail."""
        self._vod(vod_id).finished = True

    def media_playlist_url(self, vod_id: str, rendition: str) -> str:
        """The media playlist the master lists for `rendition` (its name, or "chunked" for the source)."""
        vod = self._vod(vod_id)
        return f"{self.cdn_url}/{vod.path}/{vod.find(rendition).folder}/{vod.index_name}"

    def dvr_playlist_url(self, vod_id: str, rendition: str) -> str:
        """index-dvr.m3u8: where a muted segment is still listed under its 403 `-unmuted` name."""
        vod = self._vod(vod_id)
        return f"{self.cdn_url}/{vod.path}/{vod.find(rendition).folder}/index-dvr.m3u8"

    def expected(self, vod_id: str, rendition: str) -> Expected:
        return self._vod(vod_id).expected(rendition)

    def add_rule(self, pattern: str, **fault: Any) -> Rule:
        """A fault for paths matching `pattern` (fnmatch on the path without its leading slash, e.g.
        "cdn/*/chunked/7.ts" or "usher/*"): status=, times=, rate=, drop_after=, delay=."""
        return super().add_rule(pattern, **fault)

    def reset_counts(self) -> None:
        super().reset_counts()
        with self._lock:
            self.requests.clear()

    def _vod(self, vod_id: str) -> _Vod:
        with self._lock:
            if vod_id not in self._vods:
                raise KeyError(f"no VOD {vod_id} on the stand-in")
            return self._vods[vod_id]

    def _seen(self, path: str, query: dict[str, str]) -> list[Rule]:
        with self._lock:
            self.requests.append((path, query))
        return self.faults_for(path)

    # --- the three hosts ---

    def gql(self, body: bytes, client_id: str | None) -> _Answer:
        if not client_id:
            return _json(
                400,
                {
                    "error": "Bad Request",
                    "status": 400,
                    "message": 'The "Client-ID" header is missing from the request.',
                },
            )
        try:
            request = json.loads(body)
        except ValueError:
            return _json(400, {"error": "Bad Request", "status": 400, "message": "The request body is not JSON."})
        if isinstance(request, list):
            return _json(200, [self._operation(op) for op in request if isinstance(op, dict)])
        if isinstance(request, dict):
            return _json(200, self._operation(request))
        return _json(400, {"error": "Bad Request", "status": 400, "message": "Unexpected request body."})

    def _operation(self, op: dict[str, Any]) -> dict[str, Any]:
        live = self.live.operation(op) or self.comments.operation(op)
        if live is not None:
            return live
        token_query = re.search(r'videoPlaybackAccessToken\(\s*id:\s*"(\d+)"', str(op.get("query", "")))
        if token_query:
            value, signature = _token(token_query.group(1))
            return {
                "data": {
                    "videoPlaybackAccessToken": {
                        "value": value,
                        "signature": signature,
                        "__typename": "PlaybackAccessToken",
                    }
                }
            }
        name = op.get("operationName")
        variables = op.get("variables") or {}
        with self._lock:
            vod = self._vods.get(str(variables.get("videoID")))
        if vod is not None and vod.spec.state == "deleted":
            vod = None
        extensions = {"operationName": name, "durationMilliseconds": 12}
        if name == "VideoMetadata":
            return {
                "data": {"user": None, "currentUser": None, "video": vod.gql_video(self.cdn_url) if vod else None},
                "extensions": extensions,
            }
        if name == "VideoPlayer_ChapterSelectButtonVideo":
            video = {"id": vod.vod_id, "moments": {"edges": []}, "__typename": "Video"} if vod else None
            return {"data": {"video": video}, "extensions": extensions}
        if name == "VideoPlayer_VODSeekbarPreviewVideo":
            video = (
                {
                    "id": vod.vod_id,
                    "seekPreviewsURL": f"{self.cdn_url}/{vod.path}/storyboards/{vod.vod_id}-info.json",
                    "__typename": "Video",
                }
                if vod
                else None
            )
            return {"data": {"video": video}, "extensions": extensions}
        return {"errors": [{"message": "PersistedQueryNotFound"}], "extensions": extensions}

    def usher(self, vod_id: str, query: dict[str, str], url: str) -> _Answer:
        with self._lock:
            vod = self._vods.get(vod_id)
        if vod is None or vod.spec.state in ("usher_404", "deleted"):
            return _Answer(404, b"404 page not found\n")
        if not _token_matches(vod_id, query.get("token", ""), query.get("sig", "")):
            return _usher_error(403, "Unauthorized", "unauthorized", url)
        if vod.spec.state == "sub_only":
            return _usher_error(403, "Manifest is resticted", "vod_manifest_restricted", url)
        codecs = set(query.get("supported_codecs", "h264").split(","))
        return _Answer(200, vod.master(self.cdn_url, codecs).encode(), PLAYLIST_TYPE)

    def cdn(self, path: str) -> _Answer:
        vod_path, _, rest = path.partition("/")
        with self._lock:
            vod = next((v for v in self._vods.values() if v.path == vod_path), None)
        if vod is None:
            return _access_denied()
        if rest == f"storyboards/{vod.vod_id}-info.json":
            return _json(200, vod.storyboard())
        folder, _, name = rest.partition("/")
        served = vod.renditions.get(folder)
        if served is None:
            return _access_denied()
        if name.endswith(".m3u8"):
            text = vod.playlist(served, name)
            if text is None or vod.spec.state == "access_denied":
                return _access_denied()
            return _Answer(200, text.encode(), PLAYLIST_TYPE)
        data = served.file(name, vod.listed())
        if data is None:
            return _access_denied()
        return _Answer(200, data, "video/mp4" if name.endswith(".mp4") else "video/mp2t")

    def control(self, method: str, path: str, query: dict[str, str], body: bytes) -> _Answer:
        try:
            return self._control(method, path, query, json.loads(body) if body else {})
        except (KeyError, TypeError, ValueError) as exc:
            return _json(400, {"error": f"{type(exc).__name__}: {exc}"})

    def _control(self, method: str, path: str, query: dict[str, str], data: Any) -> _Answer:
        finish = re.fullmatch(r"vods/(\d+)/finish", path)
        live = re.fullmatch(r"live/([^/]+)(/end)?", path)
        if method == "POST" and path == "live":
            live_spec = LiveSpec.from_json(data.get("spec", {}))
            stream = self.go_live(data["channel"], live_spec, data.get("stream_id"), title=data.get("title"))
            return _json(200, stream.state())
        if live and method == "POST" and live.group(2):
            return _json(200, self.end_stream(live.group(1)).state())
        if live and method == "GET" and not live.group(2):
            return _json(200, self.live.current(live.group(1)).state())
        if method == "POST" and path == "vods":
            spec = VodSpec.from_json(data["spec"])
            self.add_vod(str(data["vod_id"]), spec, data.get("channel", "chan"), data.get("title"))
            return _json(200, {"vod_id": data["vod_id"], "master": f"{self.base_url}/usher/vod/{data['vod_id']}.m3u8"})
        if method == "POST" and finish:
            self.finish_recording(finish.group(1))
            return _json(200, {})
        if method == "GET" and path == "expected":
            return _json(200, dataclasses.asdict(self.expected(query["vod_id"], query["rendition"])))
        if method == "POST" and path == "rules":
            self.add_rule(**data)
            return _json(200, {"rules": len(self.rules)})
        if method == "DELETE" and path == "rules":
            self.clear_rules()
            return _json(200, {"rules": 0})
        if method == "GET" and path == "counts":
            with self._lock:
                return _json(200, dict(self.counts))
        if method == "GET" and path == "requests":
            with self._lock:
                return _json(200, self.requests)
        if method == "DELETE" and path == "counts":
            self.reset_counts()
            return _json(200, {})
        return _json(404, {"error": f"unknown control call {method} {path}"})

    def route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> _Answer:
        if path.startswith("_control/"):
            return self.control(method, path.removeprefix("_control/"), query, body)
        if path == "gql" and method == "POST":
            return self.gql(body, headers.get("client-id"))
        usher = re.fullmatch(r"usher/vod/(\d+)\.m3u8", path)
        if usher and method in ("GET", "HEAD"):
            return self.usher(usher.group(1), query, f"{self.base_url}/{path}")
        if path.startswith("cdn/") and method in ("GET", "HEAD"):
            return self.cdn(path.removeprefix("cdn/"))
        if path.startswith(("usher/api/channel/hls/", "v1/")) and method in ("GET", "HEAD"):
            return _Answer(*self.live.route(path, query))
        return _Answer(404, b"404 page not found\n")


def _handler(site: TwitchStandin) -> type[QuietHandler]:
    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length

        def do_GET(self) -> None:
            self._answer()

        def do_HEAD(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def do_DELETE(self) -> None:
            self._answer()

        def _answer(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            path = split.path.lstrip("/")
            query = dict(urllib.parse.parse_qsl(split.query))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            faults = [] if path.startswith("_control/") else site._seen(path, query)
            for rule in faults:
                if rule.delay:
                    time.sleep(rule.delay)
            status = next((r.status for r in faults if r.status), None)
            if status:
                return self.reply(status, f"injected {status}\n".encode())
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = site.route(self.command, path, query, headers, body)
            self._send(answer, faults)

        def _send(self, answer: _Answer, faults: list[Rule]) -> None:
            body, code = answer.body, answer.status
            wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
            if wanted and code == 200:
                first = int(wanted.group(1)) if wanted.group(1) else max(0, len(body) - int(wanted.group(2) or 0))
                last = int(wanted.group(2)) if wanted.group(1) and wanted.group(2) else len(body) - 1
                if first >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                code, content_range = 206, f"bytes {first}-{min(last, len(body) - 1)}/{len(body)}"
                body = body[first : min(last, len(body) - 1) + 1]
            self.send_response(code)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if code == 206:
                self.send_header("Content-Range", content_range)
            self.end_headers()
            if self.command != "HEAD":
                self._write(body, faults)

        def _write(self, body: bytes, faults: list[Rule]) -> None:
            drop_after = min((r.drop_after for r in faults if r.drop_after is not None), default=None)
            rate = min((r.rate for r in faults if r.rate), default=None)
            piece = CHUNK if rate is None else max(1024, int(rate / 20))
            began = time.monotonic()
            for sent in range(0, len(body), piece):
                chunk = body[sent : sent + piece]
                if drop_after is not None and sent + len(chunk) > drop_after:
                    self.wfile.write(chunk[: max(0, drop_after - sent)])
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(chunk)
                if rate:
                    ahead = (sent + len(chunk)) / rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)

        def handle(self) -> None:
            # The client went away mid-body: expected when it is killed.
            with contextlib.suppress(ConnectionError, TimeoutError):
                super().handle()

    return Handler


def ytdlp_hook_env(base_url: str, pythonpath: str | None = None) -> dict[str, str]:
    """Settings to merge into a child's environment so the yt-dlp it runs (library or CLI) uses the
    stand-in at `base_url`: the hook folder first on PYTHONPATH (then the repository, then `pythonpath`,
    by default this process's PYTHONPATH) and the variable the hook reads."""
    rest = os.environ.get("PYTHONPATH", "") if pythonpath is None else pythonpath
    return {
        "PYTHONPATH": os.pathsep.join(p for p in (str(HOOK_DIR), str(REPO), rest) if p),
        BASE_VARIABLE: base_url.rstrip("/"),
    }


@contextlib.contextmanager
def point_ytdlp_at(base_url: str) -> Iterator[None]:
    """Within the block, this process's yt-dlp Twitch extractor uses the stand-in at `base_url`."""
    from yt_dlp.extractor import twitch  # type: ignore[attr-defined]  # the stubs list no extractor modules

    from tests.standins.ytdlp_hook.sitecustomize import point_twitch_at

    undo = point_twitch_at(twitch, base_url)
    try:
        yield
    finally:
        undo()


def main() -> None:
    parser = argparse.ArgumentParser(description="Twitch VOD stand-in: GraphQL, usher and CDN on one port")
    parser.add_argument("--root", type=Path, required=True, help="working folder (media cache under it)")
    parser.add_argument("--media-cache", type=Path, help="encodes shared between runs (default: ROOT/media)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    site = TwitchStandin(args.root, media_cache=args.media_cache, port=args.port).start()
    print(site.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        site.stop()


if __name__ == "__main__":
    main()
