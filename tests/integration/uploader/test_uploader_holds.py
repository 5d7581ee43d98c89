"""Pauses that keep VODs queued (revoked tokens, quota), `vodtender auth youtube`, download-only, lost files."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import urllib.request
import zoneinfo
from pathlib import Path

import peewee

from tests.helpers.processes import REPO, DaemonProcess, run_cli, wait_until
from tests.integration.uploader.conftest import (
    MIB,
    downloaded_vod,
    fresh,
    metric,
    quota_used_today,
    store_tokens,
    uploader_env,
    uploader_status,
    wait_done,
)
from tests.standins.youtube import Fault, YouTubeStandIn
from vodtender.pipeline.kv import kv_get, kv_set
from vodtender.runtime.models import OAuthToken, SharedLimit, VodEvent

KEY = "a passphrase for the token store"


def authorize_with_cli(env: dict[str, str], workdir: Path) -> str:
    """Run `vodtender auth youtube` the way an operator does: open the printed URL, let it catch the redirect."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vodtender", "auth", "youtube", "--timeout", "60"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip().startswith("http"):
                url = line.strip()
                break
        else:
            raise AssertionError(f"no URL printed: {proc.stderr.read() if proc.stderr else ''}")
        assert "access_type=offline" in url and "code_challenge=" in url and "youtube.upload" in url
        with urllib.request.urlopen(url, timeout=10) as answer:  # the stand-in consents and redirects back
            assert b"authorization received" in answer.read()
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    return out


def test_invalid_grant_pauses_uploads_until_auth_youtube_stores_new_tokens(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    vod = downloaded_vod(workdir, 2 * MIB)
    store_tokens(youtube, key=KEY, lifetime=0)  # expired access token: the uploader must refresh first
    youtube.revoke()  # ... and Google says invalid_grant
    env = uploader_env(workdir, db_path, youtube, ENCRYPTION_KEY=KEY)
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        uploader.wait_for_log(r"<3>tokens: YouTube refused the refresh token.*error=invalid_grant")
        wait_until(lambda: "invalid_grant" in uploader_status(), 20, what="STATUS to say why")
        assert "vodtender auth youtube" in uploader_status()
        assert uploader.log().count("<3>uploader: uploads paused") == 1  # said once, not every loop step
        code, body = uploader.http("/readyz")
        assert code == 503 and "invalid_grant" in body
        assert metric(uploader, "vodtender_upload_auth_paused") == 1
        row = fresh(vod)
        assert (row.processed, row.processing_error, row.youtube_url) == (0, None, None)  # still queued
        out = authorize_with_cli(env, workdir)
        assert "YouTube tokens stored (encrypted" in out
        stored = OAuthToken.get(OAuthToken.provider == "youtube")
        assert stored.invalid_reason is None and stored.refresh_token.startswith("enc:v2:")
        row = wait_done(vod, uploader)
        assert row.youtube_url and youtube.videos[0].size == 2 * MIB
        assert metric(uploader, "vodtender_upload_auth_paused") == 0
        assert metric(uploader, "vodtender_upload_token_expiry_timestamp_seconds") > time.time()
    assert KEY not in uploader.log()


def test_quota_exceeded_holds_every_upload_until_the_reset(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    first = downloaded_vod(workdir, MIB, twitch_id="2001")
    second = downloaded_vod(workdir, MIB, twitch_id="2002")
    store_tokens(youtube)
    youtube.add_fault(Fault(on="post", status=403, reason="quotaExceeded"))
    with DaemonProcess("uploader", workdir, env=uploader_env(workdir, db_path, youtube)) as uploader:
        wait_until(lambda: kv_get("upload_quota_hold_until"), 20, what="the quota hold")
        hold_until = float(kv_get("upload_quota_hold_until"))
        pacific = dt.datetime.fromtimestamp(hold_until, zoneinfo.ZoneInfo("America/Los_Angeles"))
        assert (pacific.hour, pacific.minute) == (0, 0) and 0 < hold_until - time.time() <= 25 * 3600
        wait_until(lambda: "quota" in uploader_status(), 20, what="STATUS to show the hold")
        code, body = uploader.http("/readyz")
        assert code == 503 and "quotaExceeded" in body
        assert metric(uploader, "vodtender_upload_quota_hold_until_timestamp_seconds") == hold_until
        time.sleep(3)  # several loop steps: none may try another upload
        assert youtube.count("POST", "post") == 1
        for vod in (first, second):
            row = fresh(vod)
            assert (row.processed, row.processing_error, row.error_class) == (0, None, None)
        # YouTube's word wins over our count: every number shown is the same 10000 of 10000
        assert quota_used_today() == 10000
        assert "quota_used_today=10000 quota_daily=10000" in uploader.log()
        assert metric(uploader, "vodtender_upload_quota_used_units") == 10000
        shown = run_cli(workdir, "status", "--color", "never", env=uploader_env(workdir, db_path, youtube)).stdout
        assert "quota 10000/10000" in shown and "YouTube quota exhausted (10000/10000 units used today)" in shown
        assert "upload limit" not in uploader_status() and kv_get("upload_limit_hold_until") is None
        # the test's midnight: the hold ends, and the count starts a new Pacific day
        SharedLimit.update(period="2000-01-01").where(SharedLimit.name == "youtube_quota").execute()
        kv_set("upload_quota_hold_until", str(time.time() - 1))
        wait_done(first, uploader)
        wait_done(second, uploader)
        assert metric(uploader, "vodtender_upload_quota_hold_until_timestamp_seconds") == 0
    assert 3200 < quota_used_today() <= 3200 + 2  # two uploads, and a videos.list check or two
    assert VodEvent.select().where(VodEvent.kind == "held").count() == 1


def test_upload_limit_holds_apart_from_the_quota_for_its_own_time(
    workdir: Path, db_path: Path, db: peewee.Database
) -> None:
    first = downloaded_vod(workdir, MIB, twitch_id="2101", priority=1)
    second = downloaded_vod(workdir, MIB, twitch_id="2102")
    with YouTubeStandIn(daily_upload_limit=1) as youtube:
        store_tokens(youtube)
        env = uploader_env(workdir, db_path, youtube)
        with DaemonProcess("uploader", workdir, env=env) as uploader:
            wait_done(first, uploader)
            wait_until(lambda: kv_get("upload_limit_hold_until"), 20, what="the upload limit hold")
            refused_at = time.time()
            until = float(kv_get("upload_limit_hold_until"))
            assert refused_at - 30 < until - 24 * 3600 <= refused_at + 1  # UPLOAD_LIMIT_HOLD from the refusal
            wait_until(lambda: "upload limit reached" in uploader_status(), 20, what="STATUS to show the hold")
            assert "quota exhausted" not in uploader_status() and "not quota units" in uploader_status()
            code, body = uploader.http("/readyz")
            assert code == 503 and "uploadLimitExceeded" in body
            assert metric(uploader, "vodtender_upload_limit_hold_until_timestamp_seconds") == until
            assert metric(uploader, "vodtender_upload_quota_hold_until_timestamp_seconds") == 0
            assert kv_get("upload_quota_hold_until") is None and quota_used_today() < 10000  # units untouched
            shown = run_cli(workdir, "status", "--color", "never", env=env).stdout
            assert "upload limit reached, held until" in shown and "quota exhausted" not in shown
            row = fresh(second)
            assert (row.processed, row.processing_error, row.error_class) == (0, None, None)
            kv_set("upload_quota_hold_until", str(time.time() - 1))  # the quota's midnight frees nothing here
            time.sleep(2.5)  # a loop step or two
            assert youtube.count("POST", "post") == 2 and fresh(second).processed == 0
            youtube.daily_upload_limit = None  # YouTube's count has freed
            kv_set("upload_limit_hold_until", str(time.time() - 1))  # the test's 24 hours later
            wait_done(second, uploader)
            assert metric(uploader, "vodtender_upload_limit_hold_until_timestamp_seconds") == 0
    held = VodEvent.select().where(VodEvent.kind == "held")
    assert [e.message for e in held] == ["upload limit: uploadLimitExceeded"]


def test_download_only_without_credentials(workdir: Path, db_path: Path, db: peewee.Database) -> None:
    vod = downloaded_vod(workdir, 1000)
    with DaemonProcess("uploader", workdir, env=uploader_env(workdir, db_path, None)) as uploader:
        row = wait_done(vod, uploader)
        wait_until(lambda: "uploading is off" in uploader_status(), 20, what="STATUS download-only")
        assert uploader.http("/readyz")[0] == 200
        assert metric(uploader, "vodtender_upload_enabled") == 0
    assert (row.upload_state, row.youtube_url) == ("skipped", None)
    assert Path(row.downloaded_path).exists()


def test_vanished_file_goes_back_to_the_downloader(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    vod = downloaded_vod(workdir, 1000)
    Path(vod.downloaded_path).unlink()
    store_tokens(youtube)
    with DaemonProcess("uploader", workdir, env=uploader_env(workdir, db_path, youtube)) as uploader:
        uploader.wait_for_log(r"downloaded file vanished, handing the VOD back to the downloader")
        row = wait_until(
            lambda: fresh(vod) if fresh(vod).download_state == "discovered" else None, 10, what="VOD back at download"
        )
    assert (row.downloaded_path, row.processed, row.processing_error, row.lease_owner) == (None, 0, None, None)
    assert VodEvent.select().where((VodEvent.vod == vod.id) & (VodEvent.kind == "requeued")).count() == 1
    assert youtube.count("POST", "post") == 0


def test_local_file_deleted_only_after_confirmed_upload(
    workdir: Path, db_path: Path, db: peewee.Database, youtube: YouTubeStandIn
) -> None:
    kept = downloaded_vod(workdir, MIB, twitch_id="3001")
    refused = downloaded_vod(workdir, MIB, twitch_id="3002", priority=5)
    store_tokens(youtube)
    youtube.add_fault(Fault(on="post", status=400, reason="invalidVideoMetadata"))  # the first (priority) VOD
    env = uploader_env(workdir, db_path, youtube, UPLOAD_DELETE_LOCAL="1")
    with DaemonProcess("uploader", workdir, env=env) as uploader:
        wait_done(kept, uploader)
        wait_until(lambda: not Path(kept.downloaded_path).exists(), 10, what="uploaded file deleted")
    row = fresh(refused)
    assert row.processing_error and "invalidVideoMetadata" in row.processing_error and row.error_class == "fatal"
    assert Path(refused.downloaded_path).exists()


def test_stand_in_runs_as_a_module() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.youtube"], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split("YOUTUBE_API_URL=", 1)[1].split()[0]
        request = urllib.request.Request(url + "_control/tokens", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert b"refresh_token" in answer.read()
        with urllib.request.urlopen(url + "_control/state", timeout=10) as answer:
            assert b'"sessions": []' in answer.read()
    finally:
        proc.kill()
        proc.wait()
