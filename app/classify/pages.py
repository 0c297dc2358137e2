"""The "Classify a clip" page: upload a WAV/FLAC clip, see its spectrogram and every model's answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from app.classify import classifier
from app.models.actions import list_models
from app.web.auth import current_user_id, requires_role
from app.web.spectrogram_image import data_uri
from oceanwatch.audio.uploads import ClipError

bp = Blueprint("classify", __name__, url_prefix="/classify")


@bp.get("/")
@requires_role("operator")
def page() -> Any:
    return render_template("classify/classify.html", models=list_models(), result=None, error=None)


@bp.post("/")
@requires_role("operator")
def submit() -> Any:
    upload = request.files.get("file")
    raw_id = request.form.get("model_id") or None
    error, result, image = None, None, None
    try:
        if upload is None or not upload.filename:
            raise ClipError("choose a WAV or FLAC file first")
        clip, result = classifier.run(
            upload.read(),
            upload.filename,
            int(raw_id) if raw_id else None,
            None,
            request.form.get("keep") == "on",
            current_user_id(),
        )
        image = data_uri(classifier.clip_spectrogram(clip))
    except ValueError as exc:  # ClipError, an InputError (ModelChoiceError) or a model_id that is no number
        error = str(exc)
    return render_template(
        "classify/classify.html", models=list_models(), result=result, image=image, error=error
    ), 400 if error else 200
