"""Liveness (`/healthz`), readiness (`/readyz`) and the status page: are Postgres and the broker up,
is every service still sending its heartbeat, and (signed in) is every hydrophone delivering windows?

Anyone may ask (probes and the login page's visitors are anonymous), but anonymous callers learn
up or down only: versions, schema revision, broker address, error text and latencies help an
attacker more than a load balancer, so they are for signed-in users.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, url_for
from flask_login import current_user

from app.web.extensions import db
from oceanwatch.runtime.health import Check, check_broker, check_database
from oceanwatch.runtime.heartbeat import ServiceState, service_states, stale_after_s
from oceanwatch.sites.activity import SILENT_AFTER_S, site_activity

bp = Blueprint("health", __name__)


def _detailed() -> bool:
    """Whether this caller may see the checks' details (any signed-in user, viewer and up)."""
    return bool(current_user.is_authenticated and current_user.can("viewer"))


def _checks() -> list[Check]:
    return [check_database(db.engine), check_broker(current_app.config["KAFKA_BOOTSTRAP_SERVERS"])]


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process answers. Dependencies are readiness's business."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness: 200 only when the database and the broker both answer; each check's details signed in only."""
    checks = _checks()
    ready = all(c.ok for c in checks)
    body: dict[str, object] = {"ready": ready, "checks": {c.name: "up" if c.ok else "down" for c in checks}}
    if _detailed():
        body["details"] = {c.name: c.as_dict() for c in checks}
    return jsonify(body), 200 if ready else 503


def _services(database: Check) -> list[ServiceState] | None:
    """Every service that ever beat, up or down; None when the database (which holds the beats) is down."""
    if not database.ok:
        return None
    interval_s = current_app.config["OCEANWATCH_SETTINGS"].heartbeat_interval_s
    return service_states(db.session, stale_after_s(interval_s))


def beat_age(seconds: float) -> str:
    """A heartbeat's age the way a person reads it: 4 s, 12 min, 3 h, 2 d."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


@bp.get("/status")
def status() -> Any:
    """A human-readable page of the same checks, and each service's heartbeat: up or down for anyone;
    details, latency, age of the last beat and live instances, and each site's deliveries, for signed-in users."""
    checks = _checks()
    database = next(c for c in checks if c.name == "database")
    return render_template(
        "web/status.html",
        checks=checks,
        ready=all(c.ok for c in checks),
        services=_services(database),
        sites=site_activity(db.session) if database.ok and _detailed() else None,
        silent_after=beat_age(SILENT_AFTER_S),
        beat_age=beat_age,
        detailed=_detailed(),
    ), 200


@bp.get("/")
def index() -> Any:
    """Signed-in users land on the home page; anyone else sees the status page (and its login link)."""
    return redirect(url_for("home.page" if current_user.is_authenticated else "health.status"))
