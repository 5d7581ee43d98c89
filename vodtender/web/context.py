"""What the web viewer's routes share: the context on the app, and the one-line error answer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Response, current_app, g, jsonify, render_template, request

from vodtender.runtime.config import Config
from vodtender.runtime.health import ReadinessCheck
from vodtender.runtime.redact import redact
from vodtender.web.auth import Access


@dataclass(frozen=True)
class WebContext:
    """What the routes need, kept on the app (`web()`)."""

    cfg: Config
    access: Access
    readiness: ReadinessCheck

    @property
    def data_dir(self) -> Path:
        return Path(self.cfg.data_dir)


def web() -> WebContext:
    context: WebContext = current_app.extensions["vodtender"]
    return context


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/media/"))


def error_response(code: int, message: str) -> Response:
    """One line: `{"error": ...}` for the API and media, the error page for the pages."""
    message = redact(" ".join(message.split()))
    if wants_json():
        response = jsonify(error=message)
    else:
        response = render_page("error.html", "error", code=code, message=message)
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = web().access.challenge
    return response


def render_page(template: str, page: str, **context: object) -> Response:
    """A page with what every template gets: the signed-in `user`, their `csrf_token`, the `page`'s name."""
    user = g.get("user")
    token = web().access.csrf_token(user) if user else None
    html = render_template(template, user=user, csrf_token=token, page=page, **context)
    return Response(html, mimetype="text/html")
