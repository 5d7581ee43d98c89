"""The tier markers mean what they say: a unit test is marked `unit` and cannot start a process."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest


def test_a_unit_test_is_marked_unit_and_nothing_else(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert not [m for m in ("integration", "e2e", "system") if request.node.get_closest_marker(m)]


@pytest.mark.parametrize(
    "start", [lambda: subprocess.run(["true"], check=False), lambda: os.system("true")], ids=["subprocess", "os.system"]
)
def test_starting_a_process_fails_the_unit_test(start: Callable[[], object]) -> None:
    with pytest.raises(pytest.fail.Exception, match="started a process") as failure:
        start()
    assert "belongs in the integration tier (tests/integration/test_tiers.py)" in str(failure.value)
