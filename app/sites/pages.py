"""The Sites page: every hydrophone with its position, sensor and audio source; operators add,
edit, activate and deactivate sites here (the same checks and audit as the API)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from app.web.auth import current_user_id, requires_role
from app.web.extensions import db
from app.web.forms import submit
from oceanwatch.sites import store
from oceanwatch.sites.spec import SiteError, site_source

bp = Blueprint("sites", __name__, url_prefix="/sites")
OPTIONAL_NUMBERS = ("depth_m", "sample_rate", "sensitivity_db")
DIRECTORY_FIELDS = ("path", "pattern", "time_format", "align", "quarantine_dir", "archive_dir")


@bp.get("/")
@requires_role("viewer")
def index() -> Any:
    settings = current_app.config["OCEANWATCH_SETTINGS"]
    sites = store.list_sites(db.session)
    sources = {s.id: site_source(s.source, settings) for s in sites}
    return render_template("sites/sites.html", sites=sites, sources=sources)


@bp.get("/<site_id>")
@requires_role("operator")
def edit(site_id: str) -> Any:
    return render_template("sites/edit.html", site=store.get_site(db.session, site_id))


@bp.post("/")
@requires_role("operator")
def create() -> Any:
    site_id = request.form.get("id", "").strip()
    submit(
        lambda: store.create_site(db.session, site_id, form_fields(request.form), current_user_id()),
        f"Added site {site_id}; ingest serves it within a refresh if it is active.",
        (SiteError,),
    )
    return redirect(url_for("sites.index"), 303)


@bp.post("/<site_id>")
@requires_role("operator")
def update(site_id: str) -> Any:
    saved = submit(
        lambda: store.update_site(db.session, site_id, form_fields(request.form), current_user_id()),
        f"Saved site {site_id}.",
        (SiteError,),
    )
    if not saved:
        return redirect(url_for("sites.edit", site_id=site_id), 303)
    return redirect(url_for("sites.index"), 303)


@bp.post("/<site_id>/active")
@requires_role("operator")
def change_active(site_id: str) -> Any:
    active = request.form.get("active") == "1"
    submit(
        lambda: store.update_site(db.session, site_id, {"active": active}, current_user_id()),
        f"{'Activated' if active else 'Deactivated'} site {site_id}.",
        (SiteError,),
    )
    return redirect(url_for("sites.index"), 303)


def form_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    """The site form as `oceanwatch.sites.spec.parse_fields` takes it: blanks are unset numbers, the
    source kind picks the source (`settings` = none of its own)."""
    fields: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "latitude": form.get("latitude", ""),
        "longitude": form.get("longitude", ""),
        "channels": form.get("channels", "") or 1,
        "description": form.get("description", ""),
    }
    if "active" in form:  # absent from the edit form: the site stays as active as it was
        fields["active"] = form["active"] == "1"
    for name in OPTIONAL_NUMBERS:
        fields[name] = form.get(name, "").strip() or None
    kind = form.get("source_kind", "settings")
    if kind == "settings":
        fields["source"] = None
    elif kind == "directory":
        given = {name: form.get(name, "").strip() for name in DIRECTORY_FIELDS}
        fields["source"] = {"kind": "directory", **{k: v for k, v in given.items() if v or k == "path"}}
    else:
        fields["source"] = {"kind": kind}
    return fields
