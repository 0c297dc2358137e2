"""End to end in real headless Chromium: an operator changes the AIS-type mapping on the data page,
sees the preview count, confirms and watches the relabel job finish; then the metrics page renders
its tables and plots from locally served BokehJS, and its model select draws each model's confusion
matrix.  Screenshots land in tests/artifacts/screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oceanwatch import jobs
from oceanwatch.config import Settings
from oceanwatch.db import engine_for
from oceanwatch.scoring.reports import Scope, report
from oceanwatch.testing.localserve import serve
from oceanwatch.truth.classmap import run_relabel
from tests.browserkit import SCREENSHOTS, csp_violations
from tests.metrickit import scored_world
from tests.webkit import PASSWORD, make_user

pytestmark = [pytest.mark.integration, pytest.mark.browser]


_CONFUSION_TITLE = "Bokeh.documents[0].get_model_by_name('confusion-matrix').title.text"
# The (truth, predicted, count) cells the confusion figure's view lets through, and its axes' classes.
_CONFUSION_SHOWN = """() => {
    const fig = Bokeh.documents[0].get_model_by_name('confusion-matrix')
    const cells = fig.renderers[0], data = cells.data_source.data
    const column = (name) => data instanceof Map ? data.get(name) : data[name]
    return {cells: [...cells.view.indices.ones()].map(i => [column('truth')[i], column('predicted')[i],
                                                            column('count')[i]]),
            predicted: fig.x_range.factors, truth: fig.y_range.factors}
}"""


@pytest.fixture
def web(settings: Settings, tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """The real app served by werkzeug (threaded) on a free port; these pages need no Bokeh server."""
    with serve(settings, tmp_path, bokeh=False) as served:
        yield served


@pytest.fixture
def page(browser) -> Iterator:
    yield browser.new_page(viewport={"width": 1400, "height": 1000})


def test_operator_relabels_with_a_preview_then_reads_the_metrics(web, page, fleet) -> None:
    settings, base = web
    make_user(settings, "op1", "operator")
    models = scored_world(settings, n=60)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda request: errors.append(f"{request.url} failed"))
    violations = csp_violations(page)

    page.goto(f"{base}/data/")
    assert "/login" in page.url
    page.fill("#username", "op1")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/data/")
    assert page.get_attribute("#mapping-70", "data-class") == "D"
    since = "#mapping-form input[name=since]"  # the page's own script runs under the policy
    page.select_option("#mapping-form select[name=since_mode]", "from")
    assert page.is_enabled(since)
    page.select_option("#mapping-form select[name=since_mode]", "all")
    assert page.is_disabled(since)

    page.fill("#mapping-types", "70")
    page.select_option("#mapping-class", "C")
    page.click("#mapping-preview")
    page.wait_for_selector("#preview")
    # type-70 vessels are in three windows, each labelled at every radius
    assert int(page.inner_text("#preview-count")) == 3 * len(settings.truth.radii_km)
    assert "all history" in page.inner_text("#preview")
    assert page.get_attribute("#mapping-70", "data-class") == "D", "nothing changes before confirming"
    page.screenshot(path=str(SCREENSHOTS / "data-preview.png"), full_page=True)

    page.click("#confirm-edit")
    page.wait_for_selector("text=Relabel job")
    assert page.get_attribute("#mapping-70", "data-class") == "C"
    job_id = page.locator("#jobs tr[data-job]").first.get_attribute("data-job")
    assert page.get_attribute(f"#job-{job_id}", "data-status") == "queued"
    assert jobs.run_next(settings.database_url, {"relabel": run_relabel}) == int(job_id)  # the labeller's part
    page.wait_for_selector(f"#job-{job_id}[data-status=succeeded]", timeout=15000)  # the page polls the API
    assert "100%" in page.inner_text(f"#job-{job_id}")
    assert page.locator(f"#job-{job_id} form").count() == 0  # nothing left to cancel
    page.screenshot(path=str(SCREENSHOTS / "data-relabelled.png"), full_page=True)

    page.click("#class-B button.edit-class")  # fills the class form; the same code edits the class
    assert page.input_value("#class-form input[name=name]") == "Small craft"
    page.fill("#class-form input[name=name]", "Small craft and yachts")
    page.click("#class-form button")
    page.wait_for_selector("#preview")
    assert page.inner_text("#preview-count") == "0"  # a name belongs to the code: no label changes
    page.click("#confirm-edit")
    page.wait_for_selector("text=nothing to relabel")
    assert "Small craft and yachts" in page.inner_text("#class-B")

    page.goto(f"{base}/scores/")
    page.check(f"#model-choice input[value='{models['beta']}']")
    page.click("#preset-all")
    page.wait_for_selector("#comparison")
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=30000)
    page.wait_for_selector("#confusion-plot canvas", timeout=30000)
    rendered = page.evaluate("() => Bokeh.documents.flatMap(d => d.roots().map(r => r.name))")
    assert set(rendered) == {"trend", "reliability", "confusion"}
    assert page.locator("#overall tr[id^=overall-]").count() == 2
    with engine_for(settings.database_url).connect() as conn:
        expected = {name: report(conn, Scope(model_id, 20)) for name, model_id in models.items()}
    for name in ("beta", "alpha"):  # each model's matrix, chosen in the select, is the one drawn
        label = f"{name} v1 (#{models[name]})"
        page.select_option("select[name=confusion-model]", label)
        page.wait_for_function(f"() => ({_CONFUSION_TITLE}) == 'Confusion: {label}'", timeout=10000)
        shown = page.evaluate(_CONFUSION_SHOWN)
        cells = {(t, p): c for t, p, c in shown["cells"]}
        classes, matrix = expected[name]["classes"], expected[name]["confusion"]
        assert cells == {(t, p): matrix[i][j] for i, t in enumerate(classes) for j, p in enumerate(classes)}
        assert shown["predicted"] == classes and shown["truth"] == classes[::-1]
        page.screenshot(path=str(SCREENSHOTS / f"metrics-confusion-{name}.png"), full_page=True)
    page.screenshot(path=str(SCREENSHOTS / "metrics.png"), full_page=True)
    assert errors == []
    assert violations == []  # the data page's script, BokehJS and the confusion matrix's CustomJS all ran
    injected = (
        "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
        " document.body.appendChild(s); return window.injected === undefined; }"
    )
    with page.expect_console_message(lambda m: "CSP violation: script-src" in m.text):  # the watcher sees it
        blocked = page.evaluate(injected)
    assert blocked, "an injected inline script ran: the policy is not in force"
