"""The recent-id window that drops the copy of a message seen on both connections."""

from __future__ import annotations

from vodtender.pipeline.chat.dedupe import RecentIds


def test_an_id_seen_recently_is_refused() -> None:
    seen = RecentIds(10)
    assert seen.add("a") is True
    assert seen.add("b") is True
    assert seen.add("a") is False
    assert seen.add("a") is False, "refusing it does not make it new again"


def test_only_the_last_size_ids_are_kept() -> None:
    seen = RecentIds(3)
    for msg_id in ("a", "b", "c", "d"):  # "a" falls out of the window
        assert seen.add(msg_id)
    assert seen.add("a") is True
    assert seen.add("c") is False and seen.add("d") is False
    assert seen.add("b") is True, "re-adding 'a' pushed 'b' out"
