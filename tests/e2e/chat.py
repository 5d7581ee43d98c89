"""Chat traffic the test can account for: every line it sends, with its id, send time and whether
anybody was joined to the channel to receive it (the stand-in's own log of what went nowhere).
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
import zlib
from collections.abc import Callable

# The stand-in's send: (channel, raw IRC lines) -> number of connections they were written to.
SendLines = Callable[[str, list[str]], int]

WORDS = ("pog", "gg", "LUL", "nice", "clip it", "ResidentSleeper", "what", "ok", "Kappa", "hype", "🎉", "été")


@dataclasses.dataclass(frozen=True)
class SentMessage:
    msg_id: str
    channel: str
    sent_at: float  # unix seconds, exactly as in tmi-sent-ts (milliseconds)
    text: str
    receivers: int  # connections joined to the channel when it was sent (0: nobody heard it)


def privmsg(channel: str, room_id: str, msg_id: str, sent_ms: int, user: str, text: str) -> str:
    """A Twitch PRIVMSG with the tags the recorder needs (id, tmi-sent-ts) and a few ordinary ones."""
    tags = (
        f"badge-info=;badges=;color=#1E90FF;display-name={user};emotes=;first-msg=0;flags=;id={msg_id};"
        f"mod=0;returning-chatter=0;room-id={room_id};subscriber=0;tmi-sent-ts={sent_ms};turbo=0;"
        f"user-id={zlib.crc32(user.encode())};user-type="
    )
    return f"@{tags} :{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{channel} :{text}"


class ChatLog:
    """Everything sent, for the final comparison with `chat_messages` and `chat_gaps`."""

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []
        self._lock = threading.Lock()

    def add(self, message: SentMessage) -> None:
        with self._lock:
            self.sent.append(message)

    def of(self, channel: str) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.sent if m.channel == channel]

    def unheard(self, channel: str) -> list[SentMessage]:
        return [m for m in self.of(channel) if m.receivers == 0]


class ChatPump:
    """Sends chat to one channel at `rate` messages/s from a thread, until stopped."""

    TICK = 0.05

    def __init__(self, send: SendLines, log: ChatLog, channel: str, room_id: str, rate: float, seed: int):
        self.send = send
        self.log = log
        self.channel = channel
        self.room_id = room_id
        self.rate = rate
        self.random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"chat-{channel}", daemon=True)

    def start(self) -> ChatPump:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        owed = 0.0
        last = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            owed += (now - last) * self.rate
            last = now
            count = int(owed)
            owed -= count
            if count:
                self.send_batch(count)
            self._stop.wait(self.TICK)

    def send_batch(self, count: int) -> None:
        sent_ms = int(time.time() * 1000)
        batch = []
        for _ in range(count):
            user = f"viewer{self.random.randrange(500)}"
            text = " ".join(self.random.choice(WORDS) for _ in range(self.random.randint(1, 6)))
            batch.append((str(uuid.UUID(int=self.random.getrandbits(128), version=4)), user, text))
        receivers = self.send(
            self.channel,
            [privmsg(self.channel, self.room_id, msg_id, sent_ms, user, text) for msg_id, user, text in batch],
        )
        for msg_id, _, text in batch:
            self.log.add(SentMessage(msg_id, self.channel, sent_ms / 1000, text, receivers))
