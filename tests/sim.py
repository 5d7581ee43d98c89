"""`python -m tests.sim`: a simulated Twitch + YouTube on loopback, to watch vodtender archive a channel.

It starts the same stand-ins as the end-to-end tests (Helix, Twitch IRC, Twitch's VOD site,
YouTube's upload API), prepares a database with YouTube tokens in it, prints the
`vodtender run ...` command that points every daemon at them (settings, and the environment that
points yt-dlp's Twitch extractor at the simulated Twitch), and then plays streams over
and over: a channel goes live, chat flows (real Twitch lines), the stream ends, its VOD is
published a few seconds later.  Run the printed command in another terminal and
`vodtender status` in a third.  Ctrl-C stops the simulation.  See docs/simulator.md.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.e2e.harness import SEGMENT_SECONDS, FakeTwitch, Stream
from tests.helpers.processes import REPO
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate

# The simulation's own pace, in as few flags as possible: minutes of a real deployment become seconds.
SIM_SETTINGS = {
    "CHAT_AUTO_POLL_INTERVAL": "2s",
    "VOD_RECONCILE_DELAY": "10s",
    "VOD_RECONCILE_WINDOW": "2m",
    "VOD_CATALOG_BACKFILL_INTERVAL": "30s",
    "DOWNLOAD_BACKOFF_BASE": "2s",
    "UPLOAD_BACKOFF_BASE": "2s",
    "UPLOAD_PROCESSING_CHECK": "2s",
    "UPLOAD_CHUNK_SIZE": "1M",
}
SHOWN_FIRST = (
    "TWITCH_CHANNEL",
    "TWITCH_HELIX_URL",
    "TWITCH_AUTH_URL",
    "TWITCH_IRC_ADDR",
    "TWITCH_IRC_TLS",
    "YOUTUBE_API_URL",
    "YOUTUBE_TOKEN_URL",
    "DB_DSN",
    "DATA_DIR",
)
HEAD_START = 10  # seconds a stream was live before the simulation announces it
CHAT_LINES = REPO / "tests" / "data" / "twitch_irc" / "bench_chat.txt"  # real Twitch chat
# What `vodtender status` needs to find and judge the same installation.
STATUS_KEYS = ("TWITCH_CHANNEL", "DB_DSN", "DATA_DIR", "YT_CLIENT_ID", "YT_CLIENT_SECRET")


def vodtender_command() -> list[str]:
    """`vodtender` when it is installed, else the checkout's `python3 -m vodtender`."""
    if shutil.which("vodtender"):
        return ["vodtender"]
    venv = REPO / ".venv" / "bin" / "vodtender"
    return [str(venv)] if venv.exists() else [sys.executable, "-m", "vodtender"]


def command_line(subcommand: str, settings: dict[str, str], env: dict[str, str] | None = None) -> str:
    """The shell command: `env` as `env NAME=value ...` before vodtender, each setting as its flag."""
    ordered = [k for k in SHOWN_FIRST if k in settings] + sorted(k for k in settings if k not in SHOWN_FIRST)
    flags = [part for key in ordered for part in (f"--{key.lower().replace('_', '-')}", settings[key])]
    prefix = ["env", *(f"{name}={value}" for name, value in env.items())] if env else []
    words = shlex.join([*prefix, *vodtender_command(), subcommand, *flags])
    return words.replace(" --", " \\\n    --")


def prepare_database(world: FakeTwitch, db_path: Path) -> None:
    """Create and migrate the database, and store YouTube tokens as `vodtender auth youtube` would."""
    db = open_database(str(db_path))
    try:
        migrate(db)
        world.store_youtube_tokens()
    finally:
        db.close()


class Show:
    """Plays streams on every channel, one after another, until stopped."""

    def __init__(self, world: FakeTwitch, live_seconds: int, chat_rate: float, vod_delay: float, pause: float):
        self.world = world
        self.live_seconds = live_seconds
        self.chat_rate = chat_rate
        self.vod_delay = vod_delay
        self.pause = pause
        self.stop = threading.Event()
        self.chat_lines = CHAT_LINES.read_text(encoding="utf-8").splitlines()

    def say(self, text: str) -> None:
        print(f"[sim {time.strftime('%H:%M:%S')}] {text}", flush=True)

    def run(self) -> None:
        while not self.stop.is_set():
            for channel in self.world.channels:
                if self.stop.is_set():
                    return
                # The stream began a little before we show it, as if vodtender had polled a bit late.
                stream = self.world.plan_stream(
                    channel, live_for=HEAD_START, segments=(HEAD_START + self.live_seconds) // SEGMENT_SECONDS + 1
                )
                self.play(stream)

    def play(self, stream: Stream) -> None:
        login = stream.channel.login
        self.world.go_live(stream)
        self.say(
            f"#{login} is live (stream {stream.stream_id}, started {stream.started_at}); "
            f"chat at {self.chat_rate:g} msg/s for {self.live_seconds}s"
        )
        replay = self.world.irc.replay(
            self.chat_lines,
            login,
            rate=self.chat_rate,
            count=int(self.chat_rate * self.live_seconds),
            fresh_ids=True,
            fresh_ts=True,
            wait_for_listener=False,
        )
        self.stop.wait(self.live_seconds)
        replay.cancel()
        self.world.go_offline(stream)
        self.say(
            f"#{login} went offline after {replay.sent} chat lines ({len(replay.missed)} with nobody "
            f"listening); its VOD appears in {self.vod_delay:g}s"
        )
        if self.stop.wait(self.vod_delay):
            return
        self.world.publish_vod(stream)
        self.say(
            f"VOD {stream.vod_id} of #{login} published: {stream.segments} segments of {SEGMENT_SECONDS}s, "
            f"starting {stream.vod_started_at - stream.started_at}s after the live stream did"
        )
        self.stop.wait(self.pause)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", default="simchannel", help="channel logins, comma separated")
    parser.add_argument("--workdir", type=Path, help="where the database and videos go (default: a new temp dir)")
    parser.add_argument("--live-seconds", type=int, default=60, help="how long each stream is live")
    parser.add_argument("--chat-rate", type=float, default=20, help="chat messages per second while live")
    parser.add_argument("--vod-delay", type=float, default=5, help="seconds from offline to the VOD appearing")
    parser.add_argument("--pause", type=float, default=30, help="seconds between streams")
    args = parser.parse_args(argv)

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="vodtender-sim-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    world = FakeTwitch(workdir / "fake-twitch").start()
    for login in args.channels.split(","):
        world.add_channel(login.strip().lower())
    db_path = workdir / "vodtender.db"
    prepare_database(world, db_path)
    settings = {**SIM_SETTINGS, **world.settings(), "DB_DSN": str(db_path), "DATA_DIR": str(workdir / "data")}
    settings.pop("YOUTUBE_AUTH_URL")  # only `vodtender auth youtube` uses it; the tokens are already stored
    print(
        f"Simulated Twitch + YouTube are up (working folder {workdir}).\n\n"
        f"In another terminal, from {REPO}, run vodtender against them (the `env` part is the test hook\n"
        f"that points yt-dlp's Twitch extractor at the simulated Twitch):\n\n"
        f"{command_line('run', settings, world.environment())}\n\n"
        f"and watch it work with:\n\n"
        f"{command_line('status', {key: settings[key] for key in STATUS_KEYS})}\n\n"
        f"Ctrl-C here stops the simulation.\n",
        flush=True,
    )
    show = Show(world, args.live_seconds, args.chat_rate, args.vod_delay, args.pause)
    signal.signal(signal.SIGTERM, lambda *_: show.stop.set())
    try:
        show.run()
    except KeyboardInterrupt:
        pass
    finally:
        show.stop.set()
        with world.youtube.lock:
            uploaded = [(v.id, v.metadata.get("snippet", {}).get("title"), v.size) for v in world.youtube.videos]
        world.stop()
    print(f"\nsimulation stopped; fake YouTube received {len(uploaded)} video(s):")
    for video_id, title, size in uploaded:
        print(f"  {video_id}  {size} bytes  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
