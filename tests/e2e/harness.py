"""A scripted "fake Twitch + fake YouTube" on loopback, and a vodtender pointed at it.

    world = FakeTwitch(tmp / "world").start()           # Helix, IRC, Twitch (VODs), YouTube stand-ins
    alice = world.add_channel("alice")
    stack = Stack(tmp / "vodtender", world.settings([alice]), env=world.environment())   # config, database, data
    world.seed_youtube_tokens(stack)
    stack.start_all()                                    # poller, downloader, uploader, chat
    stream = world.plan_stream(alice, live_for=180)      # a stream that began 3 minutes ago
    world.go_live(stream); ...chat...; world.go_offline(stream); world.publish_vod(stream)

The timeline is the test's: `go_live` (Helix lists the stream with its id and start time),
`start_chat` (the IRC stand-in sends chat at a rate, and the test logs every line and
whether anybody heard it), `go_offline`, `publish_vod` (Helix lists the archive VOD with the
same stream id and a start time a few seconds off the live one, and the Twitch stand-in of
tests/standins/twitch.py serves it through GraphQL, usher and its CDN).  The daemons reach that
stand-in through yt-dlp's real Twitch extractor and the default VOD URL template (Twitch's own
video page): `environment()` is the hook that points the extractor at loopback.  Time is
compressed: a stream's start lies in the past, and the daemons' intervals are seconds
(`stack.FAST_SETTINGS`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from tests.e2e.chat import ChatLog, ChatPump
from tests.e2e.stack import Stack
from tests.helpers.processes import wait_until
from tests.standins.helix import HelixStandin, twitch_duration
from tests.standins.irc import TwitchIrcStandin
from tests.standins.twitch import Expected, LiveSpec, Rendition, TwitchStandin, VodSpec, ytdlp_hook_env
from tests.standins.twitch_live import LiveStream
from tests.standins.youtube import YouTubeStandIn
from vodtender.clients.google_oauth import TokenGrant
from vodtender.pipeline.upload.tokens import TokenCipher, TokenStore
from vodtender.runtime.models import Vod

SEGMENT_SECONDS = 10
# Every VOD's one rendition: small H.264 in MPEG-TS (the source, in the CDN's chunked/ folder).
RENDITION = Rendition("90p10", "h264", "ts", size="160x90", fps=10)
VOD_SEGMENTS = "cdn/*.ts"  # a fault-rule pattern on `world.twitch`: every segment of every VOD on its CDN
VOD_OFFSET = 3  # the archive VOD's created_at is this many seconds after the stream's started_at
FAST_HELIX_WINDOW = 10.0  # tests refill Helix's rate-limit bucket in 10 s (Twitch: 60): a 429 costs at most this


class AccountedIrc(TwitchIrcStandin):
    """The IRC stand-in, with a send that says how many connections the lines went to (0: nobody)."""

    def send_lines(self, channel: str, lines: list[str]) -> int:
        data = ("\r\n".join(lines) + "\r\n").encode()

        async def deliver() -> int:
            targets = self._targets(channel)  # counted and written in one step of the server's loop
            for client in targets:
                client.writer.write(data)
            return len(targets)

        return asyncio.run_coroutine_threadsafe(deliver(), self.loop).result(30)


@dataclasses.dataclass(frozen=True)
class Channel:
    login: str
    user_id: str


@dataclasses.dataclass
class Stream:
    """One broadcast: live with `stream_id` from `started_at`, archived as VOD `vod_id` from `vod_started_at`."""

    channel: Channel
    stream_id: str
    started_at: int
    vod_id: str
    vod_started_at: int
    segments: int
    title: str
    pumps: list[ChatPump] = dataclasses.field(default_factory=list)

    @property
    def placeholder_id(self) -> str:
        return f"live-{self.started_at}"


class FakeTwitch:
    """Helix + IRC + the VOD site (fake Twitch) and the upload API (fake YouTube), on loopback.

    `vod_cache` holds the VODs' encodes; tests of one session share it (one encode per VOD length)."""

    def __init__(self, root: Path, vod_cache: Path | None = None, helix_window: float = 60.0):
        self.root = root
        self.vod_cache = vod_cache or root / "vod-cache"
        # Twitch's bucket: 800 points refilled over a minute; a shorter window compresses its time too
        # (a 429 asks the client to wait until the bucket is full again).
        self.helix = HelixStandin(limit=800, window=helix_window)
        self.irc = AccountedIrc()
        self.twitch = TwitchStandin(root / "twitch", media_cache=self.vod_cache)
        self.youtube = YouTubeStandIn()
        self.chat = ChatLog()
        self.channels: list[Channel] = []
        self._next_id = 90_000_000

    def start(self) -> FakeTwitch:
        self.helix.start()
        self.irc.start()
        self.twitch.start()
        self.youtube.start()
        return self

    def stop(self) -> None:
        for standin in (self.helix, self.irc, self.twitch, self.youtube):
            standin.stop()

    def __enter__(self) -> FakeTwitch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- set-up ---------------------------------------------------------------------------------

    def add_channel(self, login: str) -> Channel:
        channel = Channel(login, self.helix.add_user(login))
        self.channels.append(channel)
        return channel

    def settings(self, channels: list[Channel] | None = None) -> dict[str, str]:
        """The settings that point vodtender at this world (the same as `--twitch-helix-url ...` flags)."""
        host, port = self.irc.address
        return {
            **self.helix.env(),
            "TWITCH_CHANNEL": ",".join(c.login for c in channels or self.channels),
            "TWITCH_IRC_ADDR": f"{host}:{port}",
            "TWITCH_IRC_TLS": "0",
            "YOUTUBE_API_URL": self.youtube.url,
            "YOUTUBE_TOKEN_URL": self.youtube.token_url,
            "YOUTUBE_AUTH_URL": self.youtube.auth_url,
            "YT_CLIENT_ID": self.youtube.client_id,
            "YT_CLIENT_SECRET": self.youtube.client_secret,
        }

    def environment(self) -> dict[str, str]:
        """What a daemon's environment needs so that the yt-dlp it runs asks this world's Twitch for VODs
        (settings cannot say it: the extractor's GraphQL and usher addresses are written in yt-dlp)."""
        return ytdlp_hook_env(self.twitch.base_url)

    def store_youtube_tokens(self) -> None:
        """What `vodtender auth youtube` leaves behind: the account's tokens in `oauth_tokens` (DB bound)."""
        grant = self.youtube.issue_tokens()
        TokenStore(TokenCipher(None)).save(
            TokenGrant(grant["access_token"], time.time() + grant["expires_in"], grant["refresh_token"], grant["scope"])
        )

    def seed_youtube_tokens(self, stack: Stack) -> None:
        with stack.database():
            self.store_youtube_tokens()

    # -- the timeline ---------------------------------------------------------------------------

    def new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def plan_stream(self, channel: Channel, live_for: int = 180, segments: int | None = None) -> Stream:
        """A stream that began `live_for` seconds ago; its VOD will start VOD_OFFSET seconds later."""
        started = int(time.time()) - live_for
        stream_id, vod_id = self.new_id(), self.new_id()
        segments = segments or live_for // SEGMENT_SECONDS + 2
        return Stream(
            channel,
            stream_id,
            started,
            vod_id,
            started + VOD_OFFSET,
            segments,
            f"e2e {channel.login} stream {stream_id}",
        )

    def go_live(self, stream: Stream) -> None:
        self.helix.go_live(stream.channel.login, stream.stream_id, stream.started_at, title=stream.title)

    def start_chat(self, stream: Stream, rate: float, seed: int) -> ChatPump:
        pump = ChatPump(self.irc.send_lines, self.chat, stream.channel.login, stream.channel.user_id, rate, seed)
        stream.pumps.append(pump.start())
        return pump

    def stop_chat(self, stream: Stream) -> None:
        for pump in stream.pumps:
            pump.stop()

    def go_offline(self, stream: Stream) -> None:
        self.helix.go_offline(stream.channel.login)

    def go_live_on_video(self, stream: Stream, spec: LiveSpec) -> LiveStream:
        """Live on Twitch's video side (the live playlist a recorder follows), then on Helix, as on Twitch:
        Helix lists a stream once its video is up."""
        live = self.twitch.go_live(stream.channel.login, spec, stream.stream_id)
        self.go_live(stream)
        return live

    def end_live_video(self, stream: Stream) -> None:
        """The stream ends: ENDLIST on its live playlist, offline on Helix."""
        self.twitch.end_stream(stream.channel.login)
        self.go_offline(stream)

    def publish_vod(self, stream: Stream, muted: tuple[int, ...] = ()) -> None:
        """Serve the VOD on Twitch (encoded once per length, from the cache after that) and list it on Helix;
        `muted`: segments Twitch muted (listed as N-unmuted, served as N-muted)."""
        spec = VodSpec((RENDITION,), segments=stream.segments, segment_seconds=SEGMENT_SECONDS, muted=muted)
        self.twitch.add_vod(stream.vod_id, spec, channel=stream.channel.login, title=stream.title)
        self.helix.publish_vod(
            stream.channel.login,
            stream.stream_id,
            stream.vod_started_at,
            duration=twitch_duration(stream.segments * SEGMENT_SECONDS),
            video_id=stream.vod_id,
            title=stream.title,
        )

    def served(self, stream: Stream) -> Expected:
        """What a correct download of the stream's published VOD holds, as the Twitch stand-in serves it."""
        return self.twitch.expected(stream.vod_id, RENDITION.name)

    # -- what fake YouTube received ------------------------------------------------------------

    def uploads_of(self, stream: Stream) -> list[str]:
        """sha256 of every completed upload whose title names this stream (there should be one)."""
        with self.youtube.lock:
            return [
                v.sha256
                for v in self.youtube.videos
                if stream.title in str(v.metadata.get("snippet", {}).get("title", ""))
            ]


# -- waiting on the database ---------------------------------------------------------------------


def vod_row(twitch_vod_id: str) -> Vod | None:
    return Vod.get_or_none(Vod.twitch_vod_id == twitch_vod_id)


def wait_placeholder(stream: Stream, timeout: float = 60) -> Vod:
    return wait_until(
        lambda: vod_row(stream.placeholder_id),
        timeout,
        interval=0.2,
        what=f"placeholder {stream.placeholder_id} of #{stream.channel.login}",
    )  # type: ignore[return-value]


def wait_offline_seen(stream: Stream, timeout: float = 60) -> None:
    def ended() -> bool:
        row = vod_row(stream.placeholder_id)
        return row is None or row.live_ended_at is not None

    wait_until(ended, timeout, interval=0.2, what=f"the poller to see #{stream.channel.login} offline")


def archived(stream: Stream) -> bool:
    row = vod_row(stream.vod_id)
    return bool(row and row.processed == 1 and row.youtube_url and vod_row(stream.placeholder_id) is None)


def pipeline_state(streams: list[Stream]) -> str:
    """One line per VOD, for a timeout's message."""
    lines = []
    for stream in streams:
        for vod_id in (stream.placeholder_id, stream.vod_id):
            row = vod_row(vod_id)
            if row is not None:
                lines.append(
                    f"{vod_id}: processed={row.processed} download={row.download_state} "
                    f"{row.download_bytes}/{row.download_total} upload={row.upload_state} "
                    f"youtube_url={row.youtube_url} error={row.processing_error!r} ({row.error_class}) "
                    f"next_attempt_at={row.next_attempt_at} lease={row.lease_owner}"
                )
            else:
                lines.append(f"{vod_id}: no row")
    return "\n".join(lines)


def wait_archived(streams: list[Stream], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(archived(s) for s in streams):
        if time.monotonic() > deadline:
            raise AssertionError(f"not archived after {timeout:.0f}s:\n{pipeline_state(streams)}")
        time.sleep(0.5)


def broadcast(
    world: FakeTwitch, streams: list[Stream], chat_rate: float, chat_seconds: float, seed: int, timeout: float = 120
) -> None:
    """Live -> chat -> offline + VOD published, for all `streams` at once, each step waiting for the
    daemons to have seen the previous one (so chat is bound to the placeholder, as it is in real life
    when a viewer types after the stream began)."""
    for stream in streams:
        world.go_live(stream)
    for stream in streams:
        wait_placeholder(stream, timeout)
        world.irc.wait_joined(stream.channel.login, timeout=timeout)
    time.sleep(3)  # the chat recorder refreshes its placeholder cache every ~2 s
    for index, stream in enumerate(streams):
        world.start_chat(stream, chat_rate, seed + index)
    time.sleep(chat_seconds)
    for stream in streams:
        world.stop_chat(stream)
    time.sleep(1)
    for stream in streams:
        world.go_offline(stream)
        world.publish_vod(stream)  # before the poller's first look, VOD_RECONCILE_DELAY after it saw the end
    for stream in streams:
        wait_offline_seen(stream, timeout)
