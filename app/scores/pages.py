"""The scores page (/scores): models' scores against AIS truth, with plots embedded as static Bokeh components.

Its blueprint is `scores`; `/metrics` is Prometheus's (`app.web.prometheus`).
"""

from __future__ import annotations

from typing import Any

from bokeh.document import Document
from bokeh.embed import components
from flask import Blueprint, render_template, request

from app.models.actions import list_models
from app.scores import actions
from app.web import bokeh_assets
from app.web.auth import requires_role
from app.web.errors import InputError
from app.web.extensions import db
from app.web.security_headers import BOKEH_CUSTOM_JS, bokeh_embed
from oceanwatch.db.models import ModelStatus
from oceanwatch.scoring.plots import confusion_figure, reliability_figure, trend_figure
from oceanwatch.sites.store import list_sites

bp = Blueprint("scores", __name__, url_prefix="/scores")


def _default_model_ids(models: list[Any]) -> list[str]:
    """Active models first; else the newest model."""
    active = [str(m.id) for m in models if m.status == ModelStatus.ACTIVE]
    return active or ([str(max(m.id for m in models))] if models else [])


def _plots(
    selection: actions.Selection, results: list[dict[str, Any]], labels: dict[int, str], highlight: str | None
) -> tuple[str, dict[str, str]]:
    """Script and divs of the page's three plots: trend, reliability, and every multi-class model's confusion matrix.

    The roots go into one Document at once: `components` adds them one by one otherwise, and each
    addition walks every model of the roots added before.
    """
    figures = {
        "trend": trend_figure({labels[r["model_id"]]: r["trend"] for r in results}, selection.bucket),
        "reliability": reliability_figure({labels[r["model_id"]]: r["calibration"] for r in results}),
    }
    matrices = {
        labels[r["model_id"]]: (r["report"]["classes"], r["report"]["confusion"])
        for r in results
        if r["report"]["task"] == "multi_class"
    }
    if matrices:
        figures["confusion"] = confusion_figure(matrices, highlight=highlight)
    doc = Document()
    with doc.models.freeze():
        for root in figures.values():
            doc.add_root(root)
    script, divs = components(figures)
    return bokeh_embed(script, allow=BOKEH_CUSTOM_JS), divs  # the confusion matrix's model select


@bp.get("/")
@requires_role("viewer")
def page() -> Any:
    models = list_models()
    labels = {m.id: actions.label(m) for m in models}
    chosen = request.args.getlist("model_id") or _default_model_ids(models)
    context: dict[str, Any] = {
        "models": models,
        "labels": labels,
        "radii": actions.radii(),
        "presets": list(actions.PRESETS),
        "args": request.args,
        "chosen": chosen,
        "class_code": request.args.get("class_code", ""),
        "bokeh_js": bokeh_assets.script_urls(),
        "sites": [site.id for site in list_sites(db.session)],
    }
    if not chosen:
        return render_template("scores/scores.html", **context)
    try:
        selection = actions.parse(request.args, chosen, preset_default=actions.DEFAULT_PRESET)
    except InputError as exc:
        return render_template("scores/scores.html", error=str(exc), **context), 400
    results = actions.metrics(selection)
    comparison, comparison_error = None, None
    if len(selection.model_ids) > 1:
        try:
            comparison = actions.comparison(selection)
        except actions.ComparisonTooSlow as exc:
            comparison_error = str(exc)
    script, divs = _plots(selection, results, labels, context["class_code"] or None)
    return render_template(
        "scores/scores.html",
        selection=selection,
        results=results,
        comparison=comparison,
        comparison_error=comparison_error,
        per_site=actions.per_site(selection, results),
        plot_script=script,
        plot_divs=divs,
        **context,
    )
