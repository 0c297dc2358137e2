"""The versioned JSON API (/api/v1): what the pages do, for scripts, with an OpenAPI 3 document.

Each route is declared once with `endpoint(...)`, which both registers it with Flask (behind
`requires_role`) and records its OpenAPI operation, so the document cannot drift from the
routes.  Auth: `Authorization: Bearer <token>` (no CSRF needed: a browser never adds it by
itself), or the web session cookie, in which case writes need the `X-CSRFToken` header.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import and_, select
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from app import model_actions, params
from app.auth import current_user_id, requires_role
from app.extensions import csrf, db
from app.params import BadRequest
from oceanwatch.db.models import AISPosition, MLModel, Prediction, Vessel, Window
from oceanwatch.registry.store import RegistryError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
API_VERSION = "1.0.0"
MAX_LIMIT = 10000
DEFAULT_SPAN = dt.timedelta(hours=1)

_OPERATIONS: dict[str, dict[str, Any]] = {}
log = logging.getLogger(__name__)


def _param(name: str, where: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "description": description, "required": required or where == "path",
            "schema": schema}


TIME_PARAMS = [
    _param("start", "query", "ISO 8601 start (default: end minus one hour)", {"type": "string", "format": "date-time"}),
    _param("end", "query", "ISO 8601 end (default: now)", {"type": "string", "format": "date-time"}),
    _param("limit", "query", f"most rows returned (1-{MAX_LIMIT})",
           {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 1000}),
]
MODEL_ID = _param("model_id", "path", "model id", {"type": "integer"})


def endpoint(rule: str, method: str, role: str, summary: str, *, parameters: list[dict[str, Any]] | None = None,
             responses: dict[str, str] | None = None, request_body: dict[str, Any] | None = None,
             ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a Flask route under /api/v1 and its OpenAPI operation in one place."""
    openapi_path = rule.replace("<int:", "{").replace("<", "{").replace(">", "}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        guarded = requires_role(role)(view)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=guarded, methods=[method])
        operation: dict[str, Any] = {
            "operationId": view.__name__, "summary": summary, "description": f"Requires role {role}.",
            "parameters": parameters or [],
            "responses": {code: {"description": text} for code, text in {
                "200": "OK", "401": "not authenticated", "403": f"role below {role}", **(responses or {})}.items()},
        }
        if request_body:
            operation["requestBody"] = request_body
        _OPERATIONS.setdefault(openapi_path, {})[method.lower()] = operation
        return guarded

    return decorate


@bp.before_request
def _csrf_for_cookie_sessions() -> None:
    """Writes through the browser session need the CSRF token; token-authenticated calls do not."""
    if (request.method not in ("GET", "HEAD", "OPTIONS") and current_user.is_authenticated
            and not current_user.via_token):
        csrf.protect()


@bp.before_request
def _refuse_hostile_input() -> Any:
    """Input no route can use, refused for every route at once: a NUL byte in any path, query, form or
    JSON string, an integer beyond bigint, JSON nested too deep to parse."""
    fields: list[tuple[str, Any]] = [*(request.view_args or {}).items(), *request.args.items(multi=True),
                                     *request.form.items(multi=True),
                                     *((f"{name} (file name)", upload.filename)
                                       for name, upload in request.files.items(multi=True))]
    if request.is_json:
        try:
            fields.append(("body", request.get_json(silent=True)))
        except RecursionError:
            return jsonify(error="the JSON body is nested too deeply"), 400
    problem = params.hostile_input(fields)
    return (jsonify(error=problem), 400) if problem else None


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> Any:
    return jsonify(error=exc.description), 400


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> Any:
    return jsonify(error=str(exc)), 400


@bp.errorhandler(DataError)
def _data_error(exc: DataError) -> Any:
    """A value Postgres cannot hold that no check caught: the client's input, so a 400, not a 500."""
    db.session.rollback()
    log.warning("API request refused by the database: %s", exc.orig)
    return jsonify(error="a parameter is outside what the database can hold"), 400


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    """Under /api/v1 every HTTP error (unknown route, wrong method, bad form data) is JSON; elsewhere
    Flask's own page."""
    if not request.path.startswith(f"{bp.url_prefix}/"):
        return exc
    return jsonify(error=exc.description), exc.code or 500


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):  # this handler is found before the app-wide one for the blueprint
        return _http_error(exc)
    log.exception("API request %s %s failed", request.method, request.path)
    return jsonify(error="internal error (logged on the server)"), 500


def _time(name: str, default: dt.datetime) -> dt.datetime:
    raw = request.args.get(name)
    return params.time(name, raw) if raw else default


def _range() -> tuple[dt.datetime, dt.datetime, int]:
    end = _time("end", dt.datetime.now(dt.timezone.utc))
    start = _time("start", end - DEFAULT_SPAN)
    if start > end:
        raise BadRequest("start is after end")
    limit = _int_arg("limit")
    limit = 1000 if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: from 1 to {MAX_LIMIT}")
    return start, end, limit


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    return None if raw is None or raw == "" else params.integer(name, raw)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@endpoint("/me", "GET", "viewer", "The authenticated user")
def me() -> Any:
    return jsonify(id=int(current_user.id), username=current_user.username, role=current_user.role)


@endpoint("/models", "GET", "viewer", "Every model version with state, health and last prediction time")
def list_models() -> Any:
    return jsonify(models=[model_actions.model_dict(m) for m in model_actions.list_models()])


@endpoint("/models/<int:model_id>", "GET", "viewer", "One model version with its manifest and audit trail",
          parameters=[MODEL_ID], responses={"404": "no such model"})
def get_model(model_id: int) -> Any:
    row = db.session.get(MLModel, model_id)
    if row is None:
        return jsonify(error=f"no model with id {model_id}"), 404
    return jsonify(model={**model_actions.model_dict(row), "manifest": row.manifest},
                   audit=model_actions.audit_trail(model_id))


@endpoint("/models", "POST", "operator", "Upload and register a model package (validated first)",
          responses={"201": "registered", "400": "validation failed (every problem listed)"},
          request_body={"required": True, "content": {"multipart/form-data": {"schema": {
              "type": "object", "properties": {
                  "model": {"type": "string", "format": "binary", "description": ".keras file"},
                  "manifest": {"type": "string", "format": "binary", "description": "manifest .json"},
                  "package": {"type": "string", "format": "binary", "description": ".zip of both instead"}}}}}})
def upload_model() -> Any:
    try:
        model_id = model_actions.upload(request.files.to_dict(), current_user_id())
    except model_actions.UploadError as exc:
        return jsonify(error="validation failed", problems=exc.problems), 400
    return jsonify(id=model_id, validation="ok", model=model_actions.model_dict(db.session.get(MLModel, model_id))), 201


@endpoint("/models/<int:model_id>/<action>", "POST", "operator", "Deploy, deactivate, reactivate or roll back",
          parameters=[MODEL_ID, _param("action", "path", "what to do",
                                       {"type": "string", "enum": list(model_actions.ACTIONS)})],
          responses={"409": "not possible in the model's state"})
def model_action(model_id: int, action: str) -> Any:
    try:
        active_id = model_actions.apply(model_id, action, current_user_id())
    except RegistryError as exc:
        return jsonify(error=str(exc)), 409
    return jsonify(action=action, model_id=model_id, active_model_id=active_id)


@endpoint("/windows", "GET", "viewer", "Audio windows in a time range",
          parameters=[*TIME_PARAMS, _param("hydrophone_id", "query", "hydrophone", {"type": "string"})],
          responses={"400": "bad parameter"})
def windows() -> Any:
    start, end, limit = _range()
    conditions = [Window.start_time >= start, Window.start_time <= end]
    if request.args.get("hydrophone_id"):
        conditions.append(Window.hydrophone_id == request.args["hydrophone_id"])
    rows = db.session.scalars(select(Window).where(and_(*conditions)).order_by(Window.start_time).limit(limit))
    return jsonify(windows=[{"id": w.id, "hydrophone_id": w.hydrophone_id, "start_time": _iso(w.start_time),
                             "end_time": _iso(w.end_time), "sample_rate": w.sample_rate, "rms_db": w.rms_db,
                             "has_clip": w.clip_path is not None, "source": w.source} for w in rows])


@endpoint("/predictions", "GET", "viewer", "Predictions for windows in a time range",
          parameters=[*TIME_PARAMS, _param("model_id", "query", "only this model", {"type": "integer"})],
          responses={"400": "bad parameter"})
def predictions() -> Any:
    start, end, limit = _range()
    conditions = [Window.start_time >= start, Window.start_time <= end]
    model_id = _int_arg("model_id")
    if model_id is not None:
        conditions.append(Prediction.model_id == model_id)
    rows = db.session.execute(select(Prediction, Window.start_time, Window.end_time)
                              .join(Window, Window.id == Prediction.window_id).where(and_(*conditions))
                              .order_by(Window.start_time, Prediction.model_id).limit(limit))
    return jsonify(predictions=[{
        "id": p.id, "window_id": p.window_id, "model_id": p.model_id, "start_time": _iso(s), "end_time": _iso(e),
        "predicted": list(p.predicted), "probabilities": [float(x) for x in p.probabilities],
        "confidence": p.confidence, "entropy": p.entropy, "epistemic": p.epistemic, "aleatoric": p.aleatoric,
    } for p, s, e in rows])


@endpoint("/vessels", "GET", "viewer", "Vessels (AIS static data)",
          parameters=[TIME_PARAMS[2]], responses={"400": "bad parameter"})
def vessels() -> Any:
    _, _, limit = _range()
    rows = db.session.scalars(select(Vessel).order_by(Vessel.last_seen.desc()).limit(limit))
    return jsonify(vessels=[{"mmsi": v.mmsi, "name": v.name, "call_sign": v.call_sign, "ship_type": v.ship_type,
                             "ship_type_text": v.ship_type_text, "length_m": v.length_m,
                             "first_seen": _iso(v.first_seen), "last_seen": _iso(v.last_seen)} for v in rows])


@endpoint("/positions", "GET", "viewer", "AIS positions in a time range",
          parameters=[*TIME_PARAMS, _param("mmsi", "query", "only this vessel", {"type": "integer"})],
          responses={"400": "bad parameter"})
def positions() -> Any:
    start, end, limit = _range()
    conditions = [AISPosition.time >= start, AISPosition.time <= end]
    mmsi = _int_arg("mmsi")
    if mmsi is not None:
        conditions.append(AISPosition.mmsi == mmsi)
    rows = db.session.scalars(select(AISPosition).where(and_(*conditions)).order_by(AISPosition.time).limit(limit))
    return jsonify(positions=[{"mmsi": p.mmsi, "time": _iso(p.time), "latitude": p.latitude,
                               "longitude": p.longitude, "sog_knots": p.sog_knots, "cog_deg": p.cog_deg,
                               "heading_deg": p.heading_deg} for p in rows])


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 document of every route declared with `endpoint`."""
    paths = {f"{bp.url_prefix}{path}": ops for path, ops in sorted(_OPERATIONS.items())}
    return {
        "openapi": "3.0.3",
        "info": {"title": "OceanWatch API", "version": API_VERSION,
                 "description": "Models, predictions, windows and AIS data. Send `Authorization: Bearer <token>` "
                                "(create a token on your account page)."},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "session": {"type": "apiKey", "in": "cookie", "name": "session"}}},
        "security": [{"bearer": []}, {"session": []}],
    }


@endpoint("/openapi.json", "GET", "viewer", "This document")
def openapi() -> Any:
    return jsonify(openapi_document())
