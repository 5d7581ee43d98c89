"""A child process's environment: ours without any secret, the database's DSN or the credentials folder."""

from __future__ import annotations

import pytest

from vodtender.runtime.children import WITHHELD, child_environment
from vodtender.runtime.options import OPTIONS


def test_every_secret_option_and_the_dsn_are_withheld_the_rest_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {o.env for o in OPTIONS if o.secret}
    assert secrets >= {"TWITCH_CLIENT_SECRET", "TWITCH_OAUTH_TOKEN", "YT_CLIENT_SECRET", "ENCRYPTION_KEY"}
    for name in (*secrets, "DB_DSN", "CREDENTIALS_DIRECTORY"):
        monkeypatch.setenv(name, "s3cret-" + name)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = child_environment()
    assert not [value for value in env.values() if value.startswith("s3cret-")]
    assert set(WITHHELD).isdisjoint(env)
    assert (env["PATH"], env["LANG"]) == ("/usr/bin:/bin", "C.UTF-8")


def test_it_follows_the_environment_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VODTENDER_TEST_LATE", "1")
    assert child_environment()["VODTENDER_TEST_LATE"] == "1"
