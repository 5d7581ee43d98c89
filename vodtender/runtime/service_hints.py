"""The fixes the commands print, as this service is run: by the package's systemd units on an
installation, or by `vodtender run` in a checkout, where systemctl and journalctl know nothing of it.

Secrets are not written into vodtender.conf (docs/OPERATIONS.md): on an installation they go in
vodtender.env, which systemd reads when a unit starts, so a new secret needs a restart, not a reload.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vodtender.runtime.installation import installed
from vodtender.runtime.options import OPTIONS

CHECKOUT_RUN = "`vodtender run`"


def daemon_logs(name: str) -> str:
    if installed():
        return f"journalctl -u vodtender-{name}"
    return f"the {name} lines of {CHECKOUT_RUN}'s output"


def daemon_state(name: str) -> str:
    if installed():
        return f"systemctl status vodtender-{name}; journalctl -u vodtender-{name}"
    return f"start it with {CHECKOUT_RUN} (or `vodtender {name}`) and read its lines"


def log_search(words: str) -> str:
    if installed():
        return f"journalctl -g '{words}'"
    return f"the lines with '{words}' in {CHECKOUT_RUN}'s output"


def maintenance_schedule() -> str:
    if installed():
        return "systemctl status vodtender-maintenance.timer"
    return "a checkout has no timer: run `vodtender maintenance` daily"


def settings_place(config_dir: Path, *, secret: bool = False) -> str:
    """Where a setting goes; on an installation, a secret not in vodtender.conf."""
    if not installed():
        return f"{config_dir}/vodtender.conf or a --config file (local.conf, kept out of git)"
    if secret:
        return f"{config_dir / 'vodtender.env'} (or a credential in /etc/credstore)"
    return f"{config_dir}/vodtender.conf"


def apply_settings(*, secret: bool = False) -> str:
    """What makes the daemons read a changed setting."""
    if not installed():
        return f"restart {CHECKOUT_RUN} (SIGHUP restarts its daemons)"
    return "systemctl restart vodtender.target" if secret else "systemctl reload vodtender.target"


def how_to_set(envs: Sequence[str], config_dir: Path) -> str:
    """`set X in <file>, then reload`; the secrets among `envs` apart, as they go elsewhere."""
    secret_names = {o.env for o in OPTIONS if o.secret}
    secrets = [env for env in envs if env in secret_names] if installed() else []
    others = [env for env in envs if env not in secrets]
    steps = []
    if others or not secrets:
        steps.append(f"set {', '.join(others) or 'it'} in {settings_place(config_dir)}, then {apply_settings()}")
    if secrets:
        where = settings_place(config_dir, secret=True)
        steps.append(f"set {', '.join(secrets)} in {where}, then {apply_settings(secret=True)}")
    return "; ".join(steps)
