"""Liveness (`/healthz`), readiness (`/readyz`) and the status page: are Postgres and the broker up?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from flask_login import current_user

from oceanwatch.health import Check, check_broker, check_database

bp = Blueprint("health", __name__)


def _checks() -> list[Check]:
    database_url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    bootstrap = current_app.config["KAFKA_BOOTSTRAP_SERVERS"]
    return [check_database(database_url), check_broker(bootstrap)]


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. Dependencies are readiness's business."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Readiness: 200 only when the database and the broker both answer."""
    checks = _checks()
    ready = all(c.ok for c in checks)
    body = {"status": "ready" if ready else "unavailable", "checks": {c.name: c.as_dict() for c in checks}}
    return jsonify(body), 200 if ready else 503


@bp.get("/status")
def status():
    """A human-readable page of the same checks."""
    checks = _checks()
    return render_template("status.html", checks=checks, ready=all(c.ok for c in checks)), 200


@bp.get("/")
def index():
    """Signed-in users land on the live page; anyone else sees the status page (and its login link)."""
    return redirect(url_for("live.page" if current_user.is_authenticated else "health.status"))
