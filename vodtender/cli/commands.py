"""Every command of `vodtender`: the modules that implement it and its one-line help.

The table is what `vodtender --help` lists, so listing the commands imports none of them;
`vodtender <command>` imports only the modules of that command (cli/main.py).  Each module's
`register()` takes its commands' help from here.
"""

from __future__ import annotations

COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {  # command -> (modules under vodtender.cli, help)
    "poller": (("daemons_cmd",), "run the poller daemon in the foreground"),
    "downloader": (("daemons_cmd",), "run the downloader daemon in the foreground"),
    "uploader": (("daemons_cmd",), "run the uploader daemon in the foreground"),
    "chat": (("daemons_cmd", "chat_cmd"), "run the chat daemon in the foreground"),
    "recorder": (("daemons_cmd",), "run the live recorder daemon in the foreground (LIVE_RECORD)"),
    "web": (("daemons_cmd",), "run the web viewer in the foreground: the archive, VODs with their chat, a JSON API"),
    "run": (("run_cmd",), "run all daemons in the foreground (a checkout's way to run the service)"),
    "config": (("config_cmd",), "check or document the configuration"),
    "db": (("db_cmd",), "database schema"),
    "status": (
        ("status_cmd",),
        "daemons, queue, downloads in flight, live recordings, breaker, chat, disk at a glance; "
        "exits 1 when something needs attention",
    ),
    "vods": (("vods_cmd",), "list VODs (newest first) with their pipeline state"),
    "show": (
        ("vods_cmd",),
        "everything about one VOD: state, file, codec, upload, error history, muted segments, gaps, live recording",
    ),
    "maintenance": (
        ("maintenance_cmd",),
        "integrity check, online backup, retention, VACUUM/optimize (run daily by vodtender-maintenance.timer)",
    ),
    "retention": (("maintenance_cmd",), "delete uploaded files by age, count and free space (RETENTION_*)"),
    "doctor": (
        ("doctor_cmd",),
        "check configuration, credentials, tools, disk, database and clock; print the fix for each failure",
    ),
    "completion": (("completion_cmd",), "print a shell completion script: source <(vodtender completion bash)"),
    "reprocess": (
        ("vod_cmd",),
        "re-queue a VOD: one on YouTube is only verified again unless --reupload (a new video; the cost is said)",
    ),
    "cancel": (("vod_cmd",), "stop a VOD's download (within 2 s) and mark it cancelled"),
    "priority": (("vod_cmd",), "set a VOD's priority (higher first; then oldest first)"),
    "circuit": (("vod_cmd",), "the pipeline's circuit breaker"),
    "auth": (("auth_cmd",), "authorize access to an account (YouTube uploads)"),
    "web-passwd": (("web_passwd_cmd",), "add a user to the web viewer's htpasswd file (WEB_AUTH), or a new password"),
}


def summary(command: str) -> str:
    return COMMANDS[command][1]
