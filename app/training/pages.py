"""The training page: start a training or fine-tuning job and watch its loss and accuracy curves live."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from app.jobs.actions import list_jobs
from app.models.actions import list_models
from app.web.auth import current_user_id, requires_role
from app.web.extensions import db
from oceanwatch.jobs import JobKind
from oceanwatch.training.trainjob import SOURCES, enqueue_training

bp = Blueprint("training", __name__, url_prefix="/training")


def form_params(form: Any) -> dict[str, Any]:
    """The job parameters a submitted form asks for (validated by enqueue_training)."""
    params: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "labels": form.get("labels", "both"),
        "radius_km": int(form.get("radius_km") or 20),
        "epochs": int(form.get("epochs") or 5),
    }
    if form.get("base_model_id"):
        params["base_model_id"] = int(form["base_model_id"])
    for key in ("start", "end"):
        if form.get(key):
            params[key] = form[key]
    return params


@bp.get("/")
@requires_role("viewer")
def index() -> Any:
    return render_template(
        "training/training.html", jobs=list_jobs(JobKind.TRAIN), models=list_models(), sources=SOURCES
    )


@bp.post("/")
@requires_role("operator")
def start() -> Any:
    try:
        job_id = enqueue_training(db.session, form_params(request.form), current_user_id())
        db.session.commit()
    except ValueError as exc:
        flash(f"Not started: {exc}")
        return redirect(url_for("training.index")), 303
    flash(f"Training job {job_id} queued; the predict stream's training thread runs it.")
    return redirect(url_for("training.index")), 303
