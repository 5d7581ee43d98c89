"""The web viewer in a real browser: Debian's Chromium (headless, Selenium) on the daemon as a process.

One daemon, one browser and one archive for the module (tests/helpers/web_archive.py, plus a VOD with
50,000 chat messages): the archive page lists the database's VODs, the VOD page plays its MP4 and shows
at each moment the chat the database holds for it, hostile text stays text, the keyboard reaches what
matters, the chat pane stays a window in a busy chat, and no page logs a console error (a
Content-Security-Policy violation is one).  Screenshots go to the test artefacts.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import peewee
import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from werkzeug.security import generate_password_hash

from tests.helpers.browser import Browser, chromium
from tests.helpers.processes import DaemonProcess, base_env, wait_until
from tests.helpers.web_archive import EMOJI, HOSTILE_TITLE, RTL, SCRIPT, Archive, fill_archive, make_test_video
from vodtender.runtime.clock import unix_seconds
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatMessage, Vod

BUSY_MESSAGES = 50_000
WAIT = 15.0  # seconds a page may take to show what a test waits for


@dataclass
class Site:
    url: str
    archive: Archive
    busy: Vod  # a VOD whose chat has BUSY_MESSAGES messages
    mpegts: Vod  # a VOD whose file is MPEG-TS (played through mpegts.js)
    daemon: DaemonProcess


def downloaded_vod(twitch_vod_id: str, title: str, file: Path) -> Vod:
    """A VOD of channel delta, as long as the played one, whose file is `file`."""
    return Vod.create(
        twitch_vod_id=twitch_vod_id,
        channel="delta",
        title=title,
        date=Vod.get(Vod.twitch_vod_id == "2000000001").date,
        duration_seconds=180,
        download_state="downloaded",
        downloaded_path=str(file),
    )


def mpegts_vod(video: Path) -> Vod:
    """The played VOD's video remuxed into MPEG-TS, as a VOD of its own."""
    ts = video.with_suffix(".ts")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(video), "-c", "copy", "-f", "mpegts", str(ts)],
        check=True,
    )
    return downloaded_vod("2000000098", "Kept as MPEG-TS", ts)


def busy_vod(video: Path) -> Vod:
    """The played VOD's file again, with 50,000 messages over its three minutes (about 280 a second)."""
    vod = downloaded_vod("2000000099", "Busy chat", video)
    # One statement, not 50,000 inserts through the model: the chat search's triggers make those slow.
    # Offsets to the millisecond, as the API gives them, so the database's rows compare with the pane's.
    assert vod.date is not None
    ChatMessage._meta.database.execute_sql(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
        "INSERT INTO chat_messages (msg_id, channel, vod_id, kind, username, display_name, message, abs_timestamp, "
        "rel_timestamp, bits, first_msg, deleted, mirrored, origin) "
        "SELECT 'busy-' || i, ?, ?, 'message', 'viewer' || (i % 97), 'Viewer' || (i % 97), 'busy ' || i, "
        "? + round(i * ?, 3), round(i * ?, 3), 0, 0, 0, 0, 'live' FROM n",
        (BUSY_MESSAGES, vod.channel, vod.twitch_vod_id, unix_seconds(vod.date), *(2 * [180 / BUSY_MESSAGES])),
    )
    return vod


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, peewee.Database]]:
    root = tmp_path_factory.mktemp("web-browser")
    db = open_database(str(root / "vodtender.db"))
    migrate(db)
    yield root, db
    db.close()


def web_daemon(root: Path, **env: str) -> DaemonProcess:
    """`vodtender web` on the module's database and data, started and answering."""
    daemon = DaemonProcess(
        "web", root, env=base_env(root, DB_DSN=str(root / "vodtender.db"), DATA_DIR=str(root / "data"), **env)
    )
    daemon.start().wait_http("/readyz")
    return daemon


@pytest.fixture(scope="module")
def site(database: tuple[Path, peewee.Database]) -> Iterator[Site]:
    root, _ = database
    data = root / "data"
    video = make_test_video(data / "alpha" / "vod.mp4")
    archive = fill_archive(data, video)
    busy = busy_vod(video)
    mpegts = mpegts_vod(video)
    (root / "etc").mkdir()
    daemon = web_daemon(root)
    try:
        yield Site(f"http://127.0.0.1:{daemon.http_port}", archive, busy, mpegts, daemon)
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as opened:
        yield opened


@pytest.fixture(autouse=True)
def console_clean(browser: Browser) -> Iterator[None]:
    """Every test ends with no SEVERE console entry: no CSP violation, failed request or script error."""
    browser.severe_console_entries()  # what an earlier test left
    yield
    assert browser.severe_console_entries() == []


def js(browser: Browser, script: str, *args: Any) -> Any:
    return browser.driver.execute_script(script, *args)


def open_page(browser: Browser, site: Site, path: str, ready_selector: str) -> None:
    browser.driver.get(site.url + path)
    wait_until(
        lambda: js(browser, "return document.querySelector(arguments[0]) !== null", ready_selector),
        WAIT,
        what=f"{ready_selector} on {path}",
    )


# The rows the chat pane shows: [row id, class list, the row's main text, its marks].
PANE_ROWS = """
return [...document.querySelectorAll('#chat .chat-line')].map(r => [
  r.dataset.id ? Number(r.dataset.id) : null, [...r.classList], r.querySelector('.chat-text').textContent,
  [...r.querySelectorAll('.mark')].map(m => m.textContent)])
"""


def pane(browser: Browser) -> dict[str, float]:
    settings = js(browser, "return Object.assign({}, document.getElementById('chat').dataset)")
    return {"behind": float(settings["behindSeconds"]), "rows": float(settings["maxRows"])}


SEEKED = "const v = document.getElementById('player'); return !v.seeking && v.readyState >= 2"


def seek(browser: Browser, seconds: float) -> float:
    """Seek the paused player and wait until it has; returns where it is."""
    js(browser, "const v = document.getElementById('player'); v.pause(); v.currentTime = arguments[0]", seconds)
    wait_until(lambda: js(browser, SEEKED), WAIT, what=f"the player at {seconds} s")
    return float(js(browser, "return document.getElementById('player').currentTime"))


def chat_rows_at(vod: Vod, t: float, behind: float) -> list[ChatMessage]:
    """What the database says the pane shows at t: the events of [t - behind, t], a CLEARMSG showing nothing."""
    return list(
        ChatMessage.select()
        .where(
            (ChatMessage.vod_id == vod.twitch_vod_id)
            & (ChatMessage.rel_timestamp >= t - behind)
            & (ChatMessage.rel_timestamp <= t)
            & (ChatMessage.kind != "clearmsg")
        )
        .order_by(ChatMessage.rel_timestamp, ChatMessage.id)
    )


# Every field, progress bar and media element without a name a screen reader can say.
UNLABELLED = """
return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, progress, video, [role=log]')]
  .filter(e => !e.getAttribute('aria-label') && !(e.id && document.querySelector(`label[for="${e.id}"]`)))
  .map(e => e.outerHTML.slice(0, 120))
"""


def shown_ids(browser: Browser) -> list[int]:
    return [row[0] for row in js(browser, PANE_ROWS) if row[0] is not None]


def shows(browser: Browser, ids: list[int]) -> bool:
    return shown_ids(browser) == ids


def test_archive_page_lists_the_fixture_vods(site: Site, browser: Browser) -> None:
    open_page(browser, site, "/", "#vod-table:not([hidden]) tbody tr")
    rows = js(
        browser,
        "return [...document.querySelectorAll('#vod-table tbody tr')].map(r => "
        "[Number(r.dataset.vodId), r.querySelector('td.title a').textContent])",
    )
    expected = {v.id: v.title for v in Vod.select()}
    assert dict(rows) == expected and len(rows) == len(expected)
    assert js(browser, UNLABELLED) == []
    browser.screenshot("archive")

    alpha = Select(browser.driver.find_element(By.ID, "filter-channel"))
    alpha.select_by_value("alpha")
    browser.driver.find_element(By.CSS_SELECTOR, "#vod-filter button[type=submit]").click()
    wait_until(lambda: "channel=alpha" in browser.driver.current_url, WAIT, what="the filtered archive")
    wait_until(
        lambda: js(browser, "return document.querySelector('#vod-table:not([hidden]) tbody tr') !== null"),
        WAIT,
        what="the filtered list",
    )
    filtered = js(
        browser, "return [...document.querySelectorAll('#vod-table tbody tr')].map(r => Number(r.dataset.vodId))"
    )
    assert sorted(filtered) == sorted(v.id for v in Vod.select().where(Vod.channel == "alpha"))


def test_mpegts_file_plays_through_the_vendored_player(site: Site, browser: Browser) -> None:
    open_page(browser, site, f"/vods/{site.mpegts.id}", "#player")
    assert js(browser, "return document.getElementById('player').dataset.type") == "mpegts"
    assert js(browser, "return typeof window.mpegts.createPlayer") == "function"
    js(browser, "document.getElementById('player').play()")
    wait_until(
        lambda: js(browser, "return document.getElementById('player').currentTime") > 0.5,
        WAIT,
        what="the MPEG-TS video playing",
    )
    assert js(browser, "return document.getElementById('player').src").startswith("blob:")  # through MSE
    assert seek(browser, 90) == 90


def test_vod_page_plays_and_replays_the_chat_of_each_moment(site: Site, browser: Browser) -> None:
    played = site.archive.played
    open_page(browser, site, f"/vods/{played.id}", "#player")
    js(browser, "document.getElementById('player').play()")
    wait_until(
        lambda: js(browser, "return document.getElementById('player').currentTime") > 0.5,
        WAIT,
        what="the video playing",
    )

    window = pane(browser)
    t = seek(browser, 120)
    expected = chat_rows_at(played, t, window["behind"])
    wait_until(lambda: shown_ids(browser) == [m.id for m in expected], WAIT, what="the chat of 120 s")
    shown = {row[0]: row for row in js(browser, PANE_ROWS)}
    for m in expected:
        if m.kind == "message":
            assert shown[m.id][2] == m.message
    assert site.archive.deleted_near_120 is not None
    deleted = shown[site.archive.deleted_near_120.id]
    assert "deleted" in deleted[1] and "deleted" in deleted[3]  # struck through and said in words
    style = js(
        browser, "return getComputedStyle(document.querySelector('#chat .deleted .chat-text')).textDecorationLine"
    )
    assert style == "line-through"
    browser.screenshot("vod-120s")

    t = seek(browser, 125)
    wait_until(
        lambda: shown_ids(browser) == [m.id for m in chat_rows_at(played, t, window["behind"])],
        WAIT,
        what="the chat of 125 s",
    )
    assert "user3 timed out for 600 s" in [row[2] for row in js(browser, PANE_ROWS)]

    seek(browser, 155)  # inside the recorder's gap (150 s to 160 s)
    wait_until(
        lambda: "chat not recorded from 2:30 to 2:40" in " ".join(row[2] for row in js(browser, PANE_ROWS)),
        WAIT,
        what="the gap's line",
    )


def test_hostile_title_and_chat_render_as_text(site: Site, browser: Browser) -> None:
    hostile = site.archive.hostile
    open_page(browser, site, f"/vods/{hostile.id}", "#chat-position")
    assert js(browser, "return document.getElementById('vod-title').textContent") == HOSTILE_TITLE
    js(
        browser,
        "const p = document.getElementById('chat-position'); p.value = '12'; p.dispatchEvent(new Event('input'))",
    )
    lines = site.archive.hostile_lines
    wait_until(lambda: shown_ids(browser) == [m.id for m in lines], WAIT, what="the hostile chat lines")
    assert [row[2] for row in js(browser, PANE_ROWS)] == [SCRIPT, RTL, EMOJI]
    names = js(browser, "return [...document.querySelectorAll('#chat .chat-name')].map(n => n.textContent)")
    assert names[0] == SCRIPT
    injected = js(
        browser, "return [window.pwned, document.querySelectorAll('main img, main script:not([type])').length]"
    )
    assert injected == [None, 0]
    browser.screenshot("vod-hostile")
    with pytest.raises(NoAlertPresentException):
        browser.driver.switch_to.alert.text  # noqa: B018  (reading it is the check)

    open_page(browser, site, "/", f"#vod-table tbody tr[data-vod-id='{hostile.id}']")
    title = js(
        browser,
        "return document.querySelector(arguments[0]).textContent",
        f"#vod-table tbody tr[data-vod-id='{hostile.id}'] td.title a",
    )
    assert title == HOSTILE_TITLE and js(browser, "return window.pwned === undefined")


LABELS = """return [document.getElementById('player').getAttribute('aria-label'),
  document.getElementById('chat').getAttribute('role'), document.getElementById('chat').getAttribute('aria-label'),
  document.querySelector('label[for=chat-search-q]').textContent]"""


def test_keyboard_reaches_the_player_the_chat_and_the_search(site: Site, browser: Browser) -> None:
    played = site.archive.played
    open_page(browser, site, f"/vods/{played.id}", "#player")
    labels = js(browser, LABELS)
    assert labels[0] and labels[1] == "log" and labels[2] and labels[3] == "Search chat"
    assert js(browser, UNLABELLED) == []

    reached = []
    for _ in range(40):
        browser.driver.switch_to.active_element.send_keys(Keys.TAB)
        reached.append(browser.driver.switch_to.active_element.get_attribute("id"))
        if reached[-1] == "chat-search-q":
            break
    assert [i for i in ("player", "chat", "chat-search-q") if i in reached] == ["player", "chat", "chat-search-q"]
    assert reached.index("player") < reached.index("chat") < reached.index("chat-search-q")

    search = browser.driver.switch_to.active_element
    search.send_keys("deleted", Keys.ENTER)
    wait_until(
        lambda: js(browser, "return document.querySelectorAll('#chat-search-hits button').length"),
        WAIT,
        what="search hits",
    )
    hit = browser.driver.find_element(By.CSS_SELECTOR, "#chat-search-hits button")
    hit.send_keys(Keys.ENTER)
    assert site.archive.deleted_near_120 is not None
    wanted = site.archive.deleted_near_120.rel_timestamp
    wait_until(
        lambda: abs(js(browser, "return document.getElementById('player').currentTime") - wanted) < 0.5,
        WAIT,
        what="the video at the hit",
    )


def test_busy_chat_keeps_the_pane_to_its_window(site: Site, browser: Browser) -> None:
    open_page(browser, site, f"/vods/{site.busy.id}", "#player")
    window = pane(browser)
    for target in (30, 150, 10, 175, 90):
        t = seek(browser, target)
        expected = [m.id for m in chat_rows_at(site.busy, t, window["behind"])][-int(window["rows"]) :]
        wait_until(partial(shows, browser, expected), WAIT, what=f"the busy chat at {t} s")
        assert js(browser, "return document.getElementById('chat').children.length") <= window["rows"]


def test_status_and_live_pages(site: Site, browser: Browser) -> None:
    open_page(browser, site, "/status", "#status-daemons")
    report = json.loads(site.daemon.http("/api/status")[1])
    headings = js(browser, "return [...document.querySelectorAll('#status-report h2')].map(h => h.id)")
    shown = {
        "status-overall",
        *(f"status-{k}" for k in report if k not in {"schema_version", "generated_at", "ok", "attention", "read"}),
    }
    assert set(headings) == shown
    assert js(browser, "return document.getElementById('status-updated').textContent").startswith("Last updated")
    browser.screenshot("status")

    live = site.archive.live
    assert live is not None
    open_page(browser, site, "/live", "#live-table:not([hidden]) tbody tr")
    links = js(browser, "return [...document.querySelectorAll('#live-table a')].map(a => a.getAttribute('href'))")
    assert links == [f"/vods/{live.id}"]


def test_operator_actions_only_for_a_signed_in_user(
    site: Site, browser: Browser, database: tuple[Path, peewee.Database]
) -> None:
    played = site.archive.played
    open_page(browser, site, f"/vods/{played.id}", "#player")
    assert browser.driver.find_elements(By.CSS_SELECTOR, ".operator form") == []  # nobody signed in

    root, _ = database
    (root / "htpasswd").write_text(f"operator:{generate_password_hash('s3cret-pw', 'pbkdf2:sha256:1000')}\n")
    signed_in = web_daemon(root, WEB_AUTH=str(root / "htpasswd"))
    try:
        browser.driver.get(f"http://operator:s3cret-pw@127.0.0.1:{signed_in.http_port}/vods/{played.id}")
        priority = browser.driver.find_element(By.ID, "action-priority")
        assert js(browser, UNLABELLED) == []  # the action forms' fields too
        priority.clear()
        priority.send_keys("42")
        browser.driver.find_element(By.CSS_SELECTOR, "form[action$='/actions/priority'] button").click()
        wait_until(
            lambda: "done=" in browser.driver.current_url or "/actions/" in browser.driver.current_url,
            WAIT,
            what="the action's answer",
        )
        assert "done=" in browser.driver.current_url, browser.driver.find_element(By.TAG_NAME, "main").text
        notice = browser.driver.find_element(By.CSS_SELECTOR, ".notice[role=status]").text
        assert "priority" in notice and "42" in notice
        assert Vod.get_by_id(played.id).priority == 42
    finally:
        signed_in.stop()
