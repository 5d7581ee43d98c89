"""What the DATA_DIR check says about a folder that cannot take a download, and that it leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

from vodtender.pipeline.download.preflight import data_dir_problem


def test_a_usable_folder_is_created_and_left_empty(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "data"
    assert data_dir_problem(folder, min_free=0) is None
    assert folder.is_dir() and list(folder.iterdir()) == []  # the test write is removed


def test_a_file_where_the_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    problem = data_dir_problem(tmp_path / "data", min_free=0)
    assert problem == f"DATA_DIR {tmp_path / 'data'} is not a directory: move what is there or set DATA_DIR"


def test_a_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    problem = data_dir_problem(tmp_path / "file" / "data", min_free=0)
    assert problem is not None and problem.startswith(f"DATA_DIR {tmp_path / 'file' / 'data'} cannot be created by")


def test_less_free_space_than_download_min_free(tmp_path: Path) -> None:
    problem = data_dir_problem(tmp_path, min_free=2**60)
    assert (
        problem is not None and "DOWNLOAD_MIN_FREE is" in problem and "free space or lower DOWNLOAD_MIN_FREE" in problem
    )
