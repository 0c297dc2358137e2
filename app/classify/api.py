"""/api/v1/predict: classify an uploaded clip, as the "Classify a clip" page does.

An unusable clip (`ClipError`, 400) or model choice (`ModelChoiceError`, 404/409) is answered by
the API's one input-error handler.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from app.api.args import parse_integer
from app.api.routes import Routes, multipart_body, param
from app.classify import classifier
from app.web.auth import current_user_id
from app.web.errors import InputError

routes = Routes()
TRUE = {"1", "true", "yes", "on"}


def _arg(name: str) -> str | None:
    return request.args.get(name) or request.form.get(name)


@routes.route(
    "/predict",
    "POST",
    "operator",
    "Classify an uploaded WAV/FLAC clip with every active model (or one)",
    parameters=[
        param("model_id", "query", "only this model (any state)", {"type": "integer"}),
        param("model", "query", "only this model name (its active version, else its newest)", {"type": "string"}),
        param("keep", "query", "store the clip and its results (uploads table)", {"type": "boolean"}),
    ],
    responses={
        "400": "not a usable WAV/FLAC clip, or too little real audio for the model's window "
        "(CLASSIFY_MIN_AUDIO_SHARE; the reason is given)",
        "404": "no such model",
        "409": "no active model",
        "413": "larger than MAX_UPLOAD_MB",
    },
    request_body=multipart_body(
        {
            "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary", "description": "WAV or FLAC clip"}},
        }
    ),
)
def predict() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InputError("send the clip as the multipart field 'file'")
    raw_id = _arg("model_id")
    model_id = parse_integer("model_id", raw_id) if raw_id else None
    _clip, result = classifier.run(
        upload.read(), upload.filename, model_id, _arg("model"), (_arg("keep") or "").lower() in TRUE, current_user_id()
    )
    return jsonify(result)
