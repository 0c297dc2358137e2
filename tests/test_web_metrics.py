"""The metrics page and /api/v1/metrics: the numbers are oceanwatch.scoring.scores's, the plots render, input is checked."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from bokeh.models import ColumnDataSource, CustomJS, Scatter, Select
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from app import create_app
from oceanwatch.config import Settings
from oceanwatch.db import engine_for
from oceanwatch.scoring.plots import TREND_METRICS, confusion_figure, reliability_figure, trend_figure
from oceanwatch.scoring.reports import (
    Scope,
    calibration,
    compare,
    report,
    reports,
    site_reports,
    trend,
    uncertainty_auroc,
)
from oceanwatch.scoring.rollup import UNCERTAINTY_COLUMNS
from tests.metrickit import scored_world
from tests.modelkit import registered_model
from tests.webkit import logged_in, make_token, make_user

pytestmark = pytest.mark.integration


@pytest.fixture
def app(settings: Settings):
    return create_app(settings=settings)


@pytest.fixture
def api(app, settings: Settings):
    token = make_token(settings, make_user(settings, "reader", "viewer"))
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def _expected(settings: Settings, scope: Scope, bucket: str) -> dict:
    """What oceanwatch.scoring.scores says for the scope, as JSON would carry it."""
    with engine_for(settings.database_url).connect() as conn:
        return {
            "report": report(conn, scope),
            "trend": trend(conn, scope, bucket),
            "calibration": calibration(conn, scope, 10),
            "auroc": {m: uncertainty_auroc(conn, scope, m) for m in UNCERTAINTY_COLUMNS},
        }


def _sources(node: Any) -> Iterator[dict[str, list]]:
    """The data of every ColumnDataSource in the JSON of an embedded Bokeh document."""
    if isinstance(node, dict):
        if node.get("name") == "ColumnDataSource":
            yield dict(node["attributes"]["data"]["entries"])
        for value in node.values():
            yield from _sources(value)
    elif isinstance(node, list):
        for value in node:
            yield from _sources(value)


def _embedded_confusion(page_html: str) -> dict[str, dict[tuple[str, str], int]]:
    """Per model label, the count of each (truth, predicted) cell of the page's confusion matrix source."""
    docs = json.loads(html_lib.unescape(re.search(r"const docs_json = '(.*?)';", page_html).group(1)))
    cells = next(data for data in _sources(docs) if "truth" in data)
    out: dict[str, dict[tuple[str, str], int]] = {}
    for model, truth, predicted, count in zip(cells["model"], cells["truth"], cells["predicted"], cells["count"]):
        out.setdefault(model, {})[truth, predicted] = count
    return out


def _cells(classes: list[str], matrix: list[list[int]]) -> dict[tuple[str, str], int]:
    return {(t, p): matrix[i][j] for i, t in enumerate(classes) for j, p in enumerate(classes)}


def test_metrics_api_returns_the_scoring_numbers(api, settings: Settings) -> None:
    client, auth = api
    ids = scored_world(settings)
    end = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    start = end - dt.timedelta(days=6)
    got = client.get(
        "/api/v1/metrics",
        headers=auth,
        query_string={
            "model_id": ids["alpha"],
            "radius_km": 30,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "bucket": "day",
        },
    )
    assert got.status_code == 200, got.json
    expected = _expected(settings, Scope(ids["alpha"], 30, start, end), "day")
    body = got.json
    assert body["report"] == expected["report"] and body["report"]["n"] > 20
    assert body["trend"] == expected["trend"] and len(body["trend"]) >= 6
    assert body["calibration"] == expected["calibration"]
    assert body["auroc"] == expected["auroc"] and set(body["auroc"]) == set(UNCERTAINTY_COLUMNS)
    assert body["selection"]["radius_km"] == 30

    everything = client.get(
        "/api/v1/metrics", headers=auth, query_string={"model_id": ids["alpha"], "bucket": "week"}
    ).json
    whole = _expected(settings, Scope(ids["alpha"], 20), "week")
    assert everything["report"] == whole["report"] and everything["trend"] == whole["trend"]
    assert everything["report"]["n"] > body["report"]["n"]  # no range: all history, first radius


def test_every_sites_scores_from_one_grouped_query_equal_each_sites_own_report(settings: Settings) -> None:
    """site_reports (one query grouped by site) gives each site the report its own scope gives, from the
    daily rollup (whole days) and from the raw rows (a range cut inside a day) alike."""
    ids = scored_world(settings, n=90, more_sites=("MOSS", "SCRUZ"))
    sites = [settings.hydrophone.id, "MOSS", "SCRUZ"]
    cut = dt.datetime.now(dt.timezone.utc).replace(hour=6, minute=30) - dt.timedelta(days=8)
    with engine_for(settings.database_url).connect() as conn:
        for start in (None, cut):
            scopes = [Scope(m, 20, start=start) for m in ids.values()]
            grouped = site_reports(conn, scopes)
            assert sorted(grouped) == sorted(sites)
            for site in sites:
                own = reports(conn, [replace(scope, hydrophone_id=site) for scope in scopes])
                assert grouped[site] == own, (site, start)


def test_scores_filter_by_site_and_break_down_per_site(api, app, settings: Settings) -> None:
    client, auth = api
    ids = scored_world(settings, n=90, more_sites=("MOSS", "SCRUZ"))
    alpha, beta = ids["alpha"], ids["beta"]
    whole = client.get("/api/v1/metrics", headers=auth, query_string={"model_id": alpha}).json
    rows = {r["site"]: r for r in whole["sites"]}
    assert set(rows) == {settings.hydrophone.id, "MOSS", "SCRUZ"}
    assert sum(r["n"] for r in rows.values()) == whole["report"]["n"], "the sites' windows add up to all windows"
    moss = client.get("/api/v1/metrics", headers=auth, query_string={"model_id": alpha, "site": "MOSS"}).json
    assert moss["selection"]["site"] == "MOSS" and [r["site"] for r in moss["sites"]] == ["MOSS"]
    expected = _expected(settings, Scope(alpha, 20, hydrophone_id="MOSS"), "day")
    assert moss["report"] == expected["report"] and moss["report"]["n"] == rows["MOSS"]["n"]
    assert rows["MOSS"]["accuracy"] == expected["report"]["accuracy"]
    assert rows["MOSS"]["macro_f1"] == expected["report"]["f1"]["macro"]
    with engine_for(settings.database_url).connect() as conn:
        same_windows = compare(conn, [alpha, beta], 20, hydrophone_id="SCRUZ")
    compared = client.get(
        "/api/v1/metrics/compare", headers=auth, query_string={"model_id": [alpha, beta], "site": "SCRUZ"}
    ).json
    assert compared["models"] == {str(k): v for k, v in same_windows.items()}
    unknown = client.get("/api/v1/metrics", headers=auth, query_string={"model_id": alpha, "site": "ATLANTIS"})
    assert unknown.status_code == 400 and unknown.json == {"error": "site: no site 'ATLANTIS'"}

    page = logged_in(app, settings, "viewer").get(
        "/scores/", query_string={"model_id": [alpha, beta], "site": "", "preset": "all"}
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="per-site"' in html and "every site" in html
    for site in (settings.hydrophone.id, "MOSS", "SCRUZ"):
        assert f'id="site-{site}-{alpha}"' in html and f'id="site-{site}-{beta}"' in html
    only = (
        logged_in(app, settings, "viewer", "second")
        .get("/scores/", query_string={"model_id": alpha, "site": "MOSS", "preset": "all"})
        .get_data(as_text=True)
    )
    assert 'value="MOSS" selected' in only and "site MOSS." in only and f'id="site-SCRUZ-{alpha}"' not in only


def test_compare_api_scores_models_on_the_same_windows(api, settings: Settings) -> None:
    client, auth = api
    ids = scored_world(settings)
    got = client.get(
        "/api/v1/metrics/compare",
        headers=auth,
        query_string=[("model_id", ids["alpha"]), ("model_id", ids["beta"]), ("radius_km", 20)],
    )
    assert got.status_code == 200, got.json
    with engine_for(settings.database_url).connect() as conn:
        expected = compare(conn, [ids["alpha"], ids["beta"]], 20)
        alone = report(conn, Scope(ids["alpha"], 20))
    assert got.json["models"] == {str(k): v for k, v in expected.items()}
    assert got.json["models"][str(ids["alpha"])]["n"] == got.json["models"][str(ids["beta"])]["n"] < alone["n"]


def test_a_comparison_too_slow_for_a_page_is_refused_with_a_reason(
    app, api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real Postgres statement timeout cancels it; the page still shows everything else."""
    from app.scores import actions as metrics_actions

    def slow_compare(conn: Connection, *_args: Any) -> dict:
        conn.execute(text("select pg_sleep(5)"))
        raise AssertionError("the statement timeout should have cancelled the sleep")

    ids = scored_world(settings)
    monkeypatch.setattr(metrics_actions, "COMPARISON_TIMEOUT_MS", 200)
    monkeypatch.setattr(metrics_actions.scoring, "compare", slow_compare)
    both = [("model_id", ids["alpha"]), ("model_id", ids["beta"]), ("preset", "all")]
    client, auth = api
    refused = client.get("/api/v1/metrics/compare", headers=auth, query_string=both)
    assert refused.status_code == 422 and "choose a shorter range" in refused.json["error"]

    page = logged_in(app, settings, "viewer").get("/scores/", query_string=both)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="comparison-error"' in html and 'id="comparison"' not in html
    with engine_for(settings.database_url).connect() as conn:
        alpha = report(conn, Scope(ids["alpha"], 20))
    assert f"{alpha['accuracy']:.3f}" in html  # the rest of the page is still there


@pytest.mark.parametrize(
    "query, message",
    [
        ({"radius_km": 25}, "radius_km: one of 20, 30, 40"),
        ({"bucket": "month"}, "bucket"),
        ({"start": "last week"}, "ISO 8601"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "start must be before end"),
        ({"model_id": "999999"}, "no model with id 999999"),
        ({"model_id": "x"}, "model_id: an integer"),
    ],
)
def test_bad_metric_parameters_get_a_clear_400(api, settings: Settings, query: dict, message: str) -> None:
    client, auth = api
    ids = scored_world(settings, n=8)
    response = client.get("/api/v1/metrics", headers=auth, query_string={"model_id": ids["alpha"], **query})
    assert response.status_code == 400 and message in response.json["error"]
    assert client.get("/api/v1/metrics", headers=auth).status_code == 400  # no model at all


def test_metrics_page_shows_tables_plots_and_comparison(app, settings: Settings) -> None:
    ids = scored_world(settings)
    viewer = logged_in(app, settings, "viewer")
    page = viewer.get(
        "/scores/",
        query_string=[
            ("model_id", ids["alpha"]),
            ("model_id", ids["beta"]),
            ("radius_km", 20),
            ("preset", "all"),
            ("bucket", "week"),
            ("class_code", "B"),
        ],
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    with engine_for(settings.database_url).connect() as conn:
        alpha = report(conn, Scope(ids["alpha"], 20))
        both = compare(conn, [ids["alpha"], ids["beta"]], 20)
    assert f"{alpha['accuracy']:.3f}" in html and f"{alpha['per_class']['B']['f1']:.3f}" in html
    assert 'id="comparison"' in html and f"{both[ids['beta']]['f1']['macro']:.3f}" in html
    for name in ("trend", "reliability", "confusion", "confusion-matrix", "confusion-model"):
        assert f'"name":"{name}"' in html  # the figure is in the embedded document
    assert html.count("data-root-id") == 3  # one confusion figure for all models, not one each
    with engine_for(settings.database_url).connect() as conn:
        beta = report(conn, Scope(ids["beta"], 20))
    assert _embedded_confusion(html) == {
        f"alpha v1 (#{ids['alpha']})": _cells(alpha["classes"], alpha["confusion"]),
        f"beta v1 (#{ids['beta']})": _cells(beta["classes"], beta["confusion"]),
    }
    assert "/bokehjs/js/bokeh.min.js?v=" in html and "cdn.bokeh.org" not in html
    script = viewer.get("/bokehjs/js/bokeh.min.js")
    assert script.status_code == 200 and b"Bokeh" in script.data[:5000]

    default = viewer.get("/scores/").get_data(as_text=True)  # active models, last 7 days
    with engine_for(settings.database_url).connect() as conn:
        today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        week = report(conn, Scope(ids["alpha"], 20, today - dt.timedelta(days=7)))  # presets are whole UTC days
    assert f'<td class="num">{week["n"]}</td>' in default and week["n"] < alpha["n"]
    bad = viewer.get("/scores/", query_string={"model_id": ids["alpha"], "radius_km": 7})
    assert bad.status_code == 400 and "radius_km" in bad.get_data(as_text=True)


def test_multi_label_models_get_label_set_scores(app, settings: Settings) -> None:
    from oceanwatch.db import session_scope
    from oceanwatch.db.models import Prediction
    from tests.metrickit import CLASSES

    ids = scored_world(settings, n=30, models=("alpha",))
    gamma = registered_model(settings, "gamma", task="multi_label")
    with session_scope(settings.database_url) as s:
        for k, p in enumerate(s.scalars(select(Prediction).where(Prediction.model_id == ids["alpha"])).all()):
            s.add(
                Prediction(
                    window_id=p.window_id,
                    model_id=gamma,
                    probabilities=p.probabilities,
                    predicted=sorted({p.predicted[0], CLASSES[k % 5]}),
                    confidence=p.confidence,
                    entropy=p.entropy,
                    epistemic=p.epistemic,
                    aleatoric=p.aleatoric,
                )
            )
    viewer = logged_in(app, settings, "viewer")
    got = viewer.get("/api/v1/metrics", query_string={"model_id": gamma})
    with engine_for(settings.database_url).connect() as conn:
        expected = report(conn, Scope(gamma, 20))
    assert got.status_code == 200 and got.json["report"] == expected and expected["task"] == "multi_label"
    page = viewer.get("/scores/", query_string={"model_id": gamma, "preset": "all"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f"{expected['subset_accuracy']:.3f}" in html
    assert f"{expected['micro']['f1']:.3f}" in html and "no confusion matrix" in html


def test_metrics_page_and_bokehjs_need_a_login(app) -> None:
    client = app.test_client()
    assert client.get("/scores/").status_code == 302
    assert client.get("/bokehjs/js/bokeh.min.js").status_code == 302
    assert client.get("/api/v1/metrics?model_id=1").status_code == 401


def test_plot_builders_draw_the_numbers_they_are_given() -> None:
    classes = ["A", "B", "C"]
    matrices = {"m1": (classes, [[5, 1, 0], [2, 7, 1], [0, 0, 4]]), "m2": (["A", "B"], [[3, 0], [1, 2]])}
    confusion = confusion_figure(matrices, highlight="B")
    source = confusion.select_one({"type": ColumnDataSource})
    shown = {}
    for model, truth, predicted, count in zip(*(source.data[c] for c in ("model", "truth", "predicted", "count"))):
        shown.setdefault(model, {})[truth, predicted] = count
    assert shown == {label: _cells(*matrix) for label, matrix in matrices.items()}  # every model's cells, one source
    assert source.data["share"][classes.index("B") * 3] == pytest.approx(2 / 10)
    assert sum(source.data["line"]) == 2 * (5 + 3)  # row and column of B outlined in each matrix
    fig = confusion.select_one({"name": "confusion-matrix"})
    assert fig.renderers[0].view.filter.group == "m1" and list(fig.x_range.factors) == classes
    assert fig.title.text == "Confusion: m1"
    select = confusion.select_one({"type": Select})
    assert (select.name, select.options, select.value, select.visible) == ("confusion-model", ["m1", "m2"], "m1", True)
    switch = select.js_property_callbacks["change:value"][0]
    assert isinstance(switch, CustomJS) and switch.args["all_classes"] == [classes, ["A", "B"]]
    assert switch.args["filter"] is fig.renderers[0].view.filter
    assert not confusion_figure({"m1": matrices["m1"]}).select_one({"type": Select}).visible  # nothing to choose

    cal = {
        "ece": 0.123,
        "bins": [{"bin": 5, "lower": 0.4, "upper": 0.5, "count": 3, "confidence": 0.45, "accuracy": 0.33}],
    }
    rel = reliability_figure({"m1": cal, "m2": cal})
    assert [item.label["value"] for item in rel.legend[0].items] == ["perfect", "m1 (ECE 0.123)", "m2 (ECE 0.123)"]
    markers = [r for r in rel.renderers if isinstance(r.glyph, Scatter)]
    assert len(markers) == 1 and markers[0].data_source.data["model"] == ["m1", "m2"]  # one renderer for all
    points = [{"bucket": "2026-03-02T00:00:00+00:00", "n": 4, "accuracy": 0.5, "macro_f1": 0.4}]
    tr = trend_figure({"m1": points, "m2": points}, "week")
    assert tr.title.text == "Accuracy and macro-F1 per week" and len(tr.legend[0].items) == 4
    assert len([r for r in tr.renderers if isinstance(r.glyph, Scatter)]) == len(TREND_METRICS)
