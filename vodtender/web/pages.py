"""The HTML pages and the operator's actions.

The archive is rendered here whole (it works without JavaScript); the VOD, status and live pages are
shells their static scripts fill from the API.

An action (priority, cancel, reprocess) is a POST from the VOD page's form, by a signed-in user, with
the CSRF token of that user and from our own origin; it does what `vodtender priority|cancel|reprocess`
does (ops/control.py) and answers 303 back to the VOD page with what happened.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, g, request

from vodtender.ops import control
from vodtender.pipeline.vods import LISTED_STATES
from vodtender.runtime.logs import get_logger
from vodtender.runtime.models import Vod
from vodtender.runtime.options import format_duration, format_size
from vodtender.web.archive import BadRequest, channels, list_vods, vod_detail, vod_filter
from vodtender.web.auth import same_origin
from vodtender.web.context import error_response, render_page, web

log = get_logger("web")
blueprint = Blueprint("pages", __name__)
ACTIONS = ("priority", "cancel", "reprocess")
NEEDS_SIGN_IN = (
    "operator actions need a signed-in user: set WEB_AUTH (an htpasswd file, or token) and reload the web viewer"
)


blueprint.add_app_template_filter(format_duration, "duration")  # as `vodtender vods` shows them
blueprint.add_app_template_filter(format_size, "size")


@blueprint.app_template_filter("web_link")
def web_link(url: str | None) -> str | None:
    """Only an https address becomes a link: a hostile value such as `javascript:…` is shown as text."""
    return url if url and url.lower().startswith("https://") else None


@blueprint.get("/")
def archive() -> Response:
    try:
        where = vod_filter(request.args.to_dict())
    except BadRequest as exc:
        return error_response(400, str(exc))
    listing = list_vods(where, web().data_dir)
    pages = {}
    if where.offset > 0:
        pages["Newer"] = page_address(max(0, where.offset - where.limit))
    if where.offset + len(listing["vods"]) < listing["total"]:
        pages["Older"] = page_address(where.offset + where.limit)
    return render_page(
        "archive.html", "archive", channels=channels(), states=list(LISTED_STATES), listing=listing, pages=pages
    )


def page_address(offset: int) -> str:
    """This archive page's address with its filters, at another `offset`."""
    query = request.args.to_dict() | {"offset": str(offset)}
    return f"/?{urlencode(query)}"


@blueprint.get("/vods/<int:vod_id>")
def vod(vod_id: int) -> Response:
    found = Vod.get_or_none(Vod.id == vod_id)
    if found is None:
        return error_response(404, f"no VOD with id {vod_id}")
    return render_page("vod.html", "vod", vod=vod_detail(found, web().data_dir))


@blueprint.get("/status")
def status() -> Response:
    return render_page("status.html", "status")


@blueprint.get("/live")
def live() -> Response:
    return render_page("live.html", "live")


def refusal() -> Response | None:
    """Why this POST may not act: nobody signed in, a foreign origin, a missing or wrong CSRF token."""
    user: str | None = g.get("user")
    if user is None:
        return error_response(403, NEEDS_SIGN_IN)
    if not same_origin(request.headers, request.host_url):
        return error_response(403, "refused: the form was not sent from this viewer's own pages")
    if not web().access.csrf_ok(user, request.form.get("csrf_token")):
        return error_response(403, "refused: the form's CSRF token is missing or wrong; reload the page and try again")
    return None


def apply(action: str, vod: Vod) -> str:
    ref = f"#{vod.id}"
    if action == "cancel":
        return control.cancel(ref)
    if action == "reprocess":
        return control.reprocess(ref, request.form.get("reupload") == "1", web().cfg.upload_quota_cost)
    text = (request.form.get("priority") or "").strip()
    try:
        priority = int(text)
    except ValueError:
        raise ActionError(f"priority: not a whole number {text[:40]!r}") from None
    return control.set_priority(ref, priority)


class ActionError(ValueError):
    """A form value the action cannot use."""


@blueprint.post("/vods/<int:vod_id>/actions/<action>")
def act(vod_id: int, action: str) -> Response:
    if action not in ACTIONS:
        return error_response(404, f"no action {action[:40]!r} (use one of {', '.join(ACTIONS)})")
    refused = refusal()
    if refused is not None:
        return refused
    found = Vod.get_or_none(Vod.id == vod_id)
    if found is None:
        return error_response(404, f"no VOD with id {vod_id}")
    try:
        outcome = {"done": apply(action, found)}
    except ActionError as exc:
        return error_response(400, str(exc))
    except control.ControlError as exc:
        outcome = {"error": str(exc)}
    log.info("operator action", user=g.user, action=action, vod_id=vod_id, outcome=next(iter(outcome.values())))
    return Response(status=303, headers={"Location": f"/vods/{vod_id}?{urlencode(outcome)}"})
