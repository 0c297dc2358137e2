"""/api/v1/events: event windows newest first, and their counts per hour."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.api.routes import SITE, TIME_PARAMS, Routes, param
from app.events import actions
from oceanwatch.events.rules import DESCRIPTIONS, EventKind

routes = Routes()

KIND = param(
    "kind",
    "query",
    "; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items()) + " (repeatable; default every kind)",
    {"type": "string", "enum": list(EventKind)},
)


@routes.route(
    "/events",
    "GET",
    "viewer",
    "Windows where active models disagree, contradict AIS truth or are uncertain, newest first",
    parameters=[*TIME_PARAMS, SITE, KIND],
    responses={"400": "bad parameter"},
)
def events() -> Any:
    return jsonify(actions.events_listing())


@routes.route(
    "/events/hourly",
    "GET",
    "viewer",
    "Event counts per site and UTC hour, in total and by kind",
    parameters=[*TIME_PARAMS[:2], SITE],
    responses={"400": "bad parameter"},
)
def hourly() -> Any:
    return jsonify(actions.hourly_listing())
