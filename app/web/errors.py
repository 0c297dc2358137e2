"""One type for input a request cannot be served with, and the one place it becomes an answer.

An `InputError` carries its HTTP status (400 unless said otherwise: 404 for an unknown id, 409 for
a state that forbids it).  The core's own refusals of input (a class edit, an audio clip, a
registry rule) are mapped to their status here, so no route translates them itself.  The API
answers `{"error": ...}` (`api_error`, on the API blueprint); a page that does not handle the error
itself shows it on the error page (`page_error`, app-wide).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template

from oceanwatch.audio.uploads import ClipError
from oceanwatch.registry.store import RegistryError
from oceanwatch.sites.spec import SiteError, UnknownSite
from oceanwatch.truth.classmap import ClassEditError


class InputError(ValueError):
    """Input that cannot be used; `status` is the HTTP answer (400 bad input, 404 unknown, 409 conflict)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    def as_json(self) -> dict[str, Any]:
        return {"error": str(self)}


CORE_INPUT_ERRORS: dict[type[Exception], int] = {
    ClassEditError: 400,
    ClipError: 400,
    RegistryError: 409,
    UnknownSite: 404,  # before its base class: the first match answers
    SiteError: 400,
}
"""The core's refusals of what a request asked for, and the status each is answered with."""

HANDLED = (InputError, *CORE_INPUT_ERRORS)


def status_of(exc: Exception) -> int:
    if isinstance(exc, InputError):
        return exc.status
    return next(status for kind, status in CORE_INPUT_ERRORS.items() if isinstance(exc, kind))


def api_error(exc: Exception) -> tuple[Response, int]:
    """The JSON answer of an input error: `{"error": reason}` (and whatever else the error adds)."""
    body = exc.as_json() if isinstance(exc, InputError) else {"error": str(exc)}
    return jsonify(body), status_of(exc)


def page_error(exc: Exception) -> tuple[str, int]:
    """The HTML answer of an input error no page handled itself."""
    return render_template("error.html", title="Cannot do that", message=str(exc)), status_of(exc)


def init_app(app: Flask) -> None:
    for kind in HANDLED:
        app.register_error_handler(kind, page_error)
