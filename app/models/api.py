"""/api/v1/models: the registry's versions, upload with validation, and state changes.

Refusals are `app.models.actions.UploadError` (400 with every problem listed) and the registry's
`RegistryError` (409), both answered by the API's one input-error handler.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from app.api.routes import MODEL_ID, Routes, multipart_body, param
from app.models import actions
from app.web.auth import current_user_id
from app.web.extensions import db
from oceanwatch.db.models import MLModel

routes = Routes()


@routes.route("/models", "GET", "viewer", "Every model version with state, health and last prediction time")
def list_models() -> Any:
    return jsonify(models=[actions.model_dict(m) for m in actions.list_models()])


@routes.route(
    "/models/<int:model_id>",
    "GET",
    "viewer",
    "One model version with its manifest and audit trail",
    parameters=[MODEL_ID],
    responses={"404": "no such model"},
)
def get_model(model_id: int) -> Any:
    row = db.session.get(MLModel, model_id)
    if row is None:
        return jsonify(error=f"no model with id {model_id}"), 404
    return jsonify(model={**actions.model_dict(row), "manifest": row.manifest}, audit=actions.audit_trail(model_id))


@routes.route(
    "/models",
    "POST",
    "operator",
    "Upload and register a model package (validated first)",
    responses={"201": "registered", "400": "validation failed (every problem listed)"},
    request_body=multipart_body(
        {
            "properties": {
                "model": {"type": "string", "format": "binary", "description": ".keras file"},
                "manifest": {"type": "string", "format": "binary", "description": "manifest .json"},
                "package": {"type": "string", "format": "binary", "description": ".zip of both instead"},
            },
        }
    ),
)
def upload_model() -> Any:
    model_id = actions.upload(request.files.to_dict(), current_user_id())
    return jsonify(id=model_id, validation="ok", model=actions.model_dict(db.session.get(MLModel, model_id))), 201


@routes.route(
    "/models/<int:model_id>/<action>",
    "POST",
    "operator",
    "Deploy, deactivate, reactivate or roll back",
    parameters=[MODEL_ID, param("action", "path", "what to do", {"type": "string", "enum": list(actions.ACTIONS)})],
    responses={"409": "not possible in the model's state"},
)
def model_action(model_id: int, action: str) -> Any:
    active_id = actions.apply(model_id, action, current_user_id())
    return jsonify(action=action, model_id=model_id, active_model_id=active_id)
