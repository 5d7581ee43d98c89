"""A clean configuration environment for the configuration tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vodtender.runtime.config import OPTIONS

ConfigEnv = Callable[..., Path]


@pytest.fixture
def config_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ConfigEnv:
    """config_env(**settings) -> the config folder (empty; conf.d/ in it): no option set but `settings`."""

    def make(**values: str) -> Path:
        for o in OPTIONS:
            monkeypatch.delenv(o.env, raising=False)
        for name in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"):
            monkeypatch.delenv(name, raising=False)
        etc = tmp_path / "etc"
        (etc / "conf.d").mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("VODTENDER_CONFIG_DIR", str(etc))
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        return etc

    return make
