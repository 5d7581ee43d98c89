"""The JSON API under /api/, described by openapi.json (served at /api/openapi.json)."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, jsonify, request

from vodtender.ops.status import RECORDINGS_HORIZON, gather_status, recording_summary
from vodtender.pipeline.chat.search import ChatHit, SearchError, SearchFilter, search_chat
from vodtender.pipeline.record import rows as recordings
from vodtender.runtime.models import Recording, Vod, utcnow
from vodtender.web.archive import BadRequest, list_vods, parse_date, parse_int, vod_detail, vod_filter
from vodtender.web.chat import chat_window, window_bounds
from vodtender.web.context import error_response, web

blueprint = Blueprint("api", __name__, url_prefix="/api")
SEARCH_LIMIT, SEARCH_LIMIT_MAX = 50, 500


@blueprint.errorhandler(BadRequest)
def bad_request(exc: BadRequest) -> Response:
    return error_response(400, str(exc))


@cache
def openapi_document() -> str:
    return resources.files("vodtender.web").joinpath("openapi.json").read_text(encoding="utf-8")


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return Response(openapi_document(), mimetype="application/json")


def args() -> dict[str, str]:
    return request.args.to_dict()


@blueprint.get("/vods")
def vods_list() -> Response:
    return jsonify(list_vods(vod_filter(args()), web().data_dir))


class NotFound(LookupError):
    """What the request names does not exist; the message is the API's one-line error."""


def vod_or_404(vod_id: int) -> Vod:
    vod = Vod.get_or_none(Vod.id == vod_id)
    if vod is None:
        raise NotFound(f"no VOD with id {vod_id}")
    return vod


@blueprint.errorhandler(NotFound)
def not_found(exc: NotFound) -> Response:
    return error_response(404, str(exc))


@blueprint.get("/vods/<int:vod_id>")
def vod(vod_id: int) -> Response:
    return jsonify(vod_detail(vod_or_404(vod_id), web().data_dir))


@blueprint.get("/vods/<int:vod_id>/chat")
def chat(vod_id: int) -> Response:
    start, end, limit = window_bounds(args())
    return jsonify(chat_window(vod_or_404(vod_id), start, end, limit))


def search_vod(ref: str) -> Vod:
    """`vod=`: a Twitch VOD id (or live-<unix>), else the row id."""
    found = Vod.get_or_none(Vod.twitch_vod_id == ref)
    if found is None and ref.isdigit():
        found = Vod.get_or_none(Vod.id == int(ref))
    if found is None:
        raise NotFound(f"no VOD {ref[:40]!r} (use its row id or Twitch VOD id)")
    return found


def hit_json(hit: ChatHit, row_ids: dict[str, int]) -> dict[str, Any]:
    marks = [word for word, on in (("deleted", hit.deleted), ("mirrored", hit.mirrored)) if on]
    return {
        "id": hit.id,
        "msg_id": hit.msg_id,
        "vod_id": row_ids.get(hit.vod_id) if hit.vod_id else None,
        "twitch_vod_id": hit.vod_id,
        "channel": hit.channel,
        "offset": None if hit.rel_timestamp is None or hit.vod_id is None else round(hit.rel_timestamp, 3),
        "sent_at": hit.sent_at(),
        "kind": hit.kind,
        "user": hit.username,
        "display_name": hit.display_name,
        "text": hit.message,
        "marks": marks,
        "source_channel": hit.source_channel,
    }


@blueprint.get("/search")
def search() -> Response:
    given = args()
    since = parse_date("since", given.get("since"))
    vod_ref = given.get("vod")
    where = SearchFilter(
        channel=given.get("channel") or None,
        vod_id=search_vod(vod_ref).twitch_vod_id if vod_ref else None,
        user=given.get("user") or None,
        since=dt.datetime.combine(since, dt.time(), dt.UTC).timestamp() if since else None,
        limit=parse_int("limit", given.get("limit"), SEARCH_LIMIT, 1, SEARCH_LIMIT_MAX),
    )
    try:
        hits = search_chat(given.get("q") or "", where)
    except SearchError as exc:
        raise BadRequest(f"q: {exc}") from None
    twitch_ids = {hit.vod_id for hit in hits if hit.vod_id}
    found = Vod.select(Vod.id, Vod.twitch_vod_id).where(Vod.twitch_vod_id.in_(twitch_ids))
    row_ids = {v.twitch_vod_id: v.id for v in found}
    return jsonify(hits=[hit_json(hit, row_ids) for hit in hits])


@blueprint.get("/status")
def status() -> Response:
    """What `vodtender status --json` prints (schemas/status.schema.json)."""
    return Response(json.dumps(gather_status(web().cfg)), mimetype="application/json")


def vod_of_recording(r: Recording) -> int | None:
    """The VOD page of a recording: its stream's VOD, the real one before the placeholder."""
    found = Vod.select(Vod.id).where(Vod.stream_id == r.stream_id).order_by(Vod.is_placeholder, Vod.id.desc()).first()
    return found.id if found else None


@blueprint.get("/recordings")
def recordings_list() -> Response:
    now = utcnow()
    listed = recordings.recent(now - dt.timedelta(seconds=RECORDINGS_HORIZON))
    return jsonify(recordings=[recording_summary(r, now) | {"vod_id": vod_of_recording(r)} for r in listed])
