"""The people-in-the-loop part of /api/v1: classify an uploaded clip, feedback on predictions,
the review queue and human labels.  Routes are declared with `app.api.endpoint`, so they sit on
the API blueprint and in its OpenAPI document like every other route.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from app import classifier, params, review
from app.api import MODEL_ID, BadRequest, _int_arg, _param, _time, bp, endpoint
from app.auth import current_user_id
from oceanwatch.audio.uploads import ClipError

MAX_QUEUE = 1000
TRUE = {"1", "true", "yes", "on"}


@bp.errorhandler(review.ReviewError)
def _review_error(exc: review.ReviewError) -> Any:
    return jsonify(error=str(exc)), exc.status


@bp.errorhandler(ClipError)
def _clip_error(exc: ClipError) -> Any:
    return jsonify(error=str(exc)), 400


@bp.errorhandler(classifier.ModelChoiceError)
def _model_choice_error(exc: classifier.ModelChoiceError) -> Any:
    return jsonify(error=str(exc)), exc.status


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object (Content-Type: application/json)")
    return body


def _arg(name: str) -> str | None:
    return request.args.get(name) or request.form.get(name)


@endpoint("/predict", "POST", "operator", "Classify an uploaded WAV/FLAC clip with every active model (or one)",
          parameters=[_param("model_id", "query", "only this model (any state)", {"type": "integer"}),
                      _param("model", "query", "only this model name (its active version, else its newest)",
                             {"type": "string"}),
                      _param("keep", "query", "store the clip and its results (uploads table)", {"type": "boolean"})],
          responses={"400": "not a usable WAV/FLAC clip, or too little real audio for the model's window "
                            "(CLASSIFY_MIN_AUDIO_SHARE; the reason is given)", "404": "no such model",
                     "409": "no active model", "413": "larger than MAX_UPLOAD_MB"},
          request_body={"required": True, "content": {"multipart/form-data": {"schema": {
              "type": "object", "required": ["file"],
              "properties": {"file": {"type": "string", "format": "binary", "description": "WAV or FLAC clip"}}}}}})
def predict() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("send the clip as the multipart field 'file'")
    raw_id = _arg("model_id")
    model_id = params.integer("model_id", raw_id) if raw_id else None
    _clip, result = classifier.run(upload.read(), upload.filename, model_id, _arg("model"),
                                   (_arg("keep") or "").lower() in TRUE, current_user_id())
    return jsonify(result)


@endpoint("/predictions/<int:prediction_id>/feedback", "POST", "operator",
          "Say whether a prediction is correct; 'wrong' with classes also labels the window",
          parameters=[_param("prediction_id", "path", "prediction id", {"type": "integer"})],
          responses={"400": "bad verdict or classes", "404": "no such prediction"},
          request_body={"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["verdict"], "properties": {
                  "verdict": {"type": "string", "enum": list(review.VERDICTS)},
                  "correct_classes": {"type": "array", "items": {"type": "string"}}}}}}})
def prediction_feedback(prediction_id: int) -> Any:
    body = _json_body()
    return jsonify(review.give_feedback(prediction_id, body.get("verdict"), body.get("correct_classes"),
                                        int(current_user_id())))


@endpoint("/models/<int:model_id>/feedback", "GET", "viewer",
          "People's verdicts on a model: correct/wrong counts, per class, and the confusion they show",
          parameters=[MODEL_ID], responses={"404": "no such model"})
def model_feedback(model_id: int) -> Any:
    return jsonify(review.feedback_counts(model_id))


@endpoint("/review", "GET", "operator", "Windows worth a person's look, ranked in the database (active learning)",
          parameters=[
              _param("strategy", "query", "; ".join(f"{k}: {v}" for k, v in review.STRATEGIES.items()),
                     {"type": "string", "enum": list(review.STRATEGIES), "default": "entropy"}),
              _param("model_id", "query", "only this model's predictions (default: the active models)",
                     {"type": "integer"}),
              _param("radius_km", "query", "truth radius for truth_disagreement", {"type": "integer", "default": 20}),
              _param("start", "query", "ISO 8601 start of window times", {"type": "string", "format": "date-time"}),
              _param("end", "query", "ISO 8601 end of window times", {"type": "string", "format": "date-time"}),
              _param("limit", "query", f"most windows (1-{MAX_QUEUE})",
                     {"type": "integer", "minimum": 1, "maximum": MAX_QUEUE, "default": 50})],
          responses={"400": "bad parameter"})
def review_queue() -> Any:
    query = queue_query()
    return jsonify(strategy=query.strategy, windows=review.queue(query))


def queue_query() -> review.QueueQuery:
    """A QueueQuery from the request's arguments; BadRequest for anything unusable (shared with the page)."""
    args = request.args
    strategy = args.get("strategy") or "entropy"
    if strategy not in review.STRATEGIES:
        raise BadRequest(f"strategy: one of {', '.join(review.STRATEGIES)}")
    radii = current_app.config["OCEANWATCH_SETTINGS"].truth_radii_km
    radius = _int_arg("radius_km")
    radius = radii[0] if radius is None else radius
    if radius not in radii:
        raise BadRequest(f"radius_km: one of {', '.join(str(r) for r in radii)}")
    limit = _int_arg("limit")
    limit = 50 if limit is None else limit
    if not 1 <= limit <= MAX_QUEUE:
        raise BadRequest(f"limit: from 1 to {MAX_QUEUE}")
    start = _time("start", None) if args.get("start") else None  # type: ignore[arg-type]
    end = _time("end", None) if args.get("end") else None  # type: ignore[arg-type]
    if start and end and start > end:
        raise BadRequest("start is after end")
    return review.QueueQuery(strategy=strategy, model_id=_int_arg("model_id"), radius_km=radius, start=start,
                             end=end, limit=limit)


@endpoint("/windows/<int:window_id>/label", "POST", "operator",
          "Label a window by hand (overrides AIS truth in metrics); audited with who and when",
          parameters=[_param("window_id", "path", "window id", {"type": "integer"})],
          responses={"400": "bad classes or note", "404": "no such window"},
          request_body={"required": True, "content": {"application/json": {"schema": {
              "type": "object", "required": ["classes"], "properties": {
                  "classes": {"type": "array", "items": {"type": "string"}}, "note": {"type": "string"}}}}}})
def label_window(window_id: int) -> Any:
    body = _json_body()
    return jsonify(review.set_label(window_id, body.get("classes"), body.get("note"), current_user_id(), "api"))
