"""ResumableUpload against the stand-in: every fault resumes the same session, never from zero."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from tests.standins.youtube import Fault, YouTubeStandIn
from vodtender.clients.google_oauth import TokenEndpoint, TokenGrant
from vodtender.clients.youtube import YouTubeClient
from vodtender.pipeline.errors import FatalError, TransientError
from vodtender.pipeline.upload.resumable import QuotaExhausted, ResumableUpload, RetryPolicy, Stopped
from vodtender.pipeline.upload.tokens import AccessTokens, AuthPaused, TokenCipher, TokenStore

CHUNK = 256 * 1024
SIZE = 3 * 1024 * 1024 + 12345
BODY = {"snippet": {"title": "t", "description": "d", "categoryId": "20"}, "status": {"privacyStatus": "private"}}


class Recorder:
    def __init__(self) -> None:
        self.sessions: list[str] = []
        self.offsets: list[int] = []
        self.retries: list[str] = []

    def session_started(self, session_uri: str) -> None:
        self.sessions.append(session_uri)

    def confirmed(self, session_uri: str, offset: int) -> None:
        self.offsets.append(offset)

    def retrying(self, attempt: int, error: str, delay: float) -> None:
        self.retries.append(error)


@pytest.fixture
def youtube() -> Iterator[YouTubeStandIn]:
    with YouTubeStandIn() as standin:
        yield standin


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "vod.mp4"
    path.write_bytes(bytes(range(256)) * (SIZE // 256) + b"x" * (SIZE % 256))
    return path


@pytest.fixture
def tokens(migrated_db: peewee.Database, youtube: YouTubeStandIn) -> AccessTokens:
    issued = youtube.issue_tokens()
    store = TokenStore(TokenCipher(None))
    store.save(TokenGrant(issued["access_token"], time.time() + 3600, issued["refresh_token"], None))
    tokens = AccessTokens(store, TokenEndpoint(youtube.token_url, youtube.client_id, youtube.client_secret, 5))
    assert tokens.check() is None
    return tokens


def make_job(
    youtube: YouTubeStandIn,
    tokens: AccessTokens,
    path: Path,
    events: Recorder,
    attempts: int = 5,
    stop: threading.Event | None = None,
) -> ResumableUpload:
    client = YouTubeClient(youtube.url, tokens.access_token, timeout=10)
    return ResumableUpload(
        client, tokens, str(path), BODY, CHUNK, events, RetryPolicy(attempts, 0.01), stop or threading.Event()
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_faults_mid_upload_resume_the_same_session(
    youtube: YouTubeStandIn, tokens: AccessTokens, video_file: Path
) -> None:
    youtube.add_fault(Fault(on="put", status=503, at_offset=CHUNK + 1000))  # 503 after part of chunk 2
    youtube.add_fault(Fault(on="put", kind="drop", at_offset=5 * CHUNK + 77))  # connection reset mid-chunk
    youtube.add_fault(Fault(on="put", status=401, reason="authError", at_offset=9 * CHUNK + 5))  # token dead
    events = Recorder()
    video = make_job(youtube, tokens, video_file, events).run()
    assert video["id"] == youtube.videos[0].id
    assert youtube.videos[0].sha256 == sha256(video_file)
    (session,) = youtube.sessions.values()  # one session: nothing started over
    assert youtube.count("POST", "post") == 1 and len(events.sessions) == 1
    assert session.status_queries == 3  # each fault: ask the server, continue from its offset
    assert session.bytes_in - SIZE < 3 * CHUNK  # at most the chunk in flight, per fault, again
    assert [e.split()[1] if e.startswith("HTTP") else "network" for e in events.retries] == ["503", "network", "401"]
    assert youtube.count("POST", "token") == 1  # the 401 refreshed the token


def test_restart_continues_from_the_server_offset(
    youtube: YouTubeStandIn, tokens: AccessTokens, video_file: Path
) -> None:
    stop = threading.Event()
    events = Recorder()

    class StopAfterFourChunks(Recorder):
        def confirmed(self, session_uri: str, offset: int) -> None:
            events.confirmed(session_uri, offset)
            if offset >= 4 * CHUNK:
                stop.set()

    first = StopAfterFourChunks()
    first.sessions = events.sessions
    with pytest.raises(Stopped):
        make_job(youtube, tokens, video_file, first, stop=stop).run()
    session_uri, offset = events.sessions[0], events.offsets[-1]
    assert offset == 4 * CHUNK
    resumed = Recorder()
    make_job(youtube, tokens, video_file, resumed).run(session_uri, offset=0)  # a stale offset: the server decides
    (session,) = youtube.sessions.values()
    assert resumed.sessions == [] and session.status_queries == 1
    assert session.bytes_in == SIZE and youtube.videos[0].sha256 == sha256(video_file)


def test_forgotten_session_starts_a_new_one(youtube: YouTubeStandIn, tokens: AccessTokens, video_file: Path) -> None:
    events = Recorder()
    uri = youtube.url + "upload/youtube/v3/videos?uploadType=resumable&upload_id=expired"
    make_job(youtube, tokens, video_file, events).run(uri, offset=CHUNK)
    assert len(events.sessions) == 1 and youtube.videos[0].sha256 == sha256(video_file)


def test_quota_exceeded_is_not_retried(youtube: YouTubeStandIn, tokens: AccessTokens, video_file: Path) -> None:
    youtube.add_fault(Fault(on="post", status=403, reason="quotaExceeded"))
    with pytest.raises(QuotaExhausted, match="quotaExceeded"):
        make_job(youtube, tokens, video_file, Recorder()).run()
    assert youtube.count("POST", "post") == 1


def test_bad_metadata_is_fatal(youtube: YouTubeStandIn, tokens: AccessTokens, video_file: Path) -> None:
    job = make_job(youtube, tokens, video_file, Recorder())
    job.body = {"snippet": {"title": "<b>" * 40}, "status": {"privacyStatus": "private"}}
    with pytest.raises(FatalError, match="invalidTitle"):
        job.run()


def test_persistent_5xx_gives_up_after_max_attempts(
    youtube: YouTubeStandIn, tokens: AccessTokens, video_file: Path
) -> None:
    youtube.add_fault(Fault(on="put", status=500, times=100))
    events = Recorder()
    with pytest.raises(TransientError, match="3 times in a row"):
        make_job(youtube, tokens, video_file, events, attempts=3).run()
    assert len(events.retries) == 2


def test_revoked_token_pauses(youtube: YouTubeStandIn, tokens: AccessTokens, video_file: Path) -> None:
    youtube.revoke()
    with pytest.raises(AuthPaused, match="invalid_grant"):
        make_job(youtube, tokens, video_file, Recorder()).run()
