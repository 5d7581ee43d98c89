"""`vodtender chat search` on a million messages, side by side with the LIKE query it replaces.

    python3 bench/bench_chat_search.py              # 1,000,000 messages, SQLite and PostgreSQL
    python3 bench/bench_chat_search.py --messages 100000

Per database kind: a database as it was before the `chat_search_index` migration gets the
messages (real busy-channel chat, bench_chat.txt, repeated with fresh ids and times, 100 VODs),
then the migration runs on it (timed: what an upgrade costs).  Then words of every frequency in
that chat (the most frequent one, the 10th, 100th, 1000th, and one seen once per copy of the
corpus) and a phrase are searched the way the command does (newest 50), across everything and
within one VOD, each the median of several runs, next to `message LIKE '%word%'` (ILIKE on
PostgreSQL, as case does not matter to search).  Prints times and ratios.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import peewee  # noqa: E402

from tests.helpers.chat_search import drop_chat_search_index  # noqa: E402
from tests.helpers.postgres import each_database  # noqa: E402
from tests.standins.irc import load_irc_lines  # noqa: E402
from vodtender.clients.irc_lines import parse_line  # noqa: E402
from vodtender.pipeline.chat.events import DETAIL_COLUMNS, ChatEvent, ChatEventBuilder  # noqa: E402
from vodtender.pipeline.chat.rows import insert_messages  # noqa: E402
from vodtender.pipeline.chat.search import SearchFilter, search_chat  # noqa: E402
from vodtender.runtime.db import open_database  # noqa: E402
from vodtender.runtime.migrations import migrate  # noqa: E402

MESSAGE = DETAIL_COLUMNS.index("message")

VODS = 100
RUNS = 5


def corpus() -> list[ChatEvent]:
    builder = ChatEventBuilder()
    events = [builder.build(parse_line(line), line, 0.0) for line in load_irc_lines("bench_chat.txt")]
    return [e for e in events if e is not None and e.kind == "message" and e.details[MESSAGE]]


def fill(db: peewee.Database, messages: int, events: list[ChatEvent]) -> int:
    """The corpus once through the writer's insert path (offline chat), then copies of it made by the
    database itself (fresh ids, later times, VODs v0..v99): minutes of Python rows avoided."""
    with db.atomic():
        insert_messages([e.row(None, None) for e in events])
    copies = max(1, messages // len(events) - 1)
    db.execute_sql("CREATE TABLE bench_copies (n INTEGER)")
    db.cursor().executemany(f"INSERT INTO bench_copies VALUES ({db.param})", [(n,) for n in range(1, copies + 1)])
    first = min(e.abs_timestamp for e in events)
    span = max(e.abs_timestamp for e in events) - first + 1  # seconds one copy of the corpus lasts
    with db.atomic():
        db.execute_sql(
            "INSERT INTO chat_messages (msg_id, channel, vod_id, rel_timestamp, abs_timestamp, kind, username, "
            "display_name, message, deleted, bits, first_msg) "
            f"SELECT c.msg_id || '-' || b.n, c.channel, 'v' || (b.n * {VODS} / {copies + 1}), "
            f"c.abs_timestamp - {first} + (b.n - b.n / {max(1, copies // VODS)} * {max(1, copies // VODS)}) * {span}, "
            f"c.abs_timestamp + b.n * {span}, c.kind, c.username, c.display_name, c.message, 0, 0, 0 "
            "FROM chat_messages c CROSS JOIN bench_copies b"
        )
    db.execute_sql("DROP TABLE bench_copies")
    return len(events) * (copies + 1)


def words_by_rank(events: list[ChatEvent]) -> list[tuple[str, str]]:
    counts = collections.Counter(w.lower() for e in events for w in e.details[MESSAGE].split() if w.isalnum())
    ranked = [w for w, _ in counts.most_common()]
    once = next(w for w, c in reversed(counts.most_common()) if c == 1 and len(w) > 5)
    picks = [("1st", ranked[0]), ("10th", ranked[9]), ("100th", ranked[99]), ("1000th", ranked[999]), ("rare", once)]
    return [*picks, ("phrase", f'"{ranked[0]} {ranked[1]}"')]


def median_ms(run: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def like(db: peewee.Database, word: str, vod_id: str | None) -> list[tuple]:
    p, op = db.param, "ILIKE" if isinstance(db, peewee.PostgresqlDatabase) else "LIKE"
    where = f"message {op} {p}" + (f" AND vod_id = {p}" if vod_id else "")
    params = [f"%{word.strip(chr(34))}%", *([vod_id] if vod_id else [])]
    sql = f"SELECT id FROM chat_messages WHERE {where} ORDER BY abs_timestamp DESC LIMIT 50"
    return db.execute_sql(sql, params).fetchall()


def bench(kind: str, dsn: str, messages: int, events: list[ChatEvent]) -> None:
    db = open_database(dsn)
    migrate(db)
    drop_chat_search_index(db)
    started = time.perf_counter()
    messages = fill(db, messages, events)
    filled = time.perf_counter() - started
    if kind == "postgresql":
        db.execute_sql("ANALYZE chat_messages")
    started = time.perf_counter()
    migrate(db)
    migration = time.perf_counter() - started
    if kind == "postgresql":
        db.execute_sql("ANALYZE chat_messages")  # what autovacuum does after a change of this size
    print(f"\n{kind}: {messages:,} messages stored in {filled:.1f}s; migration chat_search_index {migration:.1f}s")
    print(f"  {'word':<24}{'scope':<7}{'matches':>9}{'search ms':>11}{'LIKE ms':>10}{'LIKE/search':>13}")
    vod_id = f"v{VODS // 2}"
    for rank, word in words_by_rank(events):
        for scope, vod in (("all", None), ("1 VOD", vod_id)):
            found = len(search_chat(word, SearchFilter(vod_id=vod, limit=messages)))
            ours = median_ms(lambda: search_chat(word, SearchFilter(vod_id=vod)))  # noqa: B023
            theirs = median_ms(lambda: like(db, word, vod))  # noqa: B023
            label = f"{rank} {word}"[:23]
            print(f"  {label:<24}{scope:<7}{found:>9,}{ours:>11.1f}{theirs:>10.1f}{theirs / ours:>12.1f}x")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--kind", choices=("sqlite", "postgresql"), action="append")
    args = parser.parse_args()
    events = corpus()
    for kind, dsn, _ in each_database(args.kind or ["sqlite", "postgresql"], "search"):
        bench(kind, dsn, args.messages, events)


if __name__ == "__main__":
    main()
