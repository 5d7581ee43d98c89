"""A daemon started by `vodtender run` dies with it, whatever kills `run` (SIGKILL included).

`run` names itself in the child's environment (`supervised_environment`); the child, as it starts
(`follow_supervisor`), asks Linux for SIGTERM when its parent goes (PR_SET_PDEATHSIG), and then
checks that its parent is still `run`: a `run` killed between the fork and the prctl would leave
the child re-parented already, and no signal would ever come.  SIGTERM is the daemon's clean stop.
Done in the child, not in a `preexec_fn`: `run` has threads, and a fork-time hook may deadlock then.
Linux sends the signal when the *thread* that forked the child ends, so `run` starts its children
from its main thread only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

SUPERVISOR_PID = "VODTENDER_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def supervised_environment(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child that must die with this process."""
    return {**env, SUPERVISOR_PID: str(os.getpid())}


def follow_supervisor() -> None:
    """In a child of `vodtender run`: SIGTERM when `run` goes; exit now if it is gone already."""
    supervisor = os.environ.pop(SUPERVISOR_PID, None)  # not for our own children (ffmpeg)
    if supervisor is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != int(supervisor):
        raise SystemExit(f"vodtender run (pid {supervisor}) is gone: not starting")
