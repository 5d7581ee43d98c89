"""A thin client for the comment replay of a Twitch VOD, asked the way Twitch's web player asks.

One persisted GraphQL query, `VideoCommentsByOffsetOrCursor` (variables `videoID` plus either
`contentOffsetSeconds` or `cursor`), POSTed with the player's public Client-ID.  The request and
answer shapes follow public clients: TwitchDownloader (TwitchDownloaderCore/ChatDownloader.cs) and
vtstats (its persisted query module names the operation and the sha256Hash used here).  Twitch
refuses cursor paging without a client-integrity token ("failed integrity check"): `CursorRefused`
lets the caller page by offset instead.  Anything else unexpected is a `ReplayRefused` with one line
that says what came back; these checks change often.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import requests

OPERATION = "VideoCommentsByOffsetOrCursor"
QUERY_HASH = "b70a3591ff0f4e0313d126c6a1502d79a1c02baebb288227c582044aa76adf6a"
REQUEST_TIMEOUT = (5.0, 20.0)  # connect, read
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # a page holds some tens of comments; more is not a page


class ReplayRefused(Exception):
    """Twitch answered, but not with comments: an error, a 4xx/5xx, a shape this client does not know."""


class ReplayUnavailable(ReplayRefused):
    """Twitch could not be reached, or answered 429 or 5xx: worth asking again later."""


class CursorRefused(ReplayRefused):
    """Cursor paging was refused (integrity check); offset paging may still work."""


@dataclasses.dataclass(frozen=True)
class Comment:
    comment_id: str
    offset: float  # contentOffsetSeconds
    created_at: float  # unix seconds
    user_id: str | None
    login: str
    display_name: str
    text: str
    color: str | None
    badges: str | None  # IRC style: set/version,set/version
    emotes: str | None  # emote ids in order of appearance, comma separated


@dataclasses.dataclass(frozen=True)
class Page:
    comments: list[Comment]
    next_cursor: str | None  # None: the last page


def _unix(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _comment(node: dict[str, Any]) -> Comment:
    commenter = node.get("commenter") or {}  # null for a deleted account
    message = node["message"]
    fragments = message.get("fragments") or []
    emotes = [str(f["emote"]["emoteID"]) for f in fragments if f.get("emote")]
    badges = [f"{b['setID']}/{b['version']}" for b in message.get("userBadges") or [] if b.get("setID")]
    return Comment(
        comment_id=str(node["id"]),
        offset=float(node["contentOffsetSeconds"]),
        created_at=_unix(str(node["createdAt"])),
        user_id=str(commenter["id"]) if commenter.get("id") else None,
        login=str(commenter.get("login") or ""),
        display_name=str(commenter.get("displayName") or ""),
        text="".join(str(f.get("text") or "") for f in fragments),
        color=message.get("userColor") or None,
        badges=",".join(badges) or None,
        emotes=",".join(emotes) or None,
    )


class TwitchGql:
    def __init__(self, url: str, client_id: str, session: requests.Session | None = None):
        self.url = url
        self.client_id = client_id
        self.session = session or requests.Session()

    def comments(self, vod_id: str, *, cursor: str | None = None, offset: float = 0.0) -> Page:
        variables: dict[str, Any] = {"videoID": vod_id}
        if cursor is not None:
            variables["cursor"] = cursor
        else:
            variables["contentOffsetSeconds"] = int(offset)
        body = {
            "operationName": OPERATION,
            "variables": variables,
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": QUERY_HASH}},
        }
        try:
            response = self.session.post(
                self.url, json=body, headers={"Client-ID": self.client_id}, timeout=REQUEST_TIMEOUT
            )
        except requests.RequestException as exc:
            raise ReplayUnavailable(f"comment replay of VOD {vod_id}: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ReplayUnavailable(f"comment replay of VOD {vod_id}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise ReplayRefused(f"comment replay of VOD {vod_id}: HTTP {response.status_code}")
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise ReplayRefused(f"comment replay of VOD {vod_id}: answer of {len(response.content)} bytes")
        try:
            return self._page(response.json(), cursor is not None)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ReplayRefused(f"comment replay of VOD {vod_id}: unknown answer shape ({exc!r})") from exc

    @staticmethod
    def _page(answer: Any, by_cursor: bool) -> Page:
        if isinstance(answer, list):  # Twitch answers a batch; a single query may come back as one
            answer = answer[0]
        errors = answer.get("errors")
        if errors:
            message = "; ".join(str(e.get("message")) for e in errors)
            if by_cursor and "integrity" in message.lower():
                raise CursorRefused(message)
            raise ReplayRefused(f"Twitch refused the comment replay: {message}")
        video = answer["data"]["video"]
        if video is None:
            raise ReplayRefused("Twitch knows no such VOD (video: null)")
        comments = video["comments"]
        if comments is None:
            return Page([], None)
        edges = comments["edges"] or []
        page = [_comment(edge["node"]) for edge in edges]
        has_next = bool(comments["pageInfo"]["hasNextPage"])
        return Page(page, str(edges[-1]["cursor"]) if has_next and edges else None)
