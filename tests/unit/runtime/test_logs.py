"""Log lines: sd-daemon priority prefix, key=value context, secrets masked wherever they come from."""

from __future__ import annotations

import logging

import pytest

from vodtender.runtime.logs import get_logger, register_secret, setup_logging


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]):
    setup_logging("debug")

    def read() -> list[str]:
        return capsys.readouterr().err.splitlines()

    yield read
    setup_logging("info")


def test_priority_prefix_and_context(lines) -> None:
    log = get_logger("downloader")
    log.error("download failed", vod_id=123, error="connection reset", attempt=2)
    log.warning("slow")
    log.info("hello")
    log.debug("detail")
    assert lines() == [
        '<3>downloader: download failed vod_id=123 error="connection reset" attempt=2',
        "<4>downloader: slow",
        "<6>downloader: hello",
        "<7>downloader: detail",
    ]


def test_bound_context_and_one_line_tracebacks(lines) -> None:
    log = get_logger("uploader").bind(vod_id=7)
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        log.error("upload failed", exc_info=True)
    out = lines()
    assert len(out) == 1
    assert out[0].startswith("<3>uploader: upload failed vod_id=7 exc=")
    assert "ValueError" in out[0]


def test_secrets_are_masked_in_every_line(lines) -> None:
    register_secret("oauth:tok3n-abcdefghijklmnop")
    get_logger("chat").info("login", token="oauth:tok3n-abcdefghijklmnop")
    logging.getLogger("somelibrary").warning("sent PASS tok3n-abcdefghijklmnop")
    out = "\n".join(lines())
    assert "tok3n-abcdefghijklmnop" not in out
    assert "****mnop" in out
