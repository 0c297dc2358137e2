"""/api/v1 route that starts a training job; progress and per-epoch history come from GET /api/v1/jobs/<id>."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from app.api import endpoint
from app.auth import current_user_id
from app.extensions import db
from oceanwatch.training.trainjob import enqueue_training

TRAINING_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object", "properties": {
    "name": {"type": "string", "description": "model name; the result is registered as a new version of it"},
    "base_model_id": {"type": "integer", "nullable": True, "description": "fine-tune this model; absent: train "
                                                                          "the baseline architecture from scratch"},
    "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
    "radius_km": {"type": "integer", "default": 20}, "classes": {"type": "array", "items": {"type": "string"}},
    "labels": {"type": "string", "enum": ["ais", "human", "both"], "default": "both"},
    "epochs": {"type": "integer", "default": 5, "minimum": 1}, "learning_rate": {"type": "number"}},
    "required": ["name"]}}}}


@endpoint("/training", "POST", "operator", "Queue a training or fine-tuning job on labelled windows",
          request_body=TRAINING_BODY, responses={"202": "queued; poll /api/v1/jobs/{job_id}", "400": "invalid request"})
def start_training() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="the request body must be a JSON object"), 400
    try:
        job_id = enqueue_training(db.session, body, current_user_id())
        db.session.commit()
    except (ValueError, TypeError) as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(job_id=job_id), 202
