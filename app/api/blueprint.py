"""The versioned JSON API (/api/v1): what the pages do, for scripts, with an OpenAPI 3 document.

Each area declares its routes on its own `app.api.routes.Routes`; `register` builds this app's API
blueprint from them (each view behind `requires_role`), registers it and builds the OpenAPI document
from the same routes, so the document cannot drift from them.  Auth: `Authorization: Bearer <token>`
(no CSRF needed: a browser never adds it by itself), or the web session cookie, in which case writes
need the `X-CSRFToken` header.  Every error under /api/v1 is JSON `{"error": ...}`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from app.api import openapi
from app.api.args import hostile_input
from app.api.routes import Routes
from app.web import errors
from app.web.auth import requires_role
from app.web.extensions import csrf, db

PREFIX = "/api/v1"
log = logging.getLogger(__name__)


def register(app: Flask, areas: Iterable[Routes]) -> Blueprint:
    """Build the API blueprint of every area's routes (and the document's own), register it on `app`
    and build the OpenAPI document."""
    bp = Blueprint("api", __name__, url_prefix=PREFIX)
    bp.before_request(_csrf_for_cookie_sessions)
    bp.before_request(_refuse_hostile_input)
    bp.register_error_handler(CSRFError, _csrf_error)
    for kind in errors.HANDLED:
        bp.register_error_handler(kind, errors.api_error)
    bp.register_error_handler(DataError, _data_error)
    bp.app_errorhandler(HTTPException)(_http_error)
    bp.register_error_handler(Exception, _unexpected)
    endpoints = []
    for area in (*areas, openapi.routes):
        for route in area.routes:
            bp.add_url_rule(
                route.rule,
                endpoint=route.view.__name__,
                view_func=requires_role(route.role)(route.view),
                methods=[route.method],
            )
            endpoints.append((f"{bp.name}.{route.view.__name__}", route))
    csrf.exempt(bp)  # the API checks CSRF itself, for cookie sessions only (tokens need none)
    app.register_blueprint(bp)
    app.extensions[openapi.EXTENSION] = openapi.build(app, endpoints)
    return bp


def _csrf_for_cookie_sessions() -> None:
    """Writes through the browser session need the CSRF token; token-authenticated calls do not."""
    if (
        request.method not in ("GET", "HEAD", "OPTIONS")
        and current_user.is_authenticated
        and not current_user.via_token
    ):
        csrf.protect()


def _refuse_hostile_input() -> Any:
    """Input no route can use, refused for every route at once: a NUL byte in any path, query, form or
    JSON string, an integer beyond bigint, JSON nested too deep to parse."""
    fields: list[tuple[str, Any]] = [
        *(request.view_args or {}).items(),
        *request.args.items(multi=True),
        *request.form.items(multi=True),
        *((f"{name} (file name)", upload.filename) for name, upload in request.files.items(multi=True)),
    ]
    if request.is_json:
        try:
            fields.append(("body", request.get_json(silent=True)))
        except RecursionError:
            return jsonify(error="the JSON body is nested too deeply"), 400
    problem = hostile_input(fields)
    return (jsonify(error=problem), 400) if problem else None


def _csrf_error(exc: CSRFError) -> Any:
    return jsonify(error=exc.description), 400


def _data_error(exc: DataError) -> Any:
    """A value Postgres cannot hold that no check caught: the client's input, so a 400, not a 500."""
    db.session.rollback()
    log.warning("API request refused by the database: %s", exc.orig)
    return jsonify(error="a parameter is outside what the database can hold"), 400


def _http_error(exc: HTTPException) -> Any:
    """Under /api/v1 every HTTP error (unknown route, wrong method, bad form data) is JSON; elsewhere
    Flask's own page."""
    if not request.path.startswith(f"{PREFIX}/"):
        return exc
    return jsonify(error=exc.description), exc.code or 500


def _unexpected(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):  # this handler is found before the app-wide one for the blueprint
        return _http_error(exc)
    log.exception("API request %s %s failed", request.method, request.path)
    return jsonify(error="internal error (logged on the server)"), 500
