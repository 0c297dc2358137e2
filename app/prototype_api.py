"""/api/v1 routes for incremental classes: create a prototype model, add or remove a class (operators)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from app.api import _param, endpoint
from app.auth import current_user_id
from oceanwatch.training import prototypes

MODEL_ID = _param("model_id", "path", "id of a prototype model version", {"type": "integer"})
WINDOWS = {"type": "array", "items": {"type": "integer"}, "description": "reviewed window ids (at least 3)"}
RESPONSES = {"400": "invalid request (the reason is in `error`)"}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"type": "object", **schema}}}}


def _call(action: Any, *args: Any) -> Any:
    """Run a prototype action with the app's database and model store; its refusals answer 400."""
    settings = current_app.config["OCEANWATCH_SETTINGS"]
    try:
        model_id = action(current_app.config["SQLALCHEMY_DATABASE_URI"], settings.data_dir / "models", *args,
                          current_user_id())
    except (prototypes.PrototypeError, KeyError, TypeError, ValueError) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(model_id=model_id), 201


def _json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@endpoint("/prototypes", "POST", "operator", "Create a prototype model on a registered model's embedding",
          request_body=_body({"properties": {"base_model_id": {"type": "integer"}, "name": {"type": "string"},
                                             "classes": {"type": "object", "additionalProperties": WINDOWS}},
                              "required": ["base_model_id", "name", "classes"]}), responses=RESPONSES)
def create_prototype() -> Any:
    body = _json()
    return _call(prototypes.create, body.get("base_model_id"), body.get("name"), body.get("classes") or {})


@endpoint("/prototypes/<int:model_id>/classes", "POST", "operator",
          "Add (or relearn) a class from reviewed windows: registers the next version, deployed if this one was",
          parameters=[MODEL_ID], request_body=_body({"properties": {"code": {"type": "string"}, "window_ids": WINDOWS},
                                                     "required": ["code", "window_ids"]}), responses=RESPONSES)
def add_prototype_class(model_id: int) -> Any:
    body = _json()
    return _call(prototypes.add_class, model_id, body.get("code", ""), body.get("window_ids") or [])


@endpoint("/prototypes/<int:model_id>/classes/<code>", "DELETE", "operator",
          "Remove a class: registers the next version, deployed if this one was",
          parameters=[MODEL_ID, _param("code", "path", "class code", {"type": "string"})], responses=RESPONSES)
def remove_prototype_class(model_id: int, code: str) -> Any:
    return _call(prototypes.remove_class, model_id, code)
