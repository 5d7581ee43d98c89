"""`vodtender web-passwd USER FILE`: add a user to the web viewer's htpasswd file (WEB_AUTH), or change
their password, with a werkzeug scrypt hash.

The password is asked twice on a terminal, or read as the first line of standard input
(`--stdin`).  A new file is made 0600; an existing one keeps its owner and mode (e.g. root:vodtender
0640, for the web unit to read) and its other lines, and is replaced whole, never half written.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
from pathlib import Path

from werkzeug.security import generate_password_hash

from vodtender.cli.commands import summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web-passwd", help=summary("web-passwd"))
    p.add_argument("user", help="the user name to sign in with (no ':')")
    p.add_argument("file", type=Path, help="the htpasswd file WEB_AUTH names, e.g. /etc/vodtender/htpasswd")
    p.add_argument("--stdin", action="store_true", help="read the password from standard input, not a terminal")
    p.set_defaults(func=cmd_web_passwd)


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def with_user(text: str, user: str, line: str) -> tuple[str, bool]:
    """The file's text with `user`'s line replaced (a second line of theirs dropped) or added; whether it was there."""
    kept: list[str] = []
    existed = False
    for existing in text.splitlines():
        if existing.split(":", 1)[0] != user:
            kept.append(existing)
        elif not existed:
            kept.append(line)
            existed = True
    if not existed:
        kept.append(line)
    return "\n".join(kept) + "\n", existed


def write_keeping_mode(path: Path, text: str) -> None:
    existing = path.stat() if path.exists() else None
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        if existing is not None:
            os.chmod(temporary, existing.st_mode & 0o777)
            if os.geteuid() == 0:
                os.chown(temporary, existing.st_uid, existing.st_gid)
        else:
            os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cmd_web_passwd(args: argparse.Namespace, config_argv: list[str]) -> int:
    if not args.user or ":" in args.user or args.user != args.user.strip():
        print(f"vodtender web-passwd: bad user name {args.user!r} (no ':' and no surrounding spaces)", file=sys.stderr)
        return 2
    try:
        password = read_password(args.stdin)
        if not password:
            raise ValueError("the password is empty")
        text = args.file.read_text(encoding="utf-8") if args.file.exists() else ""
        updated, existed = with_user(text, args.user, f"{args.user}:{generate_password_hash(password)}")
        write_keeping_mode(args.file, updated)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        print(f"vodtender web-passwd: {exc}", file=sys.stderr)
        return 1
    print(f"{'changed the password of' if existed else 'added'} {args.user} in {args.file}")
    return 0
