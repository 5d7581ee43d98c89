"""Retention deletes only confirmed-uploaded files, stops at the free-space threshold, and dry-run deletes nothing."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import peewee
import pytest

from vodtender.ops.retention import Policy, Retention
from vodtender.runtime.models import ChatMessage, Vod, VodEvent, utcnow

MB = 2**20


class FakeDisk:
    """A disk of fixed capacity holding the files of `folder`: free space follows what is deleted."""

    def __init__(self, folder: Path, capacity: int):
        self.folder, self.capacity = folder, capacity

    def free(self) -> int:
        return self.capacity - sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def make(
    folder: Path,
    vod_id: str,
    days_old: int,
    size_mb: int = 1,
    channel: str = "alpha",
    uploaded: bool = True,
    **fields: object,
) -> Vod:
    path = folder / channel / f"{vod_id}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * (size_mb * MB))
    values: dict[str, object] = {
        "download_state": "downloaded",
        "downloaded_path": str(path),
        "download_host": socket.gethostname(),
        "download_total": size_mb * MB,
    }
    if uploaded:
        values.update(processed=1, youtube_url=f"https://youtu.be/{vod_id}", upload_state="done")
    values.update(fields)
    vod = Vod.create(twitch_vod_id=vod_id, channel=channel, date=utcnow() - dt.timedelta(days=days_old), **values)
    ChatMessage.create(msg_id=f"m{vod_id}", channel=channel, vod_id=vod_id, abs_timestamp=1.0, message="kept")
    return vod


def files(folder: Path) -> set[str]:
    return {p.stem for p in folder.rglob("*.mp4")}


@pytest.fixture
def data(tmp_path: Path, migrated_db: peewee.Database) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def test_age_policy_deletes_old_uploaded_files_and_keeps_rows_and_chat(data: Path) -> None:
    make(data, "old", 40)
    make(data, "new", 2)
    retention = Retention(Policy(keep_days=30), data)
    done = retention.apply(retention.plan())
    assert [r.twitch_vod_id for r in done] == ["old"]
    assert files(data) == {"new"}
    old = Vod.get(Vod.twitch_vod_id == "old")
    assert old.downloaded_path is None and old.youtube_url and old.processed == 1
    assert ChatMessage.select().count() == 2
    (event,) = VodEvent.select().where(VodEvent.vod == old.id)
    assert (event.stage, event.kind) == ("retention", "file_deleted") and "older than 30 days" in event.message


def test_never_deletes_a_file_that_is_not_uploaded(data: Path) -> None:
    make(data, "not-uploaded", 90, uploaded=False)
    make(data, "processed-without-url", 90, uploaded=False, processed=1)  # download-only mode
    make(data, "url-but-reset", 90, uploaded=False, youtube_url="https://youtu.be/x")  # operator re-queued it
    make(data, "uploading", 90, uploaded=False, upload_state="uploading")
    make(data, "failed", 90, uploaded=False, processing_error="quota")
    retention = Retention(Policy(keep_days=1, keep_count=1, min_free=10**15), data)
    plan = retention.plan()
    assert plan.removals == [] and plan.short_of_min_free
    assert set(plan.kept_not_uploaded) == files(data)
    retention.apply(plan)
    assert len(files(data)) == 5
    assert Vod.select().where(Vod.downloaded_path.is_null()).count() == 0


def test_uploading_off_needs_the_explicit_setting(data: Path) -> None:
    make(data, "local-only", 90, uploaded=False, processed=1)
    make(data, "still-downloading", 90, uploaded=False, download_state="downloading")
    refused = Retention(Policy(keep_days=1, uploading=False, without_upload=False), data)
    assert refused.plan().removals == []
    allowed = Retention(Policy(keep_days=1, uploading=False, without_upload=True), data)
    assert [r.twitch_vod_id for r in allowed.apply(allowed.plan())] == ["local-only"]
    # with uploading on, the setting does not make a non-uploaded file deletable
    make(data, "local-2", 90, uploaded=False, processed=1)
    assert Retention(Policy(keep_days=1, uploading=True, without_upload=True), data).plan().removals == []


def test_free_space_policy_deletes_oldest_first_and_stops_at_the_threshold(data: Path) -> None:
    for n in range(6):  # 6 files x 10 MiB, oldest = f0
        make(data, f"f{n}", 10 - n, size_mb=10)
    disk = FakeDisk(data, capacity=100 * MB)  # 40 MiB free now
    retention = Retention(Policy(min_free=65 * MB), data, free_bytes=disk.free)
    plan = retention.plan()
    assert [r.twitch_vod_id for r in plan.removals] == ["f0", "f1", "f2"]  # 40 -> 70 MiB; f2 is the last needed
    retention.apply(plan)
    assert files(data) == {"f3", "f4", "f5"}
    assert disk.free() == 70 * MB
    assert Retention(Policy(min_free=65 * MB), data, free_bytes=disk.free).plan().removals == []  # already enough


def test_free_space_policy_skips_files_it_may_not_delete(data: Path) -> None:
    make(data, "oldest-not-uploaded", 30, size_mb=10, uploaded=False)
    make(data, "older", 20, size_mb=10)
    make(data, "newer", 10, size_mb=10)
    disk = FakeDisk(data, capacity=40 * MB)  # 10 MiB free
    retention = Retention(Policy(min_free=15 * MB), data, free_bytes=disk.free)
    retention.apply(retention.plan())
    assert files(data) == {"oldest-not-uploaded", "newer"}


def test_count_policy_keeps_the_newest_per_channel(data: Path) -> None:
    for n in range(4):
        make(data, f"a{n}", 10 - n, channel="alpha")
    make(data, "b0", 50, channel="beta")
    retention = Retention(Policy(keep_count=2), data)
    retention.apply(retention.plan())
    assert files(data) == {"a2", "a3", "b0"}


def test_dry_run_deletes_nothing(data: Path) -> None:
    for n in range(3):
        make(data, f"f{n}", 100 + n)
    retention = Retention(Policy(keep_days=1, min_free=10**12), data)
    plan = retention.plan()
    assert len(plan.removals) == 3
    assert files(data) == {"f0", "f1", "f2"}  # planning alone is the dry run
    assert Vod.select().where(Vod.downloaded_path.is_null()).count() == 0 and VodEvent.select().count() == 0


def test_a_vod_requeued_after_planning_is_not_touched(data: Path) -> None:
    make(data, "requeued", 90)
    retention = Retention(Policy(keep_days=1), data)
    plan = retention.plan()
    Vod.update(processed=0, processing_error=None, youtube_url=None).where(Vod.twitch_vod_id == "requeued").execute()
    assert retention.apply(plan) == []
    assert files(data) == {"requeued"}


def test_files_outside_data_dir_or_of_another_host_are_left_alone(data: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    make(elsewhere, "outside", 90)
    make(data, "other-host", 90, download_host="another-host")
    retention = Retention(Policy(keep_days=1), data)
    assert retention.plan().removals == []
    shared = Retention(Policy(keep_days=1, shared_data_dir=True), data)
    assert [r.twitch_vod_id for r in shared.plan().removals] == ["other-host"]


def test_a_file_already_gone_only_clears_the_path(data: Path) -> None:
    vod = make(data, "gone", 90)
    Path(vod.downloaded_path).unlink()  # e.g. UPLOAD_DELETE_LOCAL=1
    retention = Retention(Policy(keep_days=1), data)
    assert retention.apply(retention.plan()) == []
    assert Vod.get_by_id(vod.id).downloaded_path is None and VodEvent.select().count() == 0


def test_a_channels_own_rules_apply_to_its_files_only(data: Path) -> None:
    make(data, "alpha-old", 40, channel="alpha")
    make(data, "beta-old", 40, channel="beta")  # [channel beta] retention-keep-days = 60
    make(data, "beta-older", 70, channel="beta")
    own = {"beta": Policy(keep_days=60)}
    retention = Retention(Policy(keep_days=30), data, channel_policy=lambda c: own.get(c, Policy(keep_days=30)))
    done = retention.apply(retention.plan())
    assert sorted(r.twitch_vod_id for r in done) == ["alpha-old", "beta-older"]
    assert files(data) == {"beta-old"}
