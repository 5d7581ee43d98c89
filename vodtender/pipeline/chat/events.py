"""One IRC chat event -> one `chat_messages` row (without its VOD binding, added at write time).

Stored kinds: `message`, `action` (/me), `usernotice` (sub, resub, subgift, raid,
announcement, ... in `notice_type`, with Twitch's `system_message`; a shared chat's
`sharedchatnotice` is stored as the event it carries, its `source-msg-id`), `clearchat`
(`notice_type` timeout/ban/clear) and `clearmsg` (a deleted message: the original row is
kept and marked `deleted`).  Everything else (ROOMSTATE, USERSTATE, NOTICE, ...) is not chat.

Shared chat (several channels in one chat session): a line mirrored from another channel's chat
carries `source-room-id` (another room than its `room-id`) and `source-id`; the row gets `mirrored`,
the source room, its login when known (`rooms.RoomNames`) and the source's message id.

Every row needs an id unique in its channel so that a line seen twice (on both connections during a
RECONNECT, or replayed) is stored once.  Twitch's `id` tag is used when present.  CLEARCHAT
and CLEARMSG carry no id but do carry `tmi-sent-ts`, and Twitch sends the same bytes to
every connection, so their id is a hash of the line.  A server without Twitch tags
(a plain IRC server) gives neither: the id is a hash of the line, the whole second it was
received, and how many identical lines this connection received in that second.  The copy
of a line on the other connection during an overlap gets the same id unless the two copies
straddle a second boundary (then it is stored twice, never lost); a user repeating the same
text within one second is still stored each time.

Besides chat events the session hands the writer `GapStart` and `GapEnd`: a channel not joined,
then joined again (rows of `chat_gaps`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from vodtender.clients.irc_lines import INT_COLUMN_MAX, IrcMessage, bounded_int, raw_tags_of
from vodtender.pipeline.chat.rooms import RoomNames

CHAT_COMMANDS = frozenset({"PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG"})
KINDS = ("message", "action", "usernotice", "clearchat", "clearmsg")

# Columns of a row besides msg_id, channel, vod_id, rel_timestamp, abs_timestamp, deleted and tags, in this order.
DETAIL_COLUMNS = (
    "kind",
    "notice_type",
    "username",
    "display_name",
    "user_id",
    "message",
    "system_message",
    "badges",
    "emotes",
    "color",
    "bits",
    "first_msg",
    "reply_parent_msg_id",
    "reply_parent_user_login",
    "reply_parent_display_name",
    "reply_parent_msg_body",
    "target_user",
    "ban_duration",
    "mirrored",
    "source_room_id",
    "source_channel",
    "source_msg_id",
)
# Every column a row names (every NOT NULL one: peewee's defaults live in Python, not in the schema).
ROW_COLUMNS = ("msg_id", "channel", "vod_id", "rel_timestamp", "abs_timestamp", "deleted", *DETAIL_COLUMNS, "tags")
MessageRow = tuple[object, ...]  # values of ROW_COLUMNS, in that order
_ACTION_START = "\x01ACTION "
SHARED_NOTICE = "sharedchatnotice"  # a USERNOTICE mirrored from another channel; the event is its source-msg-id


@dataclass(slots=True)
class ChatEvent:
    msg_id: str
    channel: str
    kind: str
    abs_timestamp: float
    received_at: float
    details: tuple  # values of DETAIL_COLUMNS
    raw_line: str  # as received; its tags become the `tags` column (kept once, not twice, while queued)
    deletes: str | None = None  # CLEARMSG: the id of the message it deletes
    refused_tags: tuple[str, ...] = ()  # numeric tags not a number or out of range: their columns left empty

    def row(self, vod_id: str | None, rel_timestamp: float | None) -> MessageRow:
        """The `chat_messages` row, bound to `vod_id` (None: offline)."""
        tags = raw_tags_of(self.raw_line) or None
        return (self.msg_id, self.channel, vod_id, rel_timestamp, self.abs_timestamp, 0, *self.details, tags)


@dataclass(frozen=True, slots=True)
class GapStart:
    """A channel stopped being joined: chat from `started_at` on may be missing."""

    channel: str
    started_at: float
    reason: str


@dataclass(frozen=True, slots=True)
class GapEnd:
    """The channel is joined again (or for the first time in this run: `first_of_run`)."""

    channel: str
    ended_at: float
    first_of_run: bool = False


ChatItem = ChatEvent | GapStart | GapEnd  # what the session hands the writer


# tmi-sent-ts in milliseconds: after the epoch, before the year 10000 (what a datetime can show).
MAX_SENT_MS = 253_402_300_799_999


def _hash_id(*parts: str) -> str:
    return "x-" + hashlib.sha1("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


class _TagNumbers:
    """Numeric tags read for columns; remembers the ones present but refused (not digits, out of range)."""

    def __init__(self, tags: dict[str, str]):
        self.tags = tags
        self.refused: list[str] = []

    def get(self, name: str, low: int, high: int) -> int | None:
        raw = self.tags.get(name)
        number = bounded_int(raw, low, high)
        if raw and number is None:
            self.refused.append(name)
        return number


class ChatEventBuilder:
    """Turns parsed lines of one connection into events; holds that connection's occurrence counts."""

    def __init__(self, rooms: RoomNames | None = None) -> None:
        self._rooms = rooms if rooms is not None else RoomNames()
        self._second = -1
        self._seen_this_second: dict[str, int] = {}

    def build(self, msg: IrcMessage, raw_line: str, received_at: float) -> ChatEvent | None:
        """The event for a chat line, None for a line that is not chat (or has no channel)."""
        command = msg.command
        channel = msg.channel
        if command not in CHAT_COMMANDS or not channel:
            return None
        tags = msg.tags
        numbers = _TagNumbers(tags)
        sent_ms = numbers.get("tmi-sent-ts", 1, MAX_SENT_MS)
        abs_timestamp = sent_ms / 1000 if sent_ms else received_at
        msg_id = tags.get("id") or self._synthetic_id(raw_line, received_at, has_tags=bool(msg.raw_tags))
        text = msg.trailing
        deletes = None
        notice_type = target_user = ban_duration = system_message = None
        username = tags.get("login") or ""
        if command == "PRIVMSG":
            kind = "message"
            username = msg.nick
            if text.startswith(_ACTION_START):
                kind, text = "action", text[len(_ACTION_START) :].rstrip("\x01")
        elif command == "USERNOTICE":
            kind = "usernotice"
            notice_type = tags.get("msg-id") or None
            if notice_type == SHARED_NOTICE:
                notice_type = tags.get("source-msg-id") or notice_type
            system_message = tags.get("system-msg") or None
            target_user = tags.get("msg-param-recipient-user-name") or tags.get("msg-param-login") or None
        elif command == "CLEARCHAT":
            kind = "clearchat"
            target_user = text or None
            ban_duration = numbers.get("ban-duration", 0, INT_COLUMN_MAX)
            notice_type = "clear" if not target_user else ("timeout" if ban_duration else "ban")
        else:  # CLEARMSG
            kind = "clearmsg"
            target_user = username or None
            deletes = tags.get("target-msg-id") or None
            notice_type = "deletion"
        details = (
            kind,
            notice_type,
            username,
            tags.get("display-name") or "",
            tags.get("user-id") or None,
            text,
            system_message,
            tags.get("badges") or None,
            tags.get("emotes") or None,
            tags.get("color") or None,
            numbers.get("bits", 0, INT_COLUMN_MAX) or 0,
            1 if tags.get("first-msg") == "1" else 0,
            tags.get("reply-parent-msg-id") or None,
            tags.get("reply-parent-user-login") or None,
            tags.get("reply-parent-display-name") or None,
            tags.get("reply-parent-msg-body") or None,
            target_user,
            ban_duration,
            *self._shared(tags, channel),
        )
        return ChatEvent(
            msg_id, channel, kind, abs_timestamp, received_at, details, raw_line, deletes, tuple(numbers.refused)
        )

    def _shared(self, tags: dict[str, str], channel: str) -> tuple[int, str | None, str | None, str | None]:
        """(mirrored, source_room_id, source_channel, source_msg_id); learns the line's own room."""
        room_id = tags.get("room-id") or None
        self._rooms.learn(room_id, channel)
        source_room = tags.get("source-room-id") or None
        mirrored = (source_room is not None and source_room != room_id) or tags.get("msg-id") == SHARED_NOTICE
        return int(mirrored), source_room, self._rooms.login(source_room), tags.get("source-id") or None

    def _synthetic_id(self, raw_line: str, received_at: float, has_tags: bool) -> str:
        if has_tags:  # identical bytes on every connection: the line is its own id
            return _hash_id(raw_line)
        second = int(received_at)
        if second != self._second:
            self._second, self._seen_this_second = second, {}
        count = self._seen_this_second.get(raw_line, 0)
        self._seen_this_second[raw_line] = count + 1
        return _hash_id(raw_line, str(second), str(count))
