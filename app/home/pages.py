"""The home page a signed-in user lands on (`/` sends them here)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from app.home.overview import site_overviews
from app.web.auth import requires_role
from app.web.extensions import db
from app.web.health import beat_age
from oceanwatch.events.query import EventRules
from oceanwatch.events.rules import DESCRIPTIONS
from oceanwatch.registry.active import active_models

bp = Blueprint("home", __name__, url_prefix="/home")


@bp.get("/")
@requires_role("viewer")
def page() -> Any:
    rules = EventRules.from_settings(current_app.config["OCEANWATCH_SETTINGS"])
    return render_template(
        "home/home.html",
        sites=site_overviews(db.session, rules),
        active_models=[m.label for m in active_models(db.session)],
        kinds=DESCRIPTIONS,
        rules=rules,
        beat_age=beat_age,
    )
