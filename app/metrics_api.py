"""/api/v1/metrics: a model's scores against truth, and same-window comparison of several models.

Declared with `app.api.endpoint`, so the OpenAPI document lists them with the other routes.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from app import metrics_actions
from app.api import _param, endpoint

SELECTION_PARAMS = [
    _param("radius_km", "query", "truth radius (one of TRUTH_RADII_KM; default the first)", {"type": "integer"}),
    _param("start", "query", "ISO 8601 start of the window start times (default: all history)",
           {"type": "string", "format": "date-time"}),
    _param("end", "query", "ISO 8601 end, exclusive; a bare date includes that day (default: no end)",
           {"type": "string", "format": "date-time"}),
    _param("preset", "query", "instead of start/end: the last 7 or 30 days, or all",
           {"type": "string", "enum": list(metrics_actions.PRESETS)}),
]


def _selection() -> metrics_actions.Selection:
    return metrics_actions.parse(request.args, request.args.getlist("model_id"))


@endpoint("/metrics", "GET", "viewer",
          "A model's report (accuracy, per-class P/R/F1, confusion), trend, calibration/ECE and uncertainty AUROCs",
          parameters=[_param("model_id", "query", "model id", {"type": "integer"}, required=True),
                      *SELECTION_PARAMS,
                      _param("bucket", "query", "trend bucket", {"type": "string", "enum": ["day", "week"]})],
          responses={"400": "bad parameter or unknown model"})
def metrics() -> Any:
    try:
        selection = _selection()
    except metrics_actions.MetricsInputError as exc:
        return jsonify(error=str(exc)), 400
    if len(selection.model_ids) != 1:
        return jsonify(error="model_id: exactly one model (use /metrics/compare for several)"), 400
    return jsonify(selection=metrics_actions.selection_dict(selection),
                   **metrics_actions.metrics(selection)[0])


@endpoint("/metrics/compare", "GET", "viewer", "Several models' reports on the windows all of them predicted",
          parameters=[_param("model_id", "query", "model id, repeated for each model", {
              "type": "array", "items": {"type": "integer"}}, required=True), *SELECTION_PARAMS],
          responses={"400": "bad parameter or unknown model",
                     "422": "the comparison over this range takes too long; choose a shorter one"})
def metrics_compare() -> Any:
    try:
        selection = _selection()
        models = metrics_actions.comparison(selection)
    except metrics_actions.MetricsInputError as exc:
        return jsonify(error=str(exc)), 400
    except metrics_actions.ComparisonTooSlow as exc:
        return jsonify(error=str(exc)), 422
    return jsonify(selection=metrics_actions.selection_dict(selection), models=models)
