"""`vodtender doctor` against the Helix and YouTube stand-ins, a real database, real ffmpeg."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import peewee
import pytest

from tests.helpers.processes import base_env, run_cli
from tests.standins.helix import HelixStandin
from tests.standins.youtube import YouTubeStandIn
from vodtender.runtime.models import OAuthToken, utcnow


@pytest.fixture
def helix() -> HelixStandin:
    with HelixStandin() as standin:
        yield standin


@pytest.fixture
def youtube() -> YouTubeStandIn:
    with YouTubeStandIn() as standin:
        yield standin


def store_youtube_tokens(youtube: YouTubeStandIn) -> None:
    grant = youtube.issue_tokens()
    OAuthToken.create(
        provider="youtube",
        channel="",
        access_token=grant["access_token"],
        refresh_token=grant["refresh_token"],
        expires_at=utcnow() + dt.timedelta(hours=1),
    )


def lines(output: str) -> dict[str, str]:
    """check name -> its PASS/FAIL/SKIP line (and the fix line after a FAIL)."""
    found: dict[str, str] = {}
    last = None
    for line in output.splitlines():
        m = re.match(r"(PASS|FAIL|SKIP)  (\S+(?: \S+)?)\s{2,}", line)
        if m:
            last = m.group(2).strip()
            found[last] = line
        elif line.strip().startswith("fix:") and last:
            found[last] += "\n" + line
    return found


def doctor_env(workdir: Path, db_dsn: str, helix: HelixStandin, youtube: YouTubeStandIn, **extra: str) -> dict:
    return base_env(
        workdir,
        DB_DSN=db_dsn,
        DATA_DIR=str(workdir / "data"),
        TWITCH_CHANNEL="alpha",
        DOWNLOAD_MIN_FREE="0",
        YT_CLIENT_ID=youtube.client_id,
        YT_CLIENT_SECRET=youtube.client_secret,
        YOUTUBE_TOKEN_URL=youtube.token_url,
        **{**helix.env(), **extra},
    )


def test_everything_passes_on_a_healthy_installation(
    workdir: Path, migrated_db: peewee.Database, db_dsn: str, helix: HelixStandin, youtube: YouTubeStandIn
) -> None:
    store_youtube_tokens(youtube)
    result = run_cli(workdir, "doctor", env=doctor_env(workdir, db_dsn, helix, youtube))
    assert result.returncode == 0, result.stdout
    found = lines(result.stdout)
    assert set(found) == {
        "configuration",
        "helix token",
        "youtube token",
        "yt-dlp",
        "ffmpeg",
        "data dir",
        "database",
        "clock",
    }
    assert all(line.startswith("PASS") for line in found.values()), result.stdout
    assert "from Twitch's time" in found["clock"] and "ffmpeg version" in found["ffmpeg"]
    assert helix.client_secret not in result.stdout + result.stderr


def test_each_failure_says_what_to_do(
    workdir: Path, migrated_db: peewee.Database, db_dsn: str, helix: HelixStandin, youtube: YouTubeStandIn
) -> None:
    store_youtube_tokens(youtube)
    youtube.revoke()
    (workdir / "data").write_text("a file where the folder should be")
    env = doctor_env(
        workdir, db_dsn, helix, youtube, TWITCH_CLIENT_SECRET="wrong-secret-0123456789", VOD_RECONCILE_DELAY="soon"
    )
    result = run_cli(workdir, "doctor", env=env)
    assert result.returncode == 1
    found = lines(result.stdout)
    assert found["configuration"].startswith("FAIL") and "VOD_RECONCILE_DELAY" in found["configuration"]
    assert found["helix token"].startswith("FAIL") and "rejected" in found["helix token"]
    assert "fix: check TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET" in found["helix token"]
    assert found["youtube token"].startswith("FAIL") and "fix: run vodtender auth youtube" in found["youtube token"]
    assert found["data dir"].startswith("FAIL") and "fix: create" in found["data dir"]
    assert found["database"].startswith("PASS") and found["ffmpeg"].startswith("PASS")
    assert "0123456789" not in result.stdout + result.stderr


def test_missing_database_and_youtube_off(workdir: Path, helix: HelixStandin) -> None:
    env = base_env(
        workdir,
        DB_DSN=str(workdir / "nowhere.db"),
        DATA_DIR=str(workdir / "data"),
        TWITCH_CHANNEL="alpha",
        DOWNLOAD_MIN_FREE="0",
        **helix.env(),
    )
    result = run_cli(workdir, "doctor", env=env)
    found = lines(result.stdout)
    assert result.returncode == 1
    # not `vodtender db migrate`: in the wrong directory that makes an empty archive the daemons never see
    assert found["database"].startswith("FAIL") and "fix: check DB_DSN" in found["database"]
    assert found["youtube token"].startswith("SKIP") and "download-only" in found["youtube token"]
    assert not (workdir / "nowhere.db").exists()
