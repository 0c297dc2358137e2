"""The model management page: versions with health and state, upload with validation, actions, backfills, audit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from app.jobs.actions import queue_backfill
from app.models import actions
from app.models.actions import UploadError
from app.web.auth import current_user_id, requires_role
from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch.registry.store import RegistryError
from oceanwatch.sites.store import list_sites

bp = Blueprint("models", __name__, url_prefix="/models")


def _render(status: int = 200, problems: list[str] | None = None) -> Any:
    return render_template(
        "models/models.html",
        models=actions.list_models(),
        sites=list_sites(db.session),
        audit=actions.audit_trail(),
        problems=problems or [],
    ), status


@bp.get("/")
@requires_role("viewer")
def index() -> Any:
    return _render()


@bp.post("/upload")
@requires_role("operator")
def upload() -> Any:
    try:
        model_id = actions.upload(request.files.to_dict(), current_user_id())
    except UploadError as exc:
        return _render(400, exc.problems)
    flash(f"Validated and registered model {model_id}. Deploy it below when ready.")
    return redirect(url_for("models.index"), 303)


@bp.post("/backfill")
@requires_role("operator")
def backfill() -> Any:
    form = request.form
    body = {name: form.get(name) for name in ("model_id", "start", "end")}
    if form.get("site"):
        body["sites"] = [form["site"]]
    try:
        job = queue_backfill(body, current_user_id())
    except InputError as exc:
        flash(f"Backfill not queued: {exc}", "error")
        return redirect(url_for("models.index"), 303)
    flash(f"Backfill queued as job {job['id']}.")
    return redirect(url_for("models.index"), 303)


@bp.post("/<int:model_id>/<action>")
@requires_role("operator")
def act(model_id: int, action: str) -> Any:
    try:
        active = actions.apply(model_id, action, current_user_id())
    except RegistryError as exc:
        flash(str(exc), "error")
        return redirect(url_for("models.index"), 303)
    flash(f"{action}: done (model {active}).")
    return redirect(url_for("models.index"), 303)
