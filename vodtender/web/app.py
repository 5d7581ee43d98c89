"""The web viewer's WSGI application: `create_app(cfg, readiness)`.

Every request but /healthz, /readyz and /metrics passes the gate first: with WEB_AUTH it needs a
valid sign-in (loopback is no exemption: a reverse proxy on this host is loopback too); without it
only a loopback peer is served.  Every response carries a strict Content-Security-Policy and the
other security headers.  Errors are one line: JSON under /api/ and /media/, the error page elsewhere.
"""

from __future__ import annotations

import time

import peewee
from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException

from vodtender.runtime.config import Config
from vodtender.runtime.health import ReadinessCheck
from vodtender.runtime.logs import get_logger
from vodtender.runtime.requirements import is_loopback
from vodtender.web import api, media, pages
from vodtender.web.auth import Access
from vodtender.web.context import WebContext, error_response, web

log = get_logger("web")

OPEN_PATHS = ("/healthz", "/readyz", "/metrics")  # probes and scrapers sign in nowhere
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it Chromium posts our own forms with `Origin: null` (same_origin() copes).
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
UNMATCHED = "unmatched"  # the route label of a request no URL rule matched

REQUESTS = Counter("vodtender_web_requests_total", "web viewer requests answered", ["route", "code"])
REQUEST_SECONDS = Histogram(
    "vodtender_web_request_seconds",
    "time to answer a web viewer request (media: until the first byte)",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def gate() -> Response | None:
    g.started = time.perf_counter()
    g.user = None
    if request.path in OPEN_PATHS:
        return None
    access = web().access
    if access.required:
        g.user = access.authenticate(request.headers)
        if g.user is None:
            return error_response(401, "sign in: this viewer needs a user name and password (or a bearer token)")
    elif not is_loopback(request.remote_addr or ""):
        return error_response(401, "this viewer answers only on loopback unless WEB_AUTH is set")
    return None


def finish(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    REQUESTS.labels(route, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(route).observe(time.perf_counter() - g.get("started", time.perf_counter()))
    return response


def http_error(exc: HTTPException) -> Response:
    """Werkzeug's error as our one line, keeping the headers it needs (416: Content-Range, 405: Allow)."""
    response = error_response(exc.code or 500, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def database_error(exc: peewee.PeeweeException) -> Response:
    log.warning("web request failed: database", path=request.path, error=str(exc))
    return error_response(503, f"the database cannot be read right now: {exc}")


def unexpected_error(exc: Exception) -> Response:
    log.error("web request failed", path=request.path, error=f"{type(exc).__name__}: {exc}", exc_info=True)
    return error_response(500, "internal error (the journal has the details)")


def health_routes(app: Flask, readiness: ReadinessCheck) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @app.get("/readyz")
    def readyz() -> Response:
        problems = readiness()
        body = "ready\n" if not problems else "".join(p + "\n" for p in problems)
        return Response(body, status=503 if problems else 200, mimetype="text/plain")

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)


def create_app(cfg: Config, readiness: ReadinessCheck) -> Flask:
    """The viewer for `cfg` (WEB_AUTH, DATA_DIR); `readiness` is what /readyz reports."""
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, TEMPLATES_AUTO_RELOAD=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["vodtender"] = WebContext(cfg, Access(cfg.web_auth, cfg.web_token), readiness)
    app.before_request(gate)
    app.after_request(finish)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(peewee.PeeweeException, database_error)
    app.register_error_handler(Exception, unexpected_error)
    health_routes(app, readiness)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(media.blueprint)
    return app


def create_idle_app(readiness: ReadinessCheck) -> Flask:
    """What answers while the viewer is not serving (starting, idle, reloading): the probes, and 503 with why."""
    app = Flask(__name__, static_folder=None)
    app.after_request(finish)
    health_routes(app, readiness)

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def not_serving(path: str) -> Response:
        reasons = "; ".join(readiness()) or "starting"
        return Response(f"the web viewer is not serving: {reasons}\n", status=503, mimetype="text/plain")

    return app
