"""How one `videos.list` item reads: still processing, or its end with YouTube's reason and privacy."""

from __future__ import annotations

import pytest

from vodtender.pipeline.upload.processing import Verdict, verdict


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {
                "status": {"uploadStatus": "uploaded", "privacyStatus": "public"},
                "processingDetails": {
                    "processingStatus": "processing",
                    "processingProgress": {"partsTotal": "10", "partsProcessed": "3"},
                },
            },
            Verdict("processing", None, "public", "3/10"),
        ),
        ({"status": {"uploadStatus": "processed", "privacyStatus": "private"}}, Verdict("processed", None, "private")),
        (
            {"status": {"uploadStatus": "rejected", "rejectionReason": "trademark", "privacyStatus": "public"}},
            Verdict("rejected", "trademark", "public"),
        ),
        ({"status": {"uploadStatus": "failed", "failureReason": "tooSmall"}}, Verdict("failed", "tooSmall")),
        ({"status": {"uploadStatus": "deleted"}}, Verdict("failed", "deleted")),
        (  # processing gave up before the upload status says so
            {
                "status": {"uploadStatus": "uploaded"},
                "processingDetails": {"processingStatus": "failed", "processingFailureReason": "transcodeFailed"},
            },
            Verdict("failed", "transcodeFailed"),
        ),
        (
            {"status": {"uploadStatus": "uploaded"}, "processingDetails": {"processingStatus": "terminated"}},
            Verdict("failed", "terminated"),
        ),
        (None, Verdict("failed", "deleted")),  # YouTube no longer lists it
    ],
)
def test_a_videos_list_item_reads_as_youtube_means_it(item: dict | None, expected: Verdict) -> None:
    assert verdict(item) == expected
