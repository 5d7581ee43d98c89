"""The operator's commands on an installed system: they read what the units read, from any directory.

A fake installed tree under VODTENDER_ROOT: the package's drop-in (how an installation is found),
/etc/vodtender/vodtender.conf and vodtender.env, a secret in /etc/credstore, /var/lib/vodtender.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers.processes import REPO, base_env, run_cli

DROP_IN = "lib/systemd/system/vodtender-.service.d/10-vodtender.conf"
SECRET = "credstore-secret-0123456789"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return installed_tree(tmp_path / "root")


def installed_tree(root: Path) -> Path:
    (root / DROP_IN).parent.mkdir(parents=True)
    shutil.copy(REPO / "systemd/vodtender-.service.d/10-vodtender.conf", root / DROP_IN)
    etc = root / "etc/vodtender"
    etc.mkdir(parents=True)
    (etc / "vodtender.conf").write_text("twitch-channel = alpha\ndownload-min-free = 0\n")
    (etc / "vodtender.env").write_text('# secrets\nTWITCH_CLIENT_ID="from-the-env-file"\n')
    (root / "etc/credstore").mkdir()
    (root / "etc/credstore/vodtender.twitch-client-secret").write_text(SECRET + "\n")
    (root / "var/lib/vodtender").mkdir(parents=True)
    # The folders' modes of a Debian system, whatever this process's umask is (a CLI run in-process
    # earlier in the same worker narrows it): another user can reach /var/lib/vodtender; the credential
    # store stays root's alone.
    for folder in root.rglob("*"):
        if folder.is_dir() and folder.name != "credstore":
            os.chmod(folder, 0o755)
    return root


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """The operator's current directory: anywhere but the archive."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def installed_env(root: Path, elsewhere: Path, **extra: str) -> dict[str, str]:
    env = base_env(elsewhere, VODTENDER_ROOT=str(root), **extra)
    del env["VODTENDER_CONFIG_DIR"]  # the installation's /etc/vodtender
    return env


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_commands_read_the_installations_files_from_any_directory(root: Path, elsewhere: Path) -> None:
    env = installed_env(root, elsewhere)
    state = root / "var/lib/vodtender"
    migrated = run_cli(elsewhere, "db", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert (state / "vodtender.db").is_file() and tree(elsewhere) == set()

    check = run_cli(elsewhere, "config", "check", env=env).stdout
    found = {m[1]: (m[2], m[3]) for m in re.finditer(r"^(\w+) += (.*?) *\(([^()]*)\)$", check, re.M)}
    assert found["TWITCH_CLIENT_ID"] == ("from-the-env-file", f"environment file {root}/etc/vodtender/vodtender.env")
    assert found["TWITCH_CLIENT_SECRET"] == (
        "****6789",
        f"credential {root}/etc/credstore/vodtender.twitch-client-secret",
    )
    assert found["TWITCH_CHANNEL"] == ("alpha", f"config file {root}/etc/vodtender/vodtender.conf")
    assert found["DATA_DIR"] == (f"{state}/data", "default")

    status = run_cli(elsewhere, "status", "--json", env=env)
    files = [f"{root}/etc/vodtender/{name}" for name in ("vodtender.conf", "vodtender.env")]
    files.append(f"{root}/etc/credstore/vodtender.twitch-client-secret")
    assert json.loads(status.stdout)["read"] == {"database": str(state / "vodtender.db"), "config_files": files}
    text = run_cli(elsewhere, "status", env=env).stdout
    assert f"read     database {state / 'vodtender.db'}; configuration {' '.join(files)}" in text
    # The environment and the command line still win.
    other = elsewhere / "other.db"
    run_cli(elsewhere, "db", "migrate", env=installed_env(root, elsewhere, DB_DSN=str(other)))
    assert json.loads(run_cli(elsewhere, "status", "--json", "--db-dsn", str(other), env=env).stdout)["read"][
        "database"
    ] == str(other)
    assert SECRET not in check + status.stdout + text


def test_read_only_commands_create_nothing(root: Path, elsewhere: Path) -> None:
    env = installed_env(root, elsewhere)
    before = tree(root.parent)
    status = run_cli(elsewhere, "status", env=env)
    assert status.returncode == 2
    assert f"no database at {root}/var/lib/vodtender/vodtender.db" in status.stderr
    for command in (("vods",), ("show", "1"), ("doctor",)):
        assert run_cli(elsewhere, *command, env=env).returncode != 0, command
    assert tree(root.parent) == before  # no database, no data/ here or in the archive


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
@pytest.mark.parametrize(
    ("shell_umask", "mode"),
    [
        (0o022, 0o640),  # a login shell's: as the units would have made it, group vodtender reads, others never
        (0o077, 0o600),  # an operator's stricter one is kept: narrowed, never widened
    ],
)
def test_root_writes_as_the_owner_of_the_archive(elsewhere: Path, shell_umask: int, mode: int) -> None:
    with tempfile.TemporaryDirectory() as base:  # pytest's own folder is root's alone: not for another user
        os.chmod(base, 0o755)
        root = installed_tree(Path(base))
        state = root / "var/lib/vodtender"
        os.chown(state, 65534, 65534)  # as the package's vodtender user owns /var/lib/vodtender
        migrated = run_cli(elsewhere, "db", "migrate", env=installed_env(root, elsewhere), umask=shell_umask)
        assert migrated.returncode == 0, migrated.stderr
        assert {(p.stat().st_uid, p.stat().st_gid, p.stat().st_mode & 0o777) for p in state.iterdir()} == {
            (65534, 65534, mode)
        }
