"""Per-route request size limits, and 413 answers that say what the limit is.

The app-wide MAX_CONTENT_LENGTH fits model packages (512 MiB); audio clips have their own,
smaller limit (MAX_UPLOAD_MB).  It must be set before anything reads the body, and CSRF
checks read the form in a `before_request` hook, so it is set in a URL value preprocessor,
which Flask runs before every `before_request` function.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

CLIP_ENDPOINTS = {"api.predict", "classify.submit"}


def _clip_limit_bytes(app: Flask) -> int:
    return int(app.config["OCEANWATCH_SETTINGS"].classify.max_upload_mb * 1024 * 1024)


def init_app(app: Flask) -> None:
    @app.url_value_preprocessor
    def _limit_clip_uploads(endpoint: str | None, _values: dict[str, Any] | None) -> None:
        if endpoint in CLIP_ENDPOINTS:
            request.max_content_length = _clip_limit_bytes(app)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_exc: RequestEntityTooLarge) -> Any:
        limit = request.max_content_length or 0
        message = f"the upload is larger than the {limit / 1024 / 1024:.3g} MB limit"
        if request.path.startswith("/api/"):
            return jsonify(error=message, limit_bytes=limit), 413
        return render_template("error.html", title="Upload too large", message=message), 413
