"""The comment replay of Twitch VODs: the `VideoCommentsByOffsetOrCursor` persisted GraphQL query.

    site.comments.add("1001", [Comment(...)...])     # a VOD's replay (no call: the VOD has no comments)
    site.comments.refuse_cursor = True               # cursor paging answers the integrity refusal
    site.comments.refuse_all = True                  # every replay query is refused

Shapes modelled on public clients of the real query: TwitchDownloader
(TwitchDownloaderCore/ChatDownloader.cs: variables videoID + contentOffsetSeconds or cursor; the answer
data.video.comments.edges[].node {id, commenter {id, login, displayName}, contentOffsetSeconds,
createdAt, message {fragments [{text, emote {emoteID}}], userBadges [{setID, version}], userColor}},
edges[].cursor, pageInfo.hasNextPage) and vtstats' persisted query module (operation name and hash;
cursor paging needs a Client-Integrity token, else `{"errors": [{"message": "failed integrity check"}]}`).
A VOD without comments answers `comments` with no edges and hasNextPage false.
"""

from __future__ import annotations

import base64
import dataclasses
import threading
from datetime import UTC, datetime
from typing import Any

PAGE_SIZE = 20
OPERATION = "VideoCommentsByOffsetOrCursor"


@dataclasses.dataclass(frozen=True)
class Comment:
    comment_id: str
    offset: int  # contentOffsetSeconds
    created_at: float
    login: str
    text: str
    emote_id: str | None = None


class CommentReplay:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._comments: dict[str, list[Comment]] = {}
        self.refuse_cursor = False
        self.refuse_all = False
        self.queries: list[dict[str, Any]] = []  # the variables of every replay query, in order

    def add(self, vod_id: str, comments: list[Comment]) -> None:
        with self._lock:
            self._comments[vod_id] = sorted(comments, key=lambda c: c.offset)

    def operation(self, op: dict[str, Any]) -> dict[str, Any] | None:
        if op.get("operationName") != OPERATION:
            return None
        variables = op.get("variables") or {}
        with self._lock:
            self.queries.append(dict(variables))
            comments = self._comments.get(str(variables.get("videoID")), [])
        extensions = {"operationName": OPERATION, "durationMilliseconds": 9}
        if self.refuse_all or ("cursor" in variables and self.refuse_cursor):
            return {
                "errors": [{"message": "failed integrity check", "path": ["video", "comments"]}],
                "data": {"video": {"id": variables.get("videoID"), "comments": None}},
                "extensions": extensions,
            }
        if "cursor" in variables:
            start = int(base64.b64decode(str(variables["cursor"])).decode())
        else:
            offset = float(variables.get("contentOffsetSeconds") or 0)
            start = next((i for i, c in enumerate(comments) if c.offset >= offset), len(comments))
        page = comments[start : start + PAGE_SIZE]
        edges = [
            {"cursor": base64.b64encode(str(start + i + 1).encode()).decode(), "node": _node(c)}
            for i, c in enumerate(page)
        ]
        has_next = start + PAGE_SIZE < len(comments)
        return {
            "data": {
                "video": {
                    "id": variables.get("videoID"),
                    "creator": {"id": "1234", "channel": {"id": "1234"}},
                    "comments": {"edges": edges, "pageInfo": {"hasNextPage": has_next, "hasPreviousPage": start > 0}},
                }
            },
            "extensions": extensions,
        }


def _node(c: Comment) -> dict[str, Any]:
    fragments: list[dict[str, Any]] = [{"text": c.text, "emote": None}]
    if c.emote_id:
        fragments.append({"text": " Kappa", "emote": {"emoteID": c.emote_id, "id": c.emote_id, "from": 0}})
    return {
        "id": c.comment_id,
        "commenter": {"id": f"9{len(c.login)}", "login": c.login, "displayName": c.login.title()},
        "contentOffsetSeconds": c.offset,
        "createdAt": datetime.fromtimestamp(c.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "message": {
            "fragments": fragments,
            "userBadges": [{"setID": "subscriber", "version": "12"}],
            "userColor": "#FF0000",
        },
    }
