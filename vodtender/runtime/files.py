"""Files and folders the service creates are private, whatever umask it was started with.

Outside systemd they are 0600 / 0700: only the user the service runs as reads them.  Under systemd
(`STATE_DIRECTORY` set; the units run as `User=vodtender`, `Group=vodtender`, `UMask=0027`) they
are 0640 / 0750: group vodtender reads them too, others never; so are those of a command run by
hand on an installed system (runtime/installation.py), unless the operator's own umask is stricter
(077 gives 0600: narrowed, never widened).  The process umask is narrowed once
at start-up, so every file is covered, those of ffmpeg and of the backups included; the database
gets its mode explicitly as well, because SQLite gives -wal and -shm the mode of the database file,
not the umask's (so an older install's 0644 database is narrowed too).
"""

from __future__ import annotations

import os
from pathlib import Path

from vodtender.runtime.installation import installed
from vodtender.runtime.logs import get_logger

PRIVATE_MASK = 0o077  # only the owner
SERVICE_MASK = 0o027  # the owner, and group vodtender reading
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

log = get_logger("files")


def private_mask() -> int:
    """The permission bits no file of ours may have: group vodtender may read under systemd, and
    where a command run by hand works on the installation's files, only."""
    return SERVICE_MASK if installed() else PRIVATE_MASK


def restrict_umask() -> None:
    """Narrow this process's umask (and its children's) so new files are private; never widen it."""
    os.umask(os.umask(PRIVATE_MASK) | private_mask())


def make_private(path: Path) -> None:
    """Take away the bits `private_mask()` forbids from an existing file or folder (a missing one is fine)."""
    try:
        mode = path.stat().st_mode & 0o7777
        if mode & private_mask():
            path.chmod(mode & ~private_mask())
    except FileNotFoundError:
        return
    except PermissionError as exc:  # not ours (e.g. created by root): say so, the service goes on
        log.warning("cannot make a file private", path=str(path), error=exc.strerror)


def private_database(path: str) -> None:
    """Before SQLite opens `path` (in a folder that exists): it is created private, an older one is narrowed."""
    if path == ":memory:" or path.startswith("file:"):
        return
    file = Path(path)
    os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o666 & ~private_mask()))  # SQLite takes an empty file
    for companion in (file, *(Path(f"{file}{suffix}") for suffix in SQLITE_COMPANIONS)):
        make_private(companion)


def write_secret_file(path: Path, text: str, *, replace: bool) -> bool:
    """Write `path` with mode 0600 (a key: not even group vodtender), complete or not at all.

    Without `replace`, only when it does not exist yet (False if another process was first).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o777 & ~private_mask())
    draft = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(draft, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(draft, path)
            return True
        try:
            os.link(draft, path)  # atomic, and refused if the file exists
        except FileExistsError:
            return False
        return True
    finally:
        draft.unlink(missing_ok=True)
