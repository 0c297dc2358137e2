"""The people-in-the-loop part of /api/v1: feedback on predictions, the review queue and human labels.

A request that cannot be done is an `InputError` from `app.review.actions` (400, or 404 for an
unknown id), answered by the API's one input-error handler.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.api.args import json_object
from app.api.routes import MODEL_ID, SITE, Routes, json_body, param
from app.review import actions
from app.web.auth import current_user_id

routes = Routes()


@routes.route(
    "/predictions/<int:prediction_id>/feedback",
    "POST",
    "operator",
    "Say whether a prediction is correct; 'wrong' with classes also labels the window",
    parameters=[param("prediction_id", "path", "prediction id", {"type": "integer"})],
    responses={"400": "bad verdict or classes", "404": "no such prediction"},
    request_body=json_body(
        {
            "required": ["verdict"],
            "properties": {
                "verdict": {"type": "string", "enum": list(actions.VERDICTS)},
                "correct_classes": {"type": "array", "items": {"type": "string"}},
            },
        }
    ),
)
def prediction_feedback(prediction_id: int) -> Any:
    body = json_object()
    return jsonify(
        actions.give_feedback(prediction_id, body.get("verdict"), body.get("correct_classes"), int(current_user_id()))
    )


@routes.route(
    "/models/<int:model_id>/feedback",
    "GET",
    "viewer",
    "People's verdicts on a model: correct/wrong counts, per class, and the confusion they show",
    parameters=[MODEL_ID],
    responses={"404": "no such model"},
)
def model_feedback(model_id: int) -> Any:
    return jsonify(actions.feedback_counts(model_id))


@routes.route(
    "/review",
    "GET",
    "operator",
    "Windows worth a person's look, ranked in the database (active learning)",
    parameters=[
        param(
            "strategy",
            "query",
            "; ".join(f"{k}: {v}" for k, v in actions.STRATEGIES.items()),
            {"type": "string", "enum": list(actions.STRATEGIES), "default": "entropy"},
        ),
        param("model_id", "query", "only this model's predictions (default: the active models)", {"type": "integer"}),
        param("radius_km", "query", "truth radius for truth_disagreement", {"type": "integer", "default": 20}),
        param("start", "query", "ISO 8601 start of window times", {"type": "string", "format": "date-time"}),
        param("end", "query", "ISO 8601 end of window times", {"type": "string", "format": "date-time"}),
        SITE,
        param(
            "limit",
            "query",
            f"most windows (1-{actions.MAX_QUEUE})",
            {"type": "integer", "minimum": 1, "maximum": actions.MAX_QUEUE, "default": 50},
        ),
    ],
    responses={"400": "bad parameter"},
)
def review_queue() -> Any:
    query = actions.queue_query()
    return jsonify(strategy=query.strategy, windows=actions.queue(query))


@routes.route(
    "/windows/<int:window_id>/label",
    "POST",
    "operator",
    "Label a window by hand (overrides AIS truth in metrics); audited with who and when",
    parameters=[param("window_id", "path", "window id", {"type": "integer"})],
    responses={"400": "bad classes or note", "404": "no such window"},
    request_body=json_body(
        {
            "required": ["classes"],
            "properties": {"classes": {"type": "array", "items": {"type": "string"}}, "note": {"type": "string"}},
        }
    ),
)
def label_window(window_id: int) -> Any:
    body = json_object()
    return jsonify(actions.set_label(window_id, body.get("classes"), body.get("note"), current_user_id(), "api"))
