"""Several hosts, one PostgreSQL: three downloaders and two uploaders in their own network namespaces.

Hosts differ by network namespace (a veth link each) and hostname.  hostA, hostB, hostC download
(each into its own DATA_DIR); uploaders run on hostA (DATA_DIR not shared: only hostA's files) and
on hostD (DATA_DIR_SHARED=1: the hosts' folders are one file system here).  PostgreSQL, the Twitch
stand-in (reached through yt-dlp's real Twitch extractor) and the YouTube stand-in listen on the root
side of hostA's link, which every host routes to.
During the run a downloader is SIGKILLed mid-VOD (its lease expires and another host finishes the
VOD) and PostgreSQL is restarted (every daemon logs the outage once, keeps its place, finishes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import netns
from tests.helpers.netns import NetnsHost
from tests.helpers.postgres import PostgresCluster
from tests.helpers.processes import DaemonProcess, base_env, wait_until
from tests.integration.downloader.conftest import TS_VOD, concatenated_ts
from tests.standins.twitch import TwitchStandin, ytdlp_hook_env
from tests.standins.youtube import YouTubeStandIn
from vodtender.clients.google_oauth import TokenGrant
from vodtender.pipeline.upload.tokens import TokenCipher, TokenStore
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import Vod, VodEvent

VODS = [str(7001 + n) for n in range(30)]
LEASE = "6s"

pytestmark = pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))


class HostDaemon(DaemonProcess):
    """A daemon process run inside a test host (its network namespace and hostname)."""

    def __init__(self, host: NetnsHost, daemon: str, workdir: Path, env: dict[str, str]):
        super().__init__(daemon, workdir, env=env)
        self.host = host
        self.log_path = workdir / f"{daemon}-{host.hostname}-{self.http_port}.log"

    def start(self) -> HostDaemon:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            argv = [sys.executable, "-m", "vodtender", self.daemon, *self.args]
            self.proc = subprocess.Popen(
                self.host.wrap(argv), cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self


@pytest.fixture
def hosts() -> Iterator[list[NetnsHost]]:
    made: list[NetnsHost] = []
    try:
        for index, name in enumerate(["hostA", "hostB", "hostC", "hostD"], start=1):
            made.append(NetnsHost(index, name).create())
        yield made
    finally:
        for host in made:
            host.destroy()


@pytest.fixture
def cluster(hosts: list[NetnsHost]) -> Iterator[PostgresCluster]:
    """A PostgreSQL of its own (this test restarts it), reachable from every host."""
    pg = PostgresCluster().start(extra_listen=[hosts[0].gateway])
    yield pg
    pg.stop()


def test_three_downloaders_two_uploaders_on_four_hosts_share_one_postgres(
    tmp_path: Path, hosts: list[NetnsHost], cluster: PostgresCluster
) -> None:
    service_ip = hosts[0].gateway
    twitch = TwitchStandin(tmp_path / "twitch", host=service_ip).start()
    for vod_id in VODS:
        twitch.add_vod(vod_id, TS_VOD, title=f"Stream {vod_id}")
    twitch.add_rule("cdn/*.ts", rate=150_000)  # a VOD takes a few seconds: long enough to be killed mid-way
    youtube = YouTubeStandIn(host=service_ip).start()
    dsn = cluster.dsn(cluster.create_database("multihost"), host=service_ip)

    db = open_database(dsn)
    migrate(db)
    for n, vod_id in enumerate(VODS):
        Vod.create(
            twitch_vod_id=vod_id,
            channel="chan",
            title=f"Stream {vod_id}",
            duration_seconds=TS_VOD.segments * TS_VOD.segment_seconds,
            date=dt.datetime(2026, 11, 1) + dt.timedelta(hours=n),
        )
    issued = youtube.issue_tokens()
    TokenStore(TokenCipher(None)).save(
        TokenGrant(issued["access_token"], time.time() + 3600, issued["refresh_token"], issued["scope"])
    )

    common = {
        "DB_DSN": dsn,
        "ENCRYPTION_KEY": "one passphrase for every host",  # each host's own generated key would not do
        "LEASE_DURATION": LEASE,
        "HEARTBEAT_INTERVAL": "1s",
        "DOWNLOAD_MIN_FREE": "0",
        "DOWNLOAD_BACKOFF_BASE": "1s",
        "UPLOAD_BACKOFF_BASE": "1s",
        "UPLOAD_PROCESSING_CHECK": "0.2s",
        "UPLOAD_CHUNK_SIZE": "256K",
        "UPLOAD_QUOTA_DAILY": "100000000",
        "YT_CLIENT_ID": youtube.client_id,
        "YT_CLIENT_SECRET": youtube.client_secret,
        "YOUTUBE_API_URL": youtube.url,
        "YOUTUBE_TOKEN_URL": youtube.token_url,
        "YOUTUBE_AUTH_URL": youtube.auth_url,
    }

    def daemon(host: NetnsHost, kind: str, **extra: str) -> HostDaemon:
        workdir = tmp_path / "hosts" / host.hostname
        (workdir / "etc").mkdir(parents=True, exist_ok=True)
        env = base_env(workdir, **common, **ytdlp_hook_env(twitch.base_url), DATA_DIR=str(workdir / "data"), **extra)
        return HostDaemon(host, kind, workdir, env)

    downloaders = [daemon(h, "downloader", MAX_CONCURRENT_DOWNLOADS="2") for h in hosts[:3]]
    uploaders = [daemon(hosts[0], "uploader"), daemon(hosts[3], "uploader", DATA_DIR_SHARED="1")]
    everyone = downloaders + uploaders
    try:
        for d in everyone:
            d.start()
        for d in everyone:
            d.wait_for_log(rf"{d.daemon} ready", timeout=60)

        # SIGKILL a downloader while it holds a VOD: another host takes it over when the lease runs out
        victim, held = wait_until(
            lambda: _holding(downloaders, "download_state", "downloading"),
            timeout=120,
            interval=0.05,
            what="a downloader in the middle of a VOD",
        )
        victim.kill()

        # PostgreSQL goes away for a few seconds while the others work
        wait_until(
            lambda: Vod.select().where(Vod.download_state == "downloaded").count() >= 8,
            timeout=180,
            interval=0.2,
            what="eight VODs downloaded",
        )
        cluster.restart(down_for=3.0)

        # SIGKILL hostD's uploader mid-upload; its successor on hostD takes the lease over and resumes
        _, uploading = wait_until(
            lambda: _holding(uploaders[1:], "upload_state", "uploading"),
            timeout=180,
            interval=0.05,
            what="hostD's uploader in the middle of an upload",
        )
        uploaders[1].kill()
        uploaders.append(daemon(hosts[3], "uploader", DATA_DIR_SHARED="1").start())
        everyone.append(uploaders[-1])

        wait_until(
            lambda: Vod.select().where(Vod.processed == 1).count() == len(VODS),
            timeout=400,
            interval=0.5,
            what="every VOD downloaded and uploaded",
        )
    finally:
        for d in everyone:
            d.stop(timeout=30)
        twitch.stop()
        youtube.stop()

    vods = {v.twitch_vod_id: v for v in Vod.select()}
    expected = concatenated_ts(twitch.media_cache, TS_VOD)
    for vod_id in VODS:
        vod = vods[vod_id]
        assert vod.youtube_url and vod.download_host in {"hostA", "hostB", "hostC"}
        assert Path(vod.downloaded_path).read_bytes() == expected
        kinds = [(e.stage, e.kind) for e in VodEvent.select().where(VodEvent.vod == vod.id)]
        assert kinds.count(("download", "done")) == 1, (vod_id, kinds)  # downloaded once
        assert kinds.count(("upload", "done")) == 1, (vod_id, kinds)  # uploaded once
    assert len(youtube.videos) == len(VODS)  # YouTube received each VOD once, whole
    assert {v.id for v in youtube.videos} == {vods[v].youtube_url.rsplit("/", 1)[-1].rsplit("=", 1)[-1] for v in VODS}
    assert {v.sha256 for v in youtube.videos} == {hashlib.sha256(expected).hexdigest()}

    # the killed downloader's VOD was finished by another host once its lease ran out
    assert vods[held.twitch_vod_id].download_host != victim.host.hostname
    assert vods[uploading.twitch_vod_id].youtube_url  # the killed upload was finished by hostD's next uploader
    # an uploader without a shared DATA_DIR uploaded only its own host's files
    uploaded_on_a = _uploaded(uploaders[:1])
    uploaded_on_d = _uploaded(uploaders[1:])
    assert uploaded_on_a | uploaded_on_d == set(VODS) and not uploaded_on_a & uploaded_on_d
    assert all(vods[v].download_host == "hostA" for v in uploaded_on_a)
    assert {v for v in VODS if vods[v].download_host != "hostA"} <= uploaded_on_d  # reached via the shared dir
    assert len({vods[v].download_host for v in VODS}) >= 2  # the work really was spread
    # every daemon alive across the restart said so once, and came back
    for d in everyone:
        if d.proc.returncode == -9 or d is uploaders[-1]:
            continue
        log = d.log()
        assert log.count("database connection lost, retrying") == 1, (d.host.hostname, d.daemon, log[-3000:])
        assert "database connection restored" in log, (d.host.hostname, d.daemon)
        assert "Traceback" not in log, (d.host.hostname, d.daemon, log[-3000:])
    db.close()


def _holding(daemons: list[HostDaemon], column: str, state: str) -> tuple[HostDaemon, Vod] | None:
    """A daemon of `daemons` holding a VOD whose `column` is `state`, and that VOD."""
    for d in daemons:
        vod = (
            Vod.select()
            .where(Vod.lease_owner == f"{d.host.hostname}:{d.proc.pid}", getattr(Vod, column) == state)
            .first()
        )
        if vod is not None:
            return d, vod
    return None


def _uploaded(uploaders: list[HostDaemon]) -> set[str]:
    return {v for d in uploaders for v in re.findall(r"upload done vod_id=(\d+)", d.log())}
