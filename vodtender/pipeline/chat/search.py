"""Chat search over the database's own full-text index (migration `chat_search_index`).

A query is plain words, all of which must appear, and "quoted phrases", whose words must appear in
that order.  What a user types is only ever data: each term is passed as a bound value and, for
SQLite, written as an FTS5 string ("..." with `"` doubled), so `*`, `NEAR(`, `col:`, `AND`, `^`
or an unbalanced quote are searched as text, never read as FTS5 syntax.  PostgreSQL builds the
query with phraseto_tsquery, which reads no operators at all.  Both split words
the same way (letters and digits; punctuation separates) and ignore case.

`search_chat` is the one query: `vodtender chat search` calls it, the web viewer will for one VOD.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import peewee

from vodtender.runtime.models import database_proxy

# Kinds that carry what someone wrote: a CLEARMSG repeats the deleted text, a CLEARCHAT names its target.
SEARCHED_KINDS = ("message", "action", "usernotice")


class SearchError(ValueError):
    """A query with nothing to search for."""


@dataclasses.dataclass(frozen=True)
class SearchFilter:
    channel: str | None = None
    vod_id: str | None = None  # vods.twitch_vod_id
    user: str | None = None  # login or display name, any case
    since: float | None = None  # unix seconds
    limit: int = 50


def parse_terms(text: str) -> list[str]:
    """Words and "phrases"; a quote left open reads the rest as words.  Each term is searched as a
    phrase of the words in it (`don't` is `don` then `t`, in both databases).  A term without a letter
    or a digit matches nothing in either index, so it is left out; no term left is a SearchError."""
    parts = text.replace("\x00", " ").split('"')
    closed = len(parts) % 2 == 1  # an even number of quotes
    terms: list[str] = []
    for place, part in enumerate(parts):
        in_quotes = place % 2 == 1 and (closed or place < len(parts) - 1)
        pieces = [" ".join(part.split())] if in_quotes else part.split()
        terms += [piece for piece in pieces if any(c.isalnum() for c in piece)]
    if not terms:
        raise SearchError("nothing to search for: give at least one word (letters or digits)")
    return terms


@dataclasses.dataclass(frozen=True)
class ChatHit:
    id: int
    msg_id: str
    channel: str
    vod_id: str | None
    rel_timestamp: float | None
    abs_timestamp: float
    username: str
    display_name: str
    kind: str
    message: str
    deleted: bool
    mirrored: bool
    source_channel: str | None
    source_room_id: str | None

    def offset(self) -> str | None:
        """h:mm:ss into the VOD; None for chat sent while the channel was offline."""
        if self.vod_id is None or self.rel_timestamp is None:
            return None
        seconds = max(0, int(self.rel_timestamp))
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    def sent_at(self) -> str:
        return dt.datetime.fromtimestamp(self.abs_timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def show_command(self) -> str | None:
        """What the user runs to see the VOD this was said in."""
        return None if self.vod_id is None else f"vodtender show {self.vod_id}"

    def as_json(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "vod": self.vod_id,
            "offset": self.offset(),
            "offset_seconds": self.rel_timestamp,
            "sent_at": self.sent_at(),
            "user": self.username,
            "display_name": self.display_name,
            "kind": self.kind,
            "text": self.message,
            "deleted": self.deleted,
            "mirrored": self.mirrored,
            "source_channel": self.source_channel,
            "source_room_id": self.source_room_id,
            "show": self.show_command(),
        }


_COLUMNS = tuple(field.name for field in dataclasses.fields(ChatHit))
_SELECTED = ", ".join(f"m.{column}" for column in _COLUMNS)


def search_chat(text: str, where: SearchFilter = SearchFilter()) -> list[ChatHit]:
    """Messages matching `text` (see the module), the last stored first (an index order, so that a
    common word stops at `limit` instead of sorting all its rows); within one VOD in the VOD's order."""
    terms = parse_terms(text)
    db = database_proxy.obj
    p = db.param
    conditions, values = _filters(where, p)
    if isinstance(db, peewee.PostgresqlDatabase):
        if not where.vod_id:
            return _newest_postgres_hits(terms, conditions, values, where.limit)
        sql, params = _postgres_query(terms, conditions, "rel_timestamp, id")
    else:
        found = f"chat_messages_fts f JOIN chat_messages m ON m.id = f.rowid WHERE chat_messages_fts MATCH {p}"
        params = [" ".join(fts5_string(term) for term in terms)]
        if where.vod_id:  # only the index's stretch of ids the VOD's rows span, not every match of a common word
            span = [f"(SELECT {edge}(id) FROM chat_messages WHERE vod_id = {p})" for edge in ("MIN", "MAX")]
            found += f" AND f.rowid BETWEEN {span[0]} AND {span[1]}"
            params += [where.vod_id, where.vod_id]
            order = "m.rel_timestamp, m.id"
        else:  # the FTS5 table's own order, newest row first: a common word stops at `limit`, unsorted
            order = "f.rowid DESC"
        sql = f"SELECT {_SELECTED} FROM {found}{conditions} ORDER BY {order} LIMIT {p}"
    return _hits(db.execute_sql(sql, [*params, *values, where.limit]))


# The first stretch of newest ids a PostgreSQL search looks in; each next one is this many times longer.
FIRST_ID_WINDOW = 16_384
WINDOW_GROWTH = 4


def _postgres_query(terms: list[str], conditions: str, order: str) -> tuple[str, list[object]]:
    """Materialized: the rows come from the GIN index, never from walking the primary key backwards
    hoping to meet `limit` matches soon (the planner's bet for LIMIT, lost on a rare word)."""
    p = database_proxy.obj.param
    sql = (
        f"WITH hits AS MATERIALIZED (SELECT {_SELECTED} FROM chat_messages m WHERE m.message_tsv @@ "
        f"({_tsquery(terms)}){conditions}) SELECT * FROM hits ORDER BY {order} LIMIT {p}"
    )
    return sql, [*terms]


def _tsquery(terms: list[str]) -> str:
    return " && ".join([f"phraseto_tsquery('simple', {database_proxy.obj.param})"] * len(terms))


def _newest_postgres_hits(terms: list[str], conditions: str, values: list[object], limit: int) -> list[ChatHit]:
    """The newest matches, looked for in stretches of ids from the newest back, each WINDOW_GROWTH
    times the last: a common word is done within the first stretch instead of fetching and sorting
    its every row (hundreds of ms at a million rows); a rare one costs a few index lookups more.

    Each stretch is read through bitmaps of both indexes (the GIN index's matches AND the stretch of
    the primary key), which costs what the matches in it cost.  The planner, left alone, walks the
    primary key backwards whenever the word is common overall, and a word that is common but not
    lately (chat comes in topics) then reads the whole stretch row by row: hence `enable_indexscan`
    off for these statements only (SET LOCAL, inside their own transaction)."""
    db = database_proxy.obj
    p = db.param
    lowest, highest = db.execute_sql("SELECT MIN(id), MAX(id) FROM chat_messages").fetchone()
    if highest is None:
        return []
    sql = (
        f"SELECT {_SELECTED} FROM chat_messages m WHERE m.message_tsv @@ ({_tsquery(terms)}){conditions} "
        f"AND m.id >= {p} AND m.id < {p} ORDER BY m.id DESC LIMIT {p}"
    )
    found: list[ChatHit] = []
    upper, window = highest + 1, FIRST_ID_WINDOW
    with db.atomic():
        db.execute_sql("SET LOCAL enable_indexscan = off")
        while len(found) < limit and upper > lowest:
            lower = max(lowest, upper - window)
            found += _hits(db.execute_sql(sql, [*terms, *values, lower, upper, limit - len(found)]))
            upper, window = lower, window * WINDOW_GROWTH
    return found


def fts5_string(term: str) -> str:
    """An FTS5 string: inside double quotes (a quote doubled) nothing is an operator."""
    return '"' + term.replace('"', '""') + '"'


def _filters(where: SearchFilter, p: str) -> tuple[str, list[object]]:
    kinds = ", ".join([p] * len(SEARCHED_KINDS))
    clauses: list[str] = [f"m.kind IN ({kinds})"]
    values: list[object] = [*SEARCHED_KINDS]
    if where.channel:
        clauses.append(f"m.channel = {p}")
        values.append(where.channel.lower().lstrip("#"))
    if where.vod_id:
        clauses.append(f"m.vod_id = {p}")
        values.append(where.vod_id)
    if where.user:
        clauses.append(f"(m.username = {p} OR LOWER(m.display_name) = {p})")
        values += [where.user.lower().lstrip("@")] * 2
    if where.since is not None:
        clauses.append(f"m.abs_timestamp >= {p}")
        values.append(where.since)
    return "".join(f" AND {clause}" for clause in clauses), values


def _hits(cursor: Any) -> list[ChatHit]:
    return [_hit(row) for row in cursor.fetchall()]


def _hit(row: Sequence[object]) -> ChatHit:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["deleted"], values["mirrored"] = bool(values["deleted"]), bool(values["mirrored"])
    return ChatHit(**values)  # type: ignore[arg-type]
