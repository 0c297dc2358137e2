"""/api/v1/metrics: a model's scores against truth, and same-window comparison of several models.

An unusable selection is an `InputError` (400), answered by the API's one input-error handler.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from app.api.routes import SITE, Routes, param
from app.scores import actions
from app.web.errors import InputError

routes = Routes()

SELECTION_PARAMS = [
    param("radius_km", "query", "truth radius (one of TRUTH_RADII_KM; default the first)", {"type": "integer"}),
    param(
        "start",
        "query",
        "ISO 8601 start of the window start times (default: all history)",
        {"type": "string", "format": "date-time"},
    ),
    param(
        "end",
        "query",
        "ISO 8601 end, exclusive; a bare date includes that day (default: no end)",
        {"type": "string", "format": "date-time"},
    ),
    SITE,
    param(
        "preset",
        "query",
        "instead of start/end: the last 7 or 30 days, or all",
        {"type": "string", "enum": list(actions.PRESETS)},
    ),
]


def _selection() -> actions.Selection:
    return actions.parse(request.args, request.args.getlist("model_id"))


@routes.route(
    "/metrics",
    "GET",
    "viewer",
    "A model's report (accuracy, per-class P/R/F1, confusion), trend, calibration/ECE, uncertainty AUROCs "
    "and per-site headline scores",
    parameters=[
        param("model_id", "query", "model id", {"type": "integer"}, required=True),
        *SELECTION_PARAMS,
        param("bucket", "query", "trend bucket", {"type": "string", "enum": ["day", "week"]}),
    ],
    responses={"400": "bad parameter or unknown model"},
)
def metrics() -> Any:
    selection = _selection()
    if len(selection.model_ids) != 1:
        raise InputError("model_id: exactly one model (use /metrics/compare for several)")
    results = actions.metrics(selection)
    return jsonify(
        selection=actions.selection_dict(selection), **results[0], sites=actions.per_site(selection, results)
    )


@routes.route(
    "/metrics/compare",
    "GET",
    "viewer",
    "Several models' reports on the windows all of them predicted",
    parameters=[
        param(
            "model_id",
            "query",
            "model id, repeated for each model",
            {"type": "array", "items": {"type": "integer"}},
            required=True,
        ),
        *SELECTION_PARAMS,
    ],
    responses={
        "400": "bad parameter or unknown model",
        "422": "the comparison over this range takes too long; choose a shorter one",
    },
)
def metrics_compare() -> Any:
    selection = _selection()
    try:
        models = actions.comparison(selection)
    except actions.ComparisonTooSlow as exc:
        return jsonify(error=str(exc)), 422
    return jsonify(selection=actions.selection_dict(selection), models=models)
