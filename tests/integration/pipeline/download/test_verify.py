"""The integrity check catches holes, repeats and truncation that a duration check alone misses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.standins.hls import PLAYLIST, make_vod, segment_paths
from vodtender.pipeline.download.verify import Fmp4SampleCounter, VideoPacketCounter, media_problems, pes_starts, probe

SEGMENTS = 8


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("verify")
    make_vod(folder, segments=SEGMENTS, segment_seconds=4)
    return segment_paths(folder / PLAYLIST)


def _join(target: Path, parts: list[Path]) -> Path:
    target.write_bytes(b"".join(p.read_bytes() for p in parts))
    return target


def test_the_whole_vod_passes(segments: list[Path], tmp_path: Path) -> None:
    assert media_problems(_join(tmp_path / "v.ts", segments), SEGMENTS * 4.0) == []


def test_a_missing_middle_segment_is_caught_by_the_packet_count(segments: list[Path], tmp_path: Path) -> None:
    problems = media_problems(_join(tmp_path / "v.ts", segments[:3] + segments[4:]), SEGMENTS * 4.0)
    assert any("packets" in p for p in problems)
    assert not any("duration" in p for p in problems)  # the span of timestamps still looks complete


def test_a_repeated_segment_is_caught(segments: list[Path], tmp_path: Path) -> None:
    problems = media_problems(_join(tmp_path / "v.ts", segments[:4] + segments[3:]), SEGMENTS * 4.0)
    assert any("packets" in p for p in problems)


def test_a_truncated_file_is_caught(segments: list[Path], tmp_path: Path) -> None:
    assert media_problems(_join(tmp_path / "v.ts", segments[:-2]), SEGMENTS * 4.0)


def test_garbage_is_caught(tmp_path: Path) -> None:
    (tmp_path / "v.ts").write_bytes(b"not a video" * 100)
    assert media_problems(tmp_path / "v.ts", 10.0)


def test_counting_pes_starts_while_writing_matches_ffprobe(segments: list[Path], tmp_path: Path) -> None:
    whole = _join(tmp_path / "v.ts", segments)
    video = next(s for s in probe(whole)["streams"] if s["codec_type"] == "video")
    counter = VideoPacketCounter()
    for segment in segments:
        counter.feed(memoryview(segment.read_bytes()))
    assert counter.packets == int(video["nb_read_packets"])
    assert pes_starts(whole.read_bytes(), counter.pid) == counter.packets
    assert media_problems(whole, SEGMENTS * 4.0, counter.packets) == []


def test_a_hole_is_caught_with_packets_counted_while_writing(segments: list[Path], tmp_path: Path) -> None:
    counter = VideoPacketCounter()
    for segment in segments[:3] + segments[4:]:
        counter.feed(segment.read_bytes())
    problems = media_problems(_join(tmp_path / "v.ts", segments[:3] + segments[4:]), SEGMENTS * 4.0, counter.packets)
    assert any("video stream" in p and "packets" in p for p in problems)


def test_data_that_is_not_packet_aligned_falls_back_to_a_full_count(segments: list[Path]) -> None:
    counter = VideoPacketCounter()
    counter.feed(segments[0].read_bytes()[:-1])
    assert counter.packets is None


def test_counting_fmp4_samples_while_writing_matches_ffprobe(tmp_path: Path) -> None:
    folder = tmp_path / "fmp4"
    folder.mkdir()
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10",
            "-f", "lavfi", "-i", "sine=sample_rate=22050", "-t", "12", "-c:v", "libx264", "-preset", "ultrafast",
            "-g", "20", "-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_segment_type", "fmp4",
            "-hls_fmp4_init_filename", "init-0.mp4", "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(folder / "%d.mp4"), str(folder / "index.m3u8"),
        ],
        check=True,
    )  # fmt: skip
    pieces = [folder / "init-0.mp4", *sorted(folder.glob("[0-9]*.mp4"), key=lambda p: int(p.stem))]
    whole = tmp_path / "v.mp4"
    whole.write_bytes(b"".join(p.read_bytes() for p in pieces))
    counter = Fmp4SampleCounter()
    for piece in pieces:
        counter.feed(piece.read_bytes())
    video = next(s for s in probe(whole)["streams"] if s["codec_type"] == "video")
    assert counter.packets == int(video["nb_read_packets"]) == 120
    broken = Fmp4SampleCounter()
    broken.feed(pieces[0].read_bytes()[:-3])  # not whole boxes: the full count decides instead
    assert broken.packets is None
