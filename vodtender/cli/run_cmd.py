"""`vodtender run`: the five daemons as separate processes in the foreground, like systemd runs them.

Output is prefixed with the daemon's name; a daemon that exits with an error is restarted
with backoff (systemd's Restart=on-failure); Ctrl-C or SIGTERM stops them all, SIGHUP restarts
them (a closed terminal no longer leaves them behind), and they die with `run` however it ends
(runtime/supervision.py).  Before any daemon starts, `run` refuses, with one line and exit code 2,
an unknown option or a bad value on its command line, a database another `run` is using, and an
HTTP address that cannot be bound (runtime/run_lock.py).  Options given on `vodtender run`'s
command line reach the children as environment variables, never as arguments: a child's command
line is readable by every local user (`ps`), and may hold a secret.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

from vodtender.cli.commands import summary
from vodtender.daemons.registry import DAEMONS
from vodtender.runtime.config import OPTIONS, OPTIONS_BY_ENV, Config, load_config
from vodtender.runtime.run_lock import Refused, RunLock, check_bindable
from vodtender.runtime.supervision import supervised_environment

_LEVELS = {"2": "CRIT", "3": "ERROR", "4": "WARN", "5": "NOTE", "6": "", "7": "debug"}
STOP_TIMEOUT = 60.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help=summary("run"))
    p.add_argument("--only", default=",".join(DAEMONS), help="daemons to run, comma separated (default: all)")
    p.set_defaults(func=cmd_run)


def options_as_environment(config_argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """The options in `config_argv` (already checked by `refusal`) by environment name, where a child
    reads them with the same precedence (the environment beats config files and credentials), and
    what is left: a `-c FILE`."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for o in OPTIONS:
        parser.add_argument(o.flag, dest=o.dest)
    namespace, rest = parser.parse_known_args(config_argv)
    return {o.env: value for o in OPTIONS if (value := getattr(namespace, o.dest)) is not None}, rest


class Output:
    """Every line of `run` and its daemons, prefixed, one at a time.  A terminal that is gone (SIGHUP)
    or a closed pipe stops the output, not the daemons: their lines are still read, and dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gone = False

    def line(self, name: str, text: str) -> None:
        with self._lock:
            if self._gone:
                return
            try:
                sys.stdout.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {name:<10} | {text}\n")
                sys.stdout.flush()
            except OSError:
                self._gone = True


class Child:
    def __init__(self, name: str, config_argv: list[str], out: Output):
        self.name = name
        self.settings, self.config_argv = options_as_environment(config_argv)
        self.out = out
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.next_start = 0.0

    def start(self) -> None:
        """Called from `run`'s main thread only: a child dies when the thread that started it ends."""
        env = dict(os.environ)
        for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):  # those are ours, not the children's
            env.pop(var, None)
        env.update(self.settings)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vodtender", self.name, *self.config_argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=supervised_environment(env),
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
            self.out.line(self.name, f"{level + ' ' if level else ''}{line}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def stop_all(children: list[Child]) -> None:
    """SIGTERM to each (its clean stop), then wait for them all; one still there after STOP_TIMEOUT is killed."""
    for child in children:
        if child.proc is not None and child.running():
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


def refusal(cfg: Config, names: list[str]) -> str | None:
    """Why `run` must not start these daemons with this command line, in one line; None when it may."""
    problems = cfg.command_line_problems(names)
    if not problems:
        return None
    first = problems[0]
    text = str(first) if first.origin or first.env is None else f"{first} (given as {OPTIONS_BY_ENV[first.env].flag})"
    return text + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def take_over(cfg: Config, names: list[str]) -> RunLock:
    """The database to ourselves and every daemon's address free, or Refused."""
    lock = RunLock.take(cfg.db_dsn)
    try:
        for name in names:
            addr = cfg.http_addr_for(name)
            if addr is not None:
                check_bindable(name, addr)
    except Refused:
        lock.release()
        raise
    return lock


def cmd_run(args: argparse.Namespace, config_argv: list[str]) -> int:
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in DAEMONS]
    if unknown:
        print(f"vodtender run: unknown daemon {unknown[0]!r} (known: {', '.join(DAEMONS)})", file=sys.stderr)
        return 2
    cfg = load_config(config_argv)  # parsed once here: the children get only what parsed
    reason = refusal(cfg, names)
    if reason is not None:
        print(f"vodtender run: {reason}", file=sys.stderr)
        return 2
    out = Output()
    children = [Child(n, config_argv, out) for n in names]
    try:
        lock = take_over(cfg, names)
    except Refused as exc:
        print(f"vodtender run: {exc}", file=sys.stderr)
        return 2
    try:
        supervise(children, out)
    finally:
        lock.release()
    return 0


def supervise(children: list[Child], out: Output) -> None:
    stop, reload = threading.Event(), threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    for child in children:
        child.start()
    while not stop.wait(0.5):
        if reload.is_set():
            reload.clear()
            out.line("run", "SIGHUP: restarting every daemon")
            stop_all(children)
            if stop.is_set():  # stopped while they were stopping
                return
            for child in children:
                child.restarts, child.next_start = 0, 0.0
                child.start()
            continue
        for child in children:
            assert child.proc is not None
            code = child.proc.poll()
            if code is None or child.next_start > time.monotonic():
                continue
            if child.next_start == 0.0:
                delay = min(30.0, 2.0**child.restarts)
                out.line(child.name, f"exited with status {code}, restarting in {delay:.0f}s")
                child.restarts += 1
                child.next_start = time.monotonic() + delay
                continue
            child.next_start = 0.0
            child.start()
    stop_all(children)
