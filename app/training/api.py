"""/api/v1 routes that make models from labelled windows: a training or fine-tuning job (progress and
per-epoch history come from GET /api/v1/jobs/<id>), and prototype models with incremental classes
(create one, add or remove a class; operators).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from app.api.args import json_object
from app.api.routes import Routes, json_body, param
from app.web.auth import current_user_id
from app.web.extensions import db
from oceanwatch.training import prototypes
from oceanwatch.training.trainjob import enqueue_training

routes = Routes()

TRAINING_BODY = json_body(
    {
        "properties": {
            "name": {
                "type": "string",
                "description": "model name; the result is registered as a new version of it",
            },
            "base_model_id": {
                "type": "integer",
                "nullable": True,
                "description": "fine-tune this model; absent: train the baseline architecture from scratch",
            },
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
            "radius_km": {"type": "integer", "default": 20},
            "classes": {"type": "array", "items": {"type": "string"}},
            "labels": {"type": "string", "enum": ["ais", "human", "both"], "default": "both"},
            "epochs": {"type": "integer", "default": 5, "minimum": 1},
            "learning_rate": {"type": "number"},
        },
        "required": ["name"],
    }
)


@routes.route(
    "/training",
    "POST",
    "operator",
    "Queue a training or fine-tuning job on labelled windows",
    request_body=TRAINING_BODY,
    responses={"202": "queued; poll /api/v1/jobs/{job_id}", "400": "invalid request"},
)
def start_training() -> Any:
    body = json_object()
    try:
        job_id = enqueue_training(db.session, body, current_user_id())
        db.session.commit()
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(job_id=job_id), 202


PROTOTYPE_ID = param("model_id", "path", "id of a prototype model version", {"type": "integer"})
WINDOWS = {"type": "array", "items": {"type": "integer"}, "description": "reviewed window ids (at least 3)"}
RESPONSES = {"400": "invalid request (the reason is in `error`)"}


def _call(action: Any, *args: Any) -> Any:
    """Run a prototype action with the app's database and model store; its refusals answer 400."""
    settings = current_app.config["OCEANWATCH_SETTINGS"]
    try:
        model_id = action(db.session, settings.data_dir / "models", *args, current_user_id())
        db.session.commit()
    except (prototypes.PrototypeError, KeyError, TypeError, ValueError) as exc:
        db.session.rollback()
        return jsonify(error=str(exc)), 400
    return jsonify(model_id=model_id), 201


@routes.route(
    "/prototypes",
    "POST",
    "operator",
    "Create a prototype model on a registered model's embedding",
    request_body=json_body(
        {
            "properties": {
                "base_model_id": {"type": "integer"},
                "name": {"type": "string"},
                "classes": {"type": "object", "additionalProperties": WINDOWS},
            },
            "required": ["base_model_id", "name", "classes"],
        }
    ),
    responses=RESPONSES,
)
def create_prototype() -> Any:
    body = json_object()
    return _call(prototypes.create, body.get("base_model_id"), body.get("name"), body.get("classes") or {})


@routes.route(
    "/prototypes/<int:model_id>/classes",
    "POST",
    "operator",
    "Add (or relearn) a class from reviewed windows: registers the next version, deployed if this one was",
    parameters=[PROTOTYPE_ID],
    responses=RESPONSES,
    request_body=json_body(
        {"properties": {"code": {"type": "string"}, "window_ids": WINDOWS}, "required": ["code", "window_ids"]}
    ),
)
def add_prototype_class(model_id: int) -> Any:
    body = json_object()
    return _call(prototypes.add_class, model_id, body.get("code", ""), body.get("window_ids") or [])


@routes.route(
    "/prototypes/<int:model_id>/classes/<code>",
    "DELETE",
    "operator",
    "Remove a class: registers the next version, deployed if this one was",
    parameters=[PROTOTYPE_ID, param("code", "path", "class code", {"type": "string"})],
    responses=RESPONSES,
)
def remove_prototype_class(model_id: int, code: str) -> Any:
    return _call(prototypes.remove_class, model_id, code)
