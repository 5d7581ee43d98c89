"""Chat to search (messages built from IRC lines and stored as the writer stores them), and a database
as it was before the `chat_search_index` migration: for timing and testing that migration."""

from __future__ import annotations

import peewee

from vodtender.clients.irc_lines import parse_line
from vodtender.pipeline.chat.events import ChatEvent, ChatEventBuilder
from vodtender.pipeline.chat.rows import insert_messages
from vodtender.runtime.db import write
from vodtender.runtime.models import SchemaMigration

START_UNIX = 1772366400.0


def event(msg_id: str, text: str, at: float = START_UNIX, channel: str = "chan", user: str = "alice") -> ChatEvent:
    line = (
        f"@id={msg_id};display-name={user.title()};tmi-sent-ts={int(at * 1000)} "
        f":{user}!{user}@{user}.tmi.twitch.tv PRIVMSG #{channel} :{text}"
    )
    built = ChatEventBuilder().build(parse_line(line), line, at)
    assert built is not None
    return built


def store(*events: ChatEvent, vod_id: str | None = None) -> None:
    rows = [e.row(vod_id, None if vod_id is None else e.abs_timestamp - START_UNIX) for e in events]
    write(lambda: insert_messages(rows))


def drop_chat_search_index(db: peewee.Database) -> None:
    """Remove the full-text index and its triggers, and forget that the migration ran."""
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql("ALTER TABLE chat_messages DROP COLUMN message_tsv")  # and its index
    else:
        for name in ("insert", "delete", "update"):
            db.execute_sql(f"DROP TRIGGER chat_messages_fts_{name}")
        db.execute_sql("DROP TABLE chat_messages_fts")
    SchemaMigration.delete().where(SchemaMigration.name == "chat_search_index").execute()
