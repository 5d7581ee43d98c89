"""The web viewer's chat window on a VOD with a million messages, over real HTTP, beside reading the whole chat.

    python3 bench/bench_web_chat.py                      # 1,000,000 messages, SQLite and PostgreSQL
    python3 bench/bench_web_chat.py --kind sqlite --messages 200000

Per database kind: one VOD of 10 hours gets the messages (made by the database itself), then
`vodtender web` runs as its own process on it, and windows of 60 s at random offsets are asked
for at `/api/vods/<id>/chat` over one kept-alive HTTP connection (median and p95).  Beside it,
the peer: the same window taken from the VOD's whole chat read the way the exports read it
(ops/chat_export/rows.py `chat_rows`), in-process, without any HTTP.  Prints both, the ratio,
and the database's plan for the window query (the `chat_messages (vod_id, rel_timestamp)` index).

Then the VOD page itself, in Debian's Chromium (headless, as the browser tests drive it): the chat
position is moved to random moments, and the time from the move to the pane showing the chat of
that moment is measured in the page (median, p95), with the most rows the pane ever held and the
main thread's long tasks (over 50 ms: what a user feels as a frozen page) during all the moves.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import peewee  # noqa: E402

from tests.helpers.postgres import each_database  # noqa: E402
from tests.helpers.processes import DaemonProcess, base_env  # noqa: E402
from vodtender.ops.chat_export.rows import chat_rows  # noqa: E402
from vodtender.runtime.db import open_database  # noqa: E402
from vodtender.runtime.migrations import migrate  # noqa: E402
from vodtender.runtime.models import Vod  # noqa: E402
from vodtender.web.chat import WINDOW_LIMIT, window_answer, window_query  # noqa: E402

VOD_SECONDS = 10 * 3600
WINDOW = 60.0
WINDOWS = 200  # asked over HTTP
PEER_RUNS = 1  # whole-chat reads: about a minute each at a million messages
PAGE_MOVES = 30  # moves of the VOD page's chat position, in the browser
START_UNIX = 1772366400.0


def fill(db: peewee.Database, messages: int) -> Vod:
    """One VOD and its chat, spread evenly over it, one message in a thousand deleted."""
    vod = Vod.create(twitch_vod_id="3000000001", channel="bench", title="a busy night", duration_seconds=VOD_SECONDS)
    step = VOD_SECONDS / messages
    mod = "%%" if isinstance(db, peewee.PostgresqlDatabase) else "%"  # psycopg2 reads a lone % as a parameter
    with db.atomic():
        db.execute_sql(
            "INSERT INTO chat_messages (msg_id, channel, vod_id, kind, username, display_name, message, "
            "abs_timestamp, rel_timestamp, deleted, bits, first_msg, mirrored, origin) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
            f"{messages}) SELECT 'm' || i, 'bench', '{vod.twitch_vod_id}', 'message', 'user' || (i {mod} 500), "
            f"'User' || (i {mod} 500), 'message number ' || i, {START_UNIX} + i * {step}, i * {step}, "
            f"CASE WHEN i {mod} 1000 = 0 THEN 1 ELSE 0 END, 0, 0, 0, 'live' FROM n"
        )
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql("ANALYZE chat_messages")
    return vod


def plan(db: peewee.Database, vod: Vod) -> str:
    """How the database runs the endpoint's query (the window at 1 h)."""
    text, values = window_query(vod, 3600.0, 3600.0 + WINDOW, WINDOW_LIMIT).sql()
    explain = "EXPLAIN QUERY PLAN " if isinstance(db, peewee.SqliteDatabase) else "EXPLAIN "
    rows = db.execute_sql(explain + text, values).fetchall()
    return "\n".join(f"    {row[-1]}" for row in rows)


def timed(run: Callable[[], object], times: int) -> list[float]:
    found = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        found.append((time.perf_counter() - started) * 1000)
    return found


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def over_http(port: int, vod_id: int, offsets: list[float]) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lines = []

    def ask(start: float) -> None:
        conn.request("GET", f"/api/vods/{vod_id}/chat?from={start:.3f}&to={start + WINDOW:.3f}")
        answer = conn.getresponse()
        body = json.loads(answer.read())
        assert answer.status == 200, body
        lines.append(len(body["messages"]))

    ask(0.0)  # the first request opens the database connection of its thread
    found = []
    for start in offsets:
        started = time.perf_counter()
        ask(start)
        found.append((time.perf_counter() - started) * 1000)
    conn.close()
    print(f"  {statistics.mean(lines):.0f} messages a window on average")
    return found


# In the page: move the chat position to arguments[0] and call back with the ms until the pane's newest
# row is within 2 s of it, and the most rows it held meanwhile.
MOVE_AND_WAIT = """
const [target, done] = [arguments[0], arguments[arguments.length - 1]];
const pane = document.getElementById('chat'), position = document.getElementById('chat-position');
const started = performance.now();
let most = 0;
position.value = String(target);
position.dispatchEvent(new Event('input'));
(function look() {
  most = Math.max(most, pane.children.length);
  const rows = pane.querySelectorAll('.chat-line[data-offset]');
  const newest = rows.length ? Number(rows[rows.length - 1].dataset.offset) : -1;
  if (newest <= target && newest >= target - 2) { done([performance.now() - started, most]); return; }
  if (performance.now() - started > 20000) { done([null, most]); return; }
  requestAnimationFrame(look);
})();
"""
LONG_TASKS = """
window.longTasks = [];
new PerformanceObserver(list => window.longTasks.push(...list.getEntries().map(e => e.duration)))
  .observe({type: 'longtask', buffered: false});
"""


def in_browser(port: int, vod_id: int, offsets: list[float]) -> None:
    from tests.helpers.browser import chromium

    with chromium() as browser:
        driver = browser.driver
        driver.set_script_timeout(30)
        driver.get(f"http://127.0.0.1:{port}/vods/{vod_id}")
        time.sleep(1.0)  # the page's first window
        driver.execute_script(LONG_TASKS)
        moves, most = [], 0
        for target in offsets:
            elapsed, rows = driver.execute_async_script(MOVE_AND_WAIT, round(target))
            assert elapsed is not None, f"the pane did not show the chat of {target:.0f} s within 20 s"
            moves.append(elapsed)
            most = max(most, rows)
        long_tasks = driver.execute_script("return window.longTasks")
    print(
        f"  VOD page, {len(offsets)} moves of the chat position: shown after {statistics.median(moves):.0f} ms "
        f"median, {p95(moves):.0f} ms p95; at most {most} rows in the pane; "
        f"{len(long_tasks)} long task(s) on the main thread, {sum(long_tasks):.0f} ms in all"
    )


def whole_chat_window(vod: Vod, start: float) -> dict:
    """The peer: every row of the VOD read as the exports read them, then the window taken from them."""
    rows = [m for m in chat_rows(vod) if m.rel_timestamp is not None and start <= m.rel_timestamp < start + WINDOW]
    return window_answer(vod, start, start + WINDOW, rows[:WINDOW_LIMIT], truncated=len(rows) > WINDOW_LIMIT)


def bench(kind: str, dsn: str, messages: int, workdir: Path) -> None:
    db = open_database(dsn)
    migrate(db)
    started = time.perf_counter()
    vod = fill(db, messages)
    stored = time.perf_counter() - started
    print(f"\n{kind}: {messages:,} messages in one {VOD_SECONDS // 3600} h VOD, stored in {stored:.1f}s")
    print("  the window query's plan:\n" + plan(db, vod))
    offsets = [random.Random(n).uniform(0, VOD_SECONDS - WINDOW) for n in range(WINDOWS)]
    (workdir / "etc").mkdir(exist_ok=True)
    env = base_env(workdir, DB_DSN=dsn, DATA_DIR=str(workdir / "data"))
    with DaemonProcess("web", workdir, env=env) as web:
        web.wait_http("/readyz", timeout=60)
        ours = over_http(web.http_port, vod.id, offsets)
        in_browser(web.http_port, vod.id, offsets[:PAGE_MOVES])
    theirs = timed(lambda: whole_chat_window(vod, offsets[0]), PEER_RUNS)
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    rows = (
        (f"GET /api/vods/<id>/chat (HTTP, {WINDOWS} windows)", ours),
        (f"whole chat read as the exports do ({PEER_RUNS} runs)", theirs),
    )
    print(f"  {'':<48}{'median ms':>10}{'p95 ms':>9}")
    for label, times in rows:
        print(f"  {label:<48}{statistics.median(times):>10.1f}{p95(times):>9.1f}")
    print(f"  whole-chat / window: {theirs_median / ours_median:.0f}x")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--kind", choices=("sqlite", "postgresql"), action="append")
    args = parser.parse_args()
    for kind, dsn, workdir in each_database(args.kind or ["sqlite", "postgresql"], "webchat"):
        bench(kind, dsn, args.messages, workdir)


if __name__ == "__main__":
    main()
