"""The units as shipped: each gets only the secrets it uses, and every unit is bounded in files, tasks and memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.processes import REPO
from tests.helpers.unit_secrets import OWN_SECRETS as USES
from vodtender.runtime.options import OPTIONS

SYSTEMD = REPO / "systemd"
SHARED = SYSTEMD / "vodtender-.service.d" / "10-vodtender.conf"
SECRETS = {o.key: o.env for o in OPTIONS if o.secret}  # credential name -> variable


def values(path: Path, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in path.read_text().splitlines() if line.startswith(key + "=")]


def test_every_unit_is_in_the_table() -> None:
    assert {p.name.removeprefix("vodtender-").removesuffix(".service") for p in SYSTEMD.glob("*.service")} == set(USES)


@pytest.mark.parametrize("unit", sorted(USES))
def test_a_unit_loads_its_own_credentials_and_unsets_every_other_secret(unit: str) -> None:
    path = SYSTEMD / f"vodtender-{unit}.service"
    loaded = {v.split(":", 1)[0]: v.split(":", 1)[1] for v in values(path, "LoadCredential")}
    assert loaded == {key: f"vodtender.{key}" for key in USES[unit]}
    unset = {name for v in values(path, "UnsetEnvironment") for name in v.split()}
    assert unset == {env for key, env in SECRETS.items() if key not in USES[unit]}  # a new secret must be placed


def test_the_shared_drop_in_reads_the_env_file_and_hands_out_no_credential() -> None:
    assert values(SHARED, "EnvironmentFile") == ["-/etc/vodtender/vodtender.env"]
    assert values(SHARED, "LoadCredential") == [] and values(SHARED, "SetCredential") == []


def test_every_unit_is_bounded_in_files_tasks_and_memory() -> None:
    for key in ("LimitNOFILE", "TasksMax", "MemoryMax"):
        assert len(values(SHARED, key)) == 1, key
