"""`vodtender run`: the five daemons as separate processes in the foreground, like systemd runs them.

Output is prefixed with the daemon's name; a daemon that exits with an error is restarted
with backoff (systemd's Restart=on-failure); Ctrl-C or SIGTERM stops them all.  Options given
on `vodtender run`'s command line reach the children as environment variables, never as
arguments: a child's command line is readable by every local user (`ps`), and may hold a secret.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from typing import NoReturn

from vodtender.cli.commands import summary
from vodtender.daemons.registry import DAEMONS
from vodtender.runtime.config import OPTIONS

_LEVELS = {"2": "CRIT", "3": "ERROR", "4": "WARN", "5": "NOTE", "6": "", "7": "debug"}
STOP_TIMEOUT = 60.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help=summary("run"))
    p.add_argument("--only", default=",".join(DAEMONS), help="daemons to run, comma separated (default: all)")
    p.set_defaults(func=cmd_run)


class OptionError(ValueError):
    pass


class _OptionParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # a bad option is refused by cmd_run, with no usage dump
        raise OptionError(message)


def options_as_environment(config_argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """The options in `config_argv` by environment name (where a child reads them with the same
    precedence: the environment beats config files and credentials), and what is left: a `-c FILE`,
    or an unknown flag the child reports."""
    parser = _OptionParser(add_help=False)
    for o in OPTIONS:
        parser.add_argument(o.flag, dest=o.dest)
    namespace, rest = parser.parse_known_args(config_argv)
    return {o.env: value for o in OPTIONS if (value := getattr(namespace, o.dest)) is not None}, rest


class Child:
    def __init__(self, name: str, config_argv: list[str], out_lock: threading.Lock):
        self.name = name
        self.settings, self.config_argv = options_as_environment(config_argv)
        self.out_lock = out_lock
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.next_start = 0.0

    def start(self) -> None:
        env = dict(os.environ)
        for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):  # those are ours, not the children's
            env.pop(var, None)
        env.update(self.settings)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vodtender", self.name, *self.config_argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            level = ""
            if len(line) > 3 and line[0] == "<" and line[2] == ">":
                level, line = _LEVELS.get(line[1], ""), line[3:]
            with self.out_lock:
                sys.stdout.write(f"{self.name:<10} | {level + ' ' if level else ''}{line}\n")
                sys.stdout.flush()


def cmd_run(args: argparse.Namespace, config_argv: list[str]) -> int:
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in DAEMONS]
    if unknown:
        print(f"vodtender run: unknown daemon {unknown[0]!r} (known: {', '.join(DAEMONS)})", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lock = threading.Lock()
    try:
        children = [Child(n, config_argv, lock) for n in names]
    except OptionError as exc:
        print(f"vodtender run: {exc}", file=sys.stderr)
        return 2
    for child in children:
        child.start()
    while not stop.wait(0.5):
        for child in children:
            assert child.proc is not None
            code = child.proc.poll()
            if code is None or child.next_start > time.monotonic():
                continue
            if child.next_start == 0.0:
                delay = min(30.0, 2.0**child.restarts)
                with lock:
                    print(f"{child.name:<10} | exited with status {code}, restarting in {delay:.0f}s", flush=True)
                child.restarts += 1
                child.next_start = time.monotonic() + delay
                continue
            child.next_start = 0.0
            child.start()
    for child in children:
        if child.proc and child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
    return 0
