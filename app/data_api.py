"""/api/v1 routes of data management: classes, the AIS-type mapping, overrides, vessel statistics,
relabel previews and jobs.

Every write takes the same fields as the page's forms (see `app.data_actions.parse_edit`),
applies the edit through `oceanwatch.truth.classmap` (which audits it) and queues the relabel job,
from `since` or over all history.  `POST /relabel/preview` says how many labels an edit would
change without keeping anything.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_login import current_user

from app import data_actions
from app.api import BadRequest, _param, endpoint
from app.auth import current_user_id
from oceanwatch.truth.classmap import ClassEditError

SINCE = {"type": "string", "format": "date-time", "nullable": True,
         "description": "relabel windows ending from this time; null or absent: all history"}
EDIT_RESPONSES = {"400": "invalid edit (the reason is in `error`)", "403": "role too low for this action"}
CODE = _param("code", "path", "class code", {"type": "string"})
MMSI = _param("mmsi", "path", "vessel MMSI", {"type": "integer"})
JOB_ID = _param("job_id", "path", "job id", {"type": "integer"})


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"type": "object", **schema}}}}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _apply(fields: dict[str, Any]) -> Any:
    """Parse, check the action's role, apply and queue the relabel; the JSON answer."""
    try:
        edit = data_actions.parse_edit(fields)
        if not current_user.can(edit.role):
            return jsonify(error=f"{edit.action} requires role {edit.role}"), 403
        return jsonify(data_actions.apply(edit, current_user_id()))
    except (data_actions.EditInputError, ClassEditError) as exc:
        return jsonify(error=str(exc)), 400


@endpoint("/classes", "GET", "viewer", "Ship classes")
def list_classes() -> Any:
    return jsonify(classes=data_actions.classes())


@endpoint("/classes/<code>", "PUT", "operator", "Create or update a ship class, and relabel if it matters",
          parameters=[CODE], responses=EDIT_RESPONSES, request_body=_json_body({"properties": {
              "name": {"type": "string"}, "description": {"type": "string"}, "color": {"type": "string"},
              "is_background": {"type": "boolean"}, "since": SINCE}, "required": ["name"]}))
def put_class(code: str) -> Any:
    return _apply({**_body(), "action": "class", "code": code})


@endpoint("/classes/<code>", "DELETE", "admin", "Remove a class (its types become unmapped) and relabel",
          parameters=[CODE, _param("since", "query", SINCE["description"], {"type": "string"})],
          responses=EDIT_RESPONSES)
def delete_class(code: str) -> Any:
    return _apply({"action": "remove", "code": code, "since": request.args.get("since")})


@endpoint("/classes/<code>/merge", "POST", "admin", "Merge a class into another and relabel",
          parameters=[CODE], responses=EDIT_RESPONSES,
          request_body=_json_body({"properties": {"into": {"type": "string"}, "since": SINCE}, "required": ["into"]}))
def merge_class(code: str) -> Any:
    return _apply({**_body(), "action": "merge", "code": code})


@endpoint("/mappings", "GET", "viewer", "The AIS ship type (0-99) to class mapping, with designations")
def list_mappings() -> Any:
    return jsonify(mappings=data_actions.mappings())


@endpoint("/mappings", "PUT", "operator", "Map one or several AIS types to a class (null: unmapped) and relabel",
          responses=EDIT_RESPONSES, request_body=_json_body({"properties": {
              "ship_types": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 99}},
              "class_code": {"type": "string", "nullable": True}, "since": SINCE}, "required": ["ship_types"]}))
def put_mappings() -> Any:
    return _apply({**_body(), "action": "mapping"})


@endpoint("/overrides", "GET", "viewer", "Per-vessel class overrides")
def list_overrides() -> Any:
    return jsonify(overrides=data_actions.overrides())


@endpoint("/overrides/<int:mmsi>", "PUT", "operator", "Pin a vessel to a class (with a reason) and relabel",
          parameters=[MMSI], responses=EDIT_RESPONSES, request_body=_json_body({"properties": {
              "class_code": {"type": "string"}, "reason": {"type": "string"}, "since": SINCE},
              "required": ["class_code"]}))
def put_override(mmsi: int) -> Any:
    body = _body()
    if not body.get("class_code"):
        raise BadRequest("class_code: the class to pin the vessel to (DELETE removes an override)")
    return _apply({**body, "action": "override", "mmsi": mmsi})


@endpoint("/overrides/<int:mmsi>", "DELETE", "operator", "Remove a vessel's override and relabel",
          parameters=[MMSI, _param("since", "query", SINCE["description"], {"type": "string"})],
          responses=EDIT_RESPONSES)
def delete_override(mmsi: int) -> Any:
    return _apply({"action": "override", "mmsi": mmsi, "class_code": None, "since": request.args.get("since")})


@endpoint("/vessel-stats", "GET", "viewer",
          "Vessel count and length/beam/tonnage statistics per AIS type, with designation and current class")
def vessel_stats() -> Any:
    return jsonify(ship_types=data_actions.vessel_stats())


@endpoint("/relabel/preview", "POST", "operator",
          "How many truth labels an edit would change (all history, and from `since`); nothing is kept",
          responses=EDIT_RESPONSES, request_body=_json_body({"properties": {
              "action": {"type": "string", "enum": list(data_actions.ACTION_ROLES)},
              "ship_types": {"type": "array", "items": {"type": "integer"}}, "class_code": {"type": "string"},
              "mmsi": {"type": "integer"}, "reason": {"type": "string"}, "code": {"type": "string"},
              "into": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
              "color": {"type": "string"}, "is_background": {"type": "boolean"}, "since": SINCE},
              "required": ["action"]}))
def relabel_preview() -> Any:
    try:
        edit = data_actions.parse_edit(_body())
        if not current_user.can(edit.role):
            return jsonify(error=f"{edit.action} requires role {edit.role}"), 403
        return jsonify(data_actions.preview(edit, current_user_id()))
    except (data_actions.EditInputError, ClassEditError) as exc:
        return jsonify(error=str(exc)), 400


@endpoint("/jobs", "GET", "viewer", "Recent background jobs (relabel by default), newest first",
          parameters=[_param("kind", "query", "job kind; empty for every kind",
                             {"type": "string", "default": "relabel"})])
def list_jobs() -> Any:
    return jsonify(jobs=data_actions.list_jobs(request.args.get("kind", "relabel") or None))


@endpoint("/jobs/<int:job_id>", "GET", "viewer", "One job with status and progress (poll it)",
          parameters=[JOB_ID], responses={"404": "no such job"})
def get_job(job_id: int) -> Any:
    job = data_actions.get_job(job_id)
    if job is None:
        return jsonify(error=f"no job with id {job_id}"), 404
    return jsonify(job=job)


@endpoint("/jobs/<int:job_id>/cancel", "POST", "operator", "Ask a queued or running job to stop",
          parameters=[JOB_ID], responses={"409": "the job has already finished"})
def cancel_job(job_id: int) -> Any:
    if not data_actions.cancel_job(job_id, current_user_id()):
        return jsonify(error=f"job {job_id} is not queued or running"), 409
    return jsonify(job=data_actions.get_job(job_id))
