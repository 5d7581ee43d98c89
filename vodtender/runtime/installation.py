"""This installation: the files the package's units read, so a command run by hand sees the service.

The units (systemd/vodtender-.service.d/10-vodtender.conf) run in /var/lib/vodtender
(StateDirectory=), read /etc/vodtender/vodtender.env (EnvironmentFile=) and load their secrets from
/etc/credstore/vodtender.<key> (LoadCredential=).  An operator's `vodtender status` in /root gets
none of that from its environment; it finds the installation by the drop-in the package ships and
reads the same files.  Under systemd (STATE_DIRECTORY set) the unit has already given the process
all of it, with each unit's own secrets only, so nothing is read a second time.  In a checkout
there is no installation: `./vodtender.db` as before.

VODTENDER_ROOT (default /) is where the installation's files are looked for: tests build a fake
installed tree under it.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
from pathlib import Path

ROOT_ENV = "VODTENDER_ROOT"
# Shipped by the package (debian/vodtender.install); /lib is /usr/lib on a merged-/usr system.
MARKERS = (
    "usr/lib/systemd/system/vodtender-.service.d/10-vodtender.conf",
    "lib/systemd/system/vodtender-.service.d/10-vodtender.conf",
)
CREDENTIAL_STORES = ("etc/credstore", "run/credstore")  # systemd's search path for LoadCredential=
CREDENTIAL_PREFIX = "vodtender."  # LoadCredential=twitch-client-secret:vodtender.twitch-client-secret


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or "/")


@dataclasses.dataclass(frozen=True)
class Installation:
    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / "var/lib/vodtender"

    @property
    def config_dir(self) -> Path:
        return self.root / "etc/vodtender"

    @property
    def env_file(self) -> Path:
        return self.config_dir / "vodtender.env"

    def environment(self) -> dict[str, str]:
        """The env file's variables; {} if it is absent or not readable (only root and group vodtender
        may read it)."""
        return env_file_values(self.env_file)

    def credential(self, key: str) -> tuple[str, Path] | None:
        """The secret the units load as credential `key`, and its file; None if absent or not readable
        (the credential store is root's)."""
        for store in CREDENTIAL_STORES:
            path = self.root / store / f"{CREDENTIAL_PREFIX}{key}"
            try:
                return path.read_text().strip(), path
            except OSError:
                continue
        return None

    def become_owner(self) -> None:
        """Run as root: become the archive's owner (the vodtender user), so that what a command writes
        (a migrated database, a token, a backup) stays usable by the daemons.  Refuses when that
        cannot be done."""
        if os.geteuid() != 0:
            return
        try:
            owner = self.state_dir.stat()
        except OSError:
            return  # no archive yet: nothing of the daemons' to keep usable
        if owner.st_uid == 0:
            return
        try:
            os.initgroups(pwd.getpwuid(owner.st_uid).pw_name, owner.st_gid)
            os.setgid(owner.st_gid)
            os.setuid(owner.st_uid)
        except (KeyError, OSError) as exc:
            raise SystemExit(
                f"vodtender: cannot act as the owner of {self.state_dir} ({exc}): run the command as that user, "
                "e.g. sudo -u vodtender vodtender …"
            ) from None


def env_file_values(path: Path) -> dict[str, str]:
    """systemd's EnvironmentFile= lines: VAR=value, optionally quoted; # and ; start comments."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def installed() -> bool:
    """Run by the package's units (STATE_DIRECTORY) or by hand on the host they run on."""
    return bool(os.environ.get("STATE_DIRECTORY")) or this_installation() is not None


def this_installation() -> Installation | None:
    """The installation a command run by hand belongs to; None in a checkout and under systemd."""
    if os.environ.get("STATE_DIRECTORY"):
        return None
    base = root()
    return Installation(base) if any((base / marker).is_file() for marker in MARKERS) else None
