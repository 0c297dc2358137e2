"""`/metrics`: the platform's Prometheus metrics, computed from Postgres and the broker at each scrape.

Nothing is kept in the web process, so every gunicorn worker answers the same figures
(see `oceanwatch.runtime.prometheus`).  Viewers and up only: Prometheus scrapes with an API token
(`authorization: {credentials: <token>}` in its scrape config).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from app.web.auth import requires_role
from app.web.extensions import db
from oceanwatch.config import Settings
from oceanwatch.runtime.heartbeat import stale_after_s
from oceanwatch.runtime.prometheus import render

bp = Blueprint("prometheus", __name__)


@bp.get("/metrics")
@requires_role("viewer")
def metrics() -> Response:
    settings: Settings = current_app.config["OCEANWATCH_SETTINGS"]
    body = render(
        db.engine, current_app.config["KAFKA_BOOTSTRAP_SERVERS"], stale_after_s(settings.heartbeat_interval_s)
    )
    return Response(body, content_type=CONTENT_TYPE_LATEST)
