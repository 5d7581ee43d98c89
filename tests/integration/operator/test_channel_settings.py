"""`[channel <login>]` sections, as an operator writes them, obeyed by the daemons running as processes."""

from __future__ import annotations

import json

from tests.e2e.harness import FakeTwitch, Stream, vod_row
from tests.helpers.processes import run_cli, wait_until

SECTIONS = """
[channel alice]
upload-privacy = unlisted
upload-title-template = Alice archive: {title}

[channel carol]
upload-enabled = 0
"""


def publish(world: FakeTwitch, login: str) -> Stream:
    channel = next(c for c in world.channels if c.login == login)
    stream = world.plan_stream(channel, live_for=600, segments=4)
    world.publish_vod(stream)
    return stream


def test_each_channels_section_chooses_how_its_vods_are_uploaded(world: FakeTwitch, make_stack) -> None:
    for login in ("alice", "bob", "carol"):
        world.add_channel(login)
    stack = make_stack(UPLOAD_PRIVACY="private")
    conf = stack.workdir / "etc" / "vodtender.conf"
    conf.write_text(conf.read_text() + SECTIONS)
    stack.start_all(("poller", "downloader", "uploader"))
    streams = {login: publish(world, login) for login in ("alice", "bob", "carol")}

    def all_done() -> bool:
        rows = [vod_row(s.vod_id) for s in streams.values()]
        return all(row is not None and row.processed == 1 for row in rows)

    with stack.database():
        wait_until(all_done, 180, interval=0.5, what="the three VODs done")
        assert vod_row(streams["carol"].vod_id).upload_state == "skipped"  # download only, by its section
    with world.youtube.lock:
        uploaded = {v.metadata["snippet"]["title"]: v.metadata["status"]["privacyStatus"] for v in world.youtube.videos}
    assert uploaded == {
        f"Alice archive: {streams['alice'].title}": "unlisted",
        next(t for t in uploaded if streams["bob"].title in t): "private",
    }
    check = run_cli(stack.workdir, "config", "check", env=stack.env)
    assert check.returncode == 0, check.stderr
    alice = check.stdout.split("# ---- channel alice", 1)[1].split("# ----", 1)[0]
    assert "UPLOAD_PRIVACY" in alice and "unlisted" in alice and "[channel alice])" in alice
    shown = run_cli(stack.workdir, "show", streams["alice"].vod_id, env=stack.env).stdout
    alice_title = "upload-title-template = Alice archive: {title}"
    assert f"[channel alice] sets: upload-privacy = unlisted, {alice_title}" in shown
    report = json.loads(run_cli(stack.workdir, "status", "--json", env=stack.env).stdout)
    assert report["queue"]["done"] == 3
