"""Google OAuth 2.0 for an installed app: the consent URL, the loopback redirect, the token endpoint.

Written on `requests` rather than google-auth-oauthlib: that library refuses plain-http token
endpoints (the loopback stand-in of the tests) and hides the refresh response we must store.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

import requests

from vodtender.runtime.httpserver import HttpServer, QuietHandler

YOUTUBE_SCOPES = ("https://www.googleapis.com/auth/youtube.upload", "https://www.googleapis.com/auth/youtube")
# Token endpoint errors meaning "these credentials will never work again": a person must re-authorize.
REVOKED_ERRORS = ("invalid_grant", "invalid_client", "unauthorized_client")


class OAuthError(Exception):
    """The token endpoint could not be used right now (network, 5xx): try again later."""


class CredentialsRevoked(OAuthError):
    """The refresh token (or the client) was refused for good, e.g. `invalid_grant`."""

    def __init__(self, error: str, description: str = ""):
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_at: float  # unix seconds
    refresh_token: str | None  # None when the endpoint kept the old one
    scope: str | None


class TokenEndpoint:
    def __init__(self, token_url: str, client_id: str, client_secret: str, timeout: float = 30.0):
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout

    def refresh(self, refresh_token: str) -> TokenGrant:
        return self._post({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> TokenGrant:
        return self._post(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    def _post(self, fields: dict[str, str]) -> TokenGrant:
        data = {**fields, "client_id": self.client_id, "client_secret": self.client_secret}
        try:
            resp = requests.post(self.token_url, data=data, timeout=self.timeout)
        except requests.RequestException as exc:
            raise OAuthError(f"token endpoint unreachable: {type(exc).__name__}") from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if resp.status_code != 200:
            error = str(body.get("error") or f"http {resp.status_code}")
            if error in REVOKED_ERRORS:
                raise CredentialsRevoked(error, str(body.get("error_description") or ""))
            raise OAuthError(f"token endpoint answered {resp.status_code}: {error}")
        if not body.get("access_token"):
            raise OAuthError("token endpoint answered without an access_token")
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        return TokenGrant(
            str(body["access_token"]),
            time.time() + lifetime,
            body.get("refresh_token") or None,
            body.get("scope") or None,
        )


@dataclass(frozen=True)
class ConsentRequest:
    """One run of the installed-app flow: the URL to open, and what the redirect must carry back."""

    url: str
    redirect_uri: str
    state: str
    code_verifier: str

    @classmethod
    def create(
        cls, auth_url: str, client_id: str, redirect_uri: str, scopes: tuple[str, ...] = YOUTUBE_SCOPES
    ) -> ConsentRequest:
        verifier = secrets.token_urlsafe(64)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        query = urlencode(
            {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": " ".join(scopes),
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "access_type": "offline",
                "prompt": "consent",  # so Google hands out a refresh token
            }
        )
        return cls(f"{auth_url}{'&' if '?' in auth_url else '?'}{query}", redirect_uri, state, verifier)

    def code_from_redirect(self, redirected_url: str) -> str:
        """The authorization code from the address the browser was sent to; ValueError if it is not ours."""
        params = {k: v[0] for k, v in parse_qs(urlparse(redirected_url.strip()).query).items()}
        if params.get("error"):
            raise ValueError(f"authorization refused: {params['error']}")
        if params.get("state") != self.state:
            raise ValueError("the redirect does not belong to this authorization (state mismatch)")
        if not params.get("code"):
            raise ValueError("the redirect carries no authorization code")
        return params["code"]


class LoopbackReceiver:
    """A one-shot HTTP server on 127.0.0.1 that catches the browser's redirect after consent."""

    def __init__(self, port: int = 0):
        self.result: str | None = None  # the full redirected path and query
        self.done = threading.Event()
        receiver = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if "code=" not in self.path and "error=" not in self.path:
                    self.reply(404, b"waiting for Google's redirect\n")
                    return
                receiver.result = self.path
                self.reply(200, b"vodtender: authorization received, you can close this tab.\n")
                receiver.done.set()

        self._server = HttpServer(("127.0.0.1", port), Handler, name="oauth-redirect", threaded=False)
        self.redirect_uri = self._server.url + "/"

    def __enter__(self) -> LoopbackReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
