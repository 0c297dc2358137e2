"""The data management page: ship classes, the AIS-type mapping, per-vessel overrides, vessel
statistics per type, relabelling with a preview, and the recordings ingested (or not, and why).

Every edit form posts to `preview` first, which counts the labels the edit would change without
keeping anything; the confirm form it shows posts the same fields to `apply`, which makes the
edit (audited by `oceanwatch.truth.classmap`) and queues the relabel job shown in the jobs list.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.data import actions
from app.jobs import actions as jobs
from app.web.auth import current_user_id, requires_role
from app.web.errors import InputError
from oceanwatch.truth.classmap import ClassEditError

bp = Blueprint("data", __name__, url_prefix="/data")


def _render(status: int = 200, **extra: Any) -> Any:
    return render_template(
        "data/data.html",
        classes=actions.classes(),
        mappings=actions.mappings(),
        overrides=actions.overrides(),
        stats=actions.vessel_stats(),
        jobs=jobs.list_jobs(),
        audio_files=actions.audio_files(),
        storage=actions.storage(),
        **extra,
    ), status


def _edit() -> actions.ClassEdit:
    """The form's edit, refused with 403 when the user's role is below the action's."""
    edit = actions.parse_edit(request.form)
    if not current_user.can(edit.role):
        abort(403)
    return edit


@bp.get("/")
@requires_role("viewer")
def index() -> Any:
    return _render()


@bp.post("/preview")
@requires_role("operator")
def preview() -> Any:
    try:
        edit = _edit()
        counted = actions.preview(edit, current_user_id())
    except (InputError, ClassEditError) as exc:
        return _render(400, error=str(exc))
    return _render(preview=counted, confirm_fields=edit.as_form())


@bp.post("/apply")
@requires_role("operator")
def apply() -> Any:
    try:
        done = actions.apply(_edit(), current_user_id())
    except (InputError, ClassEditError) as exc:
        return _render(400, error=str(exc))
    if done["job_id"] is not None:
        flash(f"Saved: {done['edit']}. Relabel job {done['job_id']} queued.")
    else:
        flash(f"Saved: {done['edit']}. No label depends on it, so nothing to relabel.")
    return redirect(url_for("data.index") + "#jobs", 303)


@bp.post("/jobs/<int:job_id>/cancel")
@requires_role("operator")
def cancel(job_id: int) -> Any:
    if jobs.cancel_job(job_id, current_user_id()):
        flash(f"Asked job {job_id} to stop.")
    else:
        flash(f"Job {job_id} has already finished.", "error")
    return redirect(url_for("data.index") + "#jobs", 303)
