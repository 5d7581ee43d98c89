from __future__ import annotations

import pytest

from vodtender.pipeline.upload.thumbnail import ThumbnailError, image_type, thumbnail_url


def test_helix_template_asks_for_the_largest_size_youtube_takes() -> None:
    template = "https://cdn.example/cf_vods/x/thumb/thumb0-%{width}x%{height}.jpg"
    assert thumbnail_url(template) == "https://cdn.example/cf_vods/x/thumb/thumb0-1280x720.jpg"


@pytest.mark.parametrize("template", [None, "", "file:///etc/passwd", "ftp://host/x-%{width}x%{height}.jpg"])
def test_no_thumbnail_without_an_http_url(template: str | None) -> None:
    assert thumbnail_url(template) is None


def test_only_jpeg_and_png_are_sent() -> None:
    assert image_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert image_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    with pytest.raises(ThumbnailError):
        image_type(b"<html>404</html>")
