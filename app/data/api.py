"""/api/v1 routes of data management: classes, the AIS-type mapping, overrides, vessel statistics and
relabel previews.

Every write takes the same fields as the page's forms (see `app.data.actions.parse_edit`),
applies the edit through `oceanwatch.truth.classmap` (which audits it) and queues the relabel job,
from `since` or over all history.  `POST /relabel/preview` says how many labels an edit would
change without keeping anything.  A refused edit (`InputError`, the core's `ClassEditError`) is
answered by the API's one input-error handler.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask_login import current_user

from app.api.args import json_object
from app.api.routes import Routes, json_body, param
from app.data import actions
from app.web.auth import current_user_id
from app.web.errors import InputError

routes = Routes()

SINCE = {
    "type": "string",
    "format": "date-time",
    "nullable": True,
    "description": "relabel windows ending from this time; null or absent: all history",
}
EDIT_RESPONSES = {"400": "invalid edit (the reason is in `error`)", "403": "role too low for this action"}
CODE = param("code", "path", "class code", {"type": "string"})
MMSI = param("mmsi", "path", "vessel MMSI", {"type": "integer"})


def _apply(fields: dict[str, Any]) -> Any:
    """Parse, check the action's role, apply and queue the relabel; the JSON answer."""
    edit = actions.parse_edit(fields)
    if not current_user.can(edit.role):
        return jsonify(error=f"{edit.action} requires role {edit.role}"), 403
    return jsonify(actions.apply(edit, current_user_id()))


@routes.route("/classes", "GET", "viewer", "Ship classes")
def list_classes() -> Any:
    return jsonify(classes=actions.classes())


@routes.route(
    "/classes/<code>",
    "PUT",
    "operator",
    "Create or update a ship class, and relabel if it matters",
    parameters=[CODE],
    responses=EDIT_RESPONSES,
    request_body=json_body(
        {
            "properties": {
                "name": {"type": "string"},
                "description": {"type": "string"},
                "color": {"type": "string"},
                "is_background": {"type": "boolean"},
                "since": SINCE,
            },
            "required": ["name"],
        }
    ),
)
def put_class(code: str) -> Any:
    return _apply({**json_object(), "action": "class", "code": code})


@routes.route(
    "/classes/<code>",
    "DELETE",
    "admin",
    "Remove a class (its types become unmapped) and relabel",
    parameters=[CODE, param("since", "query", SINCE["description"], {"type": "string"})],
    responses=EDIT_RESPONSES,
)
def delete_class(code: str) -> Any:
    return _apply({"action": "remove", "code": code, "since": request.args.get("since")})


@routes.route(
    "/classes/<code>/merge",
    "POST",
    "admin",
    "Merge a class into another and relabel",
    parameters=[CODE],
    responses=EDIT_RESPONSES,
    request_body=json_body({"properties": {"into": {"type": "string"}, "since": SINCE}, "required": ["into"]}),
)
def merge_class(code: str) -> Any:
    return _apply({**json_object(), "action": "merge", "code": code})


@routes.route("/mappings", "GET", "viewer", "The AIS ship type (0-99) to class mapping, with designations")
def list_mappings() -> Any:
    return jsonify(mappings=actions.mappings())


@routes.route(
    "/mappings",
    "PUT",
    "operator",
    "Map one or several AIS types to a class (null: unmapped) and relabel",
    responses=EDIT_RESPONSES,
    request_body=json_body(
        {
            "properties": {
                "ship_types": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 99}},
                "class_code": {"type": "string", "nullable": True},
                "since": SINCE,
            },
            "required": ["ship_types"],
        }
    ),
)
def put_mappings() -> Any:
    return _apply({**json_object(), "action": "mapping"})


@routes.route("/overrides", "GET", "viewer", "Per-vessel class overrides")
def list_overrides() -> Any:
    return jsonify(overrides=actions.overrides())


@routes.route(
    "/overrides/<int:mmsi>",
    "PUT",
    "operator",
    "Pin a vessel to a class (with a reason) and relabel",
    parameters=[MMSI],
    responses=EDIT_RESPONSES,
    request_body=json_body(
        {
            "properties": {"class_code": {"type": "string"}, "reason": {"type": "string"}, "since": SINCE},
            "required": ["class_code"],
        }
    ),
)
def put_override(mmsi: int) -> Any:
    body = json_object()
    if not body.get("class_code"):
        raise InputError("class_code: the class to pin the vessel to (DELETE removes an override)")
    return _apply({**body, "action": "override", "mmsi": mmsi})


@routes.route(
    "/overrides/<int:mmsi>",
    "DELETE",
    "operator",
    "Remove a vessel's override and relabel",
    parameters=[MMSI, param("since", "query", SINCE["description"], {"type": "string"})],
    responses=EDIT_RESPONSES,
)
def delete_override(mmsi: int) -> Any:
    return _apply({"action": "override", "mmsi": mmsi, "class_code": None, "since": request.args.get("since")})


@routes.route(
    "/vessel-stats",
    "GET",
    "viewer",
    "Vessel count and length/beam/tonnage statistics per AIS type, with designation and current class",
)
def vessel_stats() -> Any:
    return jsonify(ship_types=actions.vessel_stats())


@routes.route(
    "/relabel/preview",
    "POST",
    "operator",
    "How many truth labels an edit would change (all history, and from `since`); nothing is kept",
    responses=EDIT_RESPONSES,
    request_body=json_body(
        {
            "properties": {
                "action": {"type": "string", "enum": list(actions.ACTION_ROLES)},
                "ship_types": {"type": "array", "items": {"type": "integer"}},
                "class_code": {"type": "string"},
                "mmsi": {"type": "integer"},
                "reason": {"type": "string"},
                "code": {"type": "string"},
                "into": {"type": "string"},
                "name": {"type": "string"},
                "description": {"type": "string"},
                "color": {"type": "string"},
                "is_background": {"type": "boolean"},
                "since": SINCE,
            },
            "required": ["action"],
        }
    ),
)
def relabel_preview() -> Any:
    edit = actions.parse_edit(json_object())
    if not current_user.can(edit.role):
        return jsonify(error=f"{edit.action} requires role {edit.role}"), 403
    return jsonify(actions.preview(edit, current_user_id()))
