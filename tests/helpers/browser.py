"""A real browser for the web viewer's tests: Debian's Chromium, headless, driven by Debian's chromedriver.

Selenium is given both binaries, so Selenium Manager never runs (it would try to download a driver).
Every test can save screenshots as artefacts (`$VODTENDER_ARTEFACTS`, else build/test-artefacts/web/)
and read the browser's console: a Content-Security-Policy violation, a failed request or an uncaught
exception is a SEVERE entry there.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

from tests.helpers.processes import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1280, 860)
FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",  # play() from a test, with no click first
    "--mute-audio",
)


def artefacts_dir() -> Path:
    folder = Path(os.environ.get("VODTENDER_ARTEFACTS") or REPO / "build" / "test-artefacts" / "web")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Browser:
    """One Chromium window: the driver plus the two things every test checks, screenshots and console."""

    def __init__(self, driver: WebDriver, artefacts: Path):
        self.driver = driver
        self.artefacts = artefacts
        self.console: list[dict] = []  # every entry read so far, for the failure message

    def screenshot(self, name: str) -> Path:
        path = self.artefacts / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def severe_console_entries(self) -> list[dict]:
        """The SEVERE entries since the last call (reading the log empties it)."""
        entries = self.driver.get_log("browser")
        self.console.extend(entries)
        return [e for e in entries if e.get("level") == "SEVERE"]


@contextmanager
def chromium() -> Iterator[Browser]:
    os.environ["SE_AVOID_STATS"] = "true"  # Selenium's usage statistics: no network call
    with tempfile.TemporaryDirectory(prefix="vodtender-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        try:
            yield Browser(driver, artefacts_dir())
        finally:
            driver.quit()
