"""The review page: the queue of windows worth a look, and one window with everything needed to
label it (spectrogram, audio, AIS context, every model's output)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from app.review import actions
from app.web.auth import current_user_id, requires_role
from app.web.errors import InputError
from app.web.spectrogram_image import data_uri

bp = Blueprint("review", __name__, url_prefix="/review")


def _back() -> str:
    """The queue page the reviewer came from (same filters), only ever a path under /review/."""
    target = request.values.get("back", "")
    return target if target.startswith("/review/") and "//" not in target else url_for("review.index")


def _to_window(window_id: int) -> Any:
    return redirect(url_for("review.window", window_id=window_id, back=_back()), 303)


@bp.get("/")
@requires_role("operator")
def index() -> Any:
    error, rows, query = None, [], None
    try:
        query = actions.queue_query()
        rows = actions.queue(query)
    except InputError as exc:
        error = str(exc)
    outputs = actions.predictions_of([r["window_id"] for r in rows])
    return render_template(
        "review/review.html", rows=rows, outputs=outputs, query=query, error=error, strategies=actions.STRATEGIES
    ), 400 if error else 200


@bp.get("/<int:window_id>")
@requires_role("operator")
def window(window_id: int) -> Any:
    try:
        context = actions.window_context(window_id, current_user_id())
    except InputError:
        abort(404)
    image = data_uri(context["spectrogram"]) if context["spectrogram"] is not None else None
    return render_template("review/window.html", c=context, image=image, classes=actions.label_classes(), back=_back())


@bp.post("/<int:window_id>/label")
@requires_role("operator")
def label(window_id: int) -> Any:
    try:
        saved = actions.set_label(
            window_id, request.form.getlist("classes"), request.form.get("note", ""), current_user_id(), "review page"
        )
        flash(f"Window {window_id} labelled {', '.join(saved['classes'])}.")
    except InputError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    return _to_window(window_id)


@bp.post("/predictions/<int:prediction_id>/feedback")
@requires_role("operator")
def feedback(prediction_id: int) -> Any:
    window_id = request.form.get("window_id", type=int)
    try:
        saved = actions.give_feedback(
            prediction_id, request.form.get("verdict"), request.form.getlist("classes"), int(current_user_id())
        )
        window_id = saved["window_id"]
        flash(f"Feedback on prediction {prediction_id}: {saved['verdict']}.")
    except InputError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    return _to_window(window_id) if window_id else redirect(_back(), 303)
