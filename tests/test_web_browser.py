"""End to end in real headless Chromium: log in, watch the live dashboard update, manage models,
and be refused a Bokeh session without the web app.  Screenshots land in tests/artifacts/screenshots."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from oceanwatch.audio.features import grid_starts, window_hop_seconds
from oceanwatch.config import Settings
from oceanwatch.sim.scenario import Scenario
from oceanwatch.testing.synthetic import store_windows
from tests.browserkit import SCREENSHOTS, csp_violations, log_in
from tests.modelkit import manifest, registered_model, tiny_model, write_package
from tests.pipelinekit import ingest_simulated, labelled_world
from tests.predictionkit import add_predictions
from tests.webkit import make_user

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def add_vessels(session, settings: Settings, window) -> None:
    """Three vessels 10, 25 and 35 km from the hydrophone, seen just before the window."""
    from oceanwatch.db.models import AISPosition, Vessel
    from visualization.plots import GEOD

    when = dt.datetime.fromtimestamp(window.start_ms / 1000, dt.timezone.utc)
    for mmsi, (ship_type, km, bearing) in enumerate([(70, 10, 45), (80, 25, 180), (30, 35, 300)], start=1):
        lon, lat, _ = GEOD.fwd(settings.hydrophone.lon, settings.hydrophone.lat, bearing, km * 1000)
        session.add(Vessel(mmsi=mmsi, name=f"SHIP {mmsi}", ship_type=ship_type))
        session.flush()
        session.add(
            AISPosition(
                mmsi=mmsi,
                time=when - dt.timedelta(minutes=1),
                latitude=lat,
                longitude=lon,
                sog_knots=10.0,
                msg_type=1,
                source="test",
            )
        )


def _source_length(page, name: str) -> int:
    return page.evaluate(f"() => Bokeh.documents[0].get_model_by_name('{name}').get_length()")


def test_live_dashboard_renders_and_streams_new_rows(web, browser) -> None:
    settings, base = web
    make_user(settings, "viewer1", "viewer")
    windows = store_windows(settings, 4)
    from oceanwatch.db import session_scope

    model_id = registered_model(settings, "alpha")
    with session_scope(settings.database_url) as session:
        add_vessels(session, settings, windows[-1])
    with session_scope(settings.database_url) as session:
        add_predictions(session, [w.window_id for w in windows], model_id, np.random.default_rng(0))

    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    violations = csp_violations(page)
    log_in(page, base, "viewer1")
    page.wait_for_selector("canvas", timeout=30000)  # Bokeh rendered (selectors pierce its shadow DOM)
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents.length > 0 && "
        "Bokeh.documents[0].get_model_by_name('spectrogram_source') !== null",
        timeout=30000,
    )
    assert _source_length(page, "spectrogram_source") == 4
    assert _source_length(page, "prediction_source") == 4
    assert _source_length(page, "vessel_source") == 3
    page.screenshot(path=str(SCREENSHOTS / "live-before.png"), full_page=True)

    more = store_windows(settings, 3, first=4)
    with session_scope(settings.database_url) as session:
        add_predictions(session, [w.window_id for w in more], model_id, np.random.default_rng(0))
    page.wait_for_function(
        "() => Bokeh.documents[0].get_model_by_name('spectrogram_source').get_length() == 7 && "
        "Bokeh.documents[0].get_model_by_name('prediction_source').get_length() == 7",
        timeout=20000,
    )
    page.wait_for_selector("#live-status:has-text('7 windows')", timeout=10000)  # the DOM follows the model
    assert page.url == f"{base}/live/"  # updated in place, no reload
    page.locator("select[name=metric]").select_option("epistemic")
    page.wait_for_function(
        "() => Bokeh.documents[0].get_model_by_name('uncertainty').title.text == 'Uncertainty: epistemic'",
        timeout=10000,
    )
    page.screenshot(path=str(SCREENSHOTS / "live-after.png"), full_page=True)

    # Look back: choosing a time stops following and shows the span ending there.
    third = windows[2].start_ms
    page.evaluate(f"() => {{ Bokeh.documents[0].get_model_by_name('time_picker').value = {third} }}")
    page.wait_for_function(
        "() => Bokeh.documents[0].get_model_by_name('spectrogram_source').get_length() == 3", timeout=20000
    )
    page.wait_for_selector("#live-status:has-text('looking back')", timeout=10000)
    page.screenshot(path=str(SCREENSHOTS / "live-look-back.png"), full_page=True)
    page.get_by_role("button", name="Follow live").click()
    page.wait_for_function(
        "() => Bokeh.documents[0].get_model_by_name('spectrogram_source').get_length() == 7", timeout=20000
    )
    page.wait_for_selector("#live-status:has-text('following live')", timeout=10000)
    assert errors == []
    assert violations == []  # Bokeh's embed, autoload, websocket and rendering all run under the policy


def test_the_live_page_follows_the_chosen_site_and_maps_every_site(web, browser) -> None:
    settings, base = web
    make_user(settings, "watcher", "viewer")
    windows = store_windows(settings, 7, hydrophones=2)  # MARS takes the even windows, H1 the odd ones
    at = {site: [w.window_id for w in windows if w.hydrophone_id == site] for site in (settings.hydrophone.id, "H1")}
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    violations = csp_violations(page)
    log_in(page, base, "watcher")
    page.goto(f"{base}/live/?site=H1")
    document = "Bokeh.documents.length > 0 && Bokeh.documents[0].get_model_by_name('spectrogram_source')"
    page.wait_for_function(f"() => window.Bokeh && {document} !== null", timeout=30000)
    shown = page.evaluate("() => Bokeh.documents[0].get_model_by_name('spectrogram_source').data.window_id")
    assert sorted(shown) == at["H1"]
    sites = page.evaluate("() => Bokeh.documents[0].get_model_by_name('site_source').data")
    assert sites["site"] == ["H1", settings.hydrophone.id] and sites["size"][0] > sites["size"][1]
    assert page.locator("h1").inner_text() == "Live: site H1"
    for name in ("ais_map_coast", "overview_map_coast"):  # the shipped GSHHG coast, under the vessels
        coast = page.evaluate(f"() => Bokeh.documents[0].get_model_by_name('{name}').data_source.data")
        assert len(coast["xs"]) >= 1 and min(len(xs) for xs in coast["xs"]) >= 4
    page.screenshot(path=str(SCREENSHOTS / "live-site-h1.png"), full_page=True)

    page.locator("select#site").select_option(settings.hydrophone.id)
    page.locator("#site-show").click()
    page.wait_for_url(f"{base}/live/?site={settings.hydrophone.id}")
    page.wait_for_function(f"() => window.Bokeh && {document} !== null", timeout=30000)
    shown = page.evaluate("() => Bokeh.documents[0].get_model_by_name('spectrogram_source').data.window_id")
    assert sorted(shown) == at[settings.hydrophone.id]
    assert page.goto(f"{base}/live/?site=ATLANTIS").status == 400
    assert errors == [] and violations == []


def test_audio_player_plays_the_clips_ingest_wrote(web, browser, new_topic) -> None:
    settings, base = web
    make_user(settings, "listener", "viewer")
    scenario = Scenario(seed=5)
    start = scenario.start + 3600.0  # on the window grid: the windows are those lying wholly in the span
    ingest_simulated(settings, new_topic("clips"), scenario, start, start + 100.0)
    from sqlalchemy import select

    from oceanwatch.db import session_scope
    from oceanwatch.db.models import Window

    with session_scope(settings.database_url) as session:
        window_ids = list(session.scalars(select(Window.id).order_by(Window.start_time)))
    window_s = settings.ingest.window_s
    assert len(window_ids) == len(grid_starts(start, start + 100.0, window_s, window_hop_seconds(window_s)))
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    violations = csp_violations(page)
    log_in(page, base, "listener")
    player = page.locator("audio#clip-player")
    player.wait_for(timeout=30000)  # the newest clip is offered before any tap
    assert player.get_attribute("src") == f"/live/clip/{window_ids[-1]}"
    load = (
        "el => new Promise((ok, fail) => { el.onloadedmetadata = () => ok(el.duration);"
        " el.onerror = () => fail('cannot load ' + el.src); el.load(); })"
    )
    duration = player.evaluate(load)
    assert duration == pytest.approx(settings.ingest.window_s, abs=0.05)  # Chromium fetched and decoded the FLAC
    page.evaluate("() => { Bokeh.documents[0].get_model_by_name('spectrogram_source').selected.indices = [0] }")
    page.wait_for_selector(f"audio#clip-player[src='/live/clip/{window_ids[0]}']", timeout=10000)
    assert page.locator("audio#clip-player").evaluate(load) == pytest.approx(settings.ingest.window_s, abs=0.05)
    page.screenshot(path=str(SCREENSHOTS / "live-audio.png"), full_page=True)
    assert violations == []  # the clips play under the policy (media from the app's own origin)


def _truth_statuses(page) -> list[str]:
    return page.evaluate("() => Bokeh.documents[0].get_model_by_name('truth_source').data.status")


def _lane_point(page, figure: str, source: str, index: int) -> dict[str, float]:
    """Where on the page row `index` of `source` is drawn in lane `figure` (its x, the frame's middle)."""
    return page.evaluate(f"""() => {{
        const doc = Bokeh.documents[0];
        const view = Bokeh.index.find_one(doc.get_model_by_name('{figure}'));
        const x = doc.get_model_by_name('{source}').data.x[{index}];
        const box = view.canvas_view.el.getBoundingClientRect();
        return {{x: box.left + view.frame.x_scale.compute(x), y: box.top + view.frame.bbox.vcenter}};
    }}""")


def _hover_truth_window(page, index: int) -> str:
    """Point at the truth lane's bar of window `index` and read the tooltip Bokeh shows."""
    point = _lane_point(page, "truth", "truth_source", index)
    page.mouse.move(point["x"], point["y"])
    tooltip = page.locator(".bk-Tooltip").filter(has_text="window")
    tooltip.first.wait_for(timeout=10000)
    return tooltip.first.evaluate("el => el.shadowRoot.textContent")  # Bokeh renders it in a shadow root


def test_truth_lane_shows_the_ais_truth_beside_the_predictions(web, browser, new_topic, tmp_path: Path) -> None:
    settings, base = web
    make_user(settings, "watcher", "viewer")
    labelled_world(settings, new_topic("truth"), tmp_path)
    from sqlalchemy import select

    from oceanwatch.db import session_scope
    from oceanwatch.db.models import TruthLabel, Vessel, Window

    with session_scope(settings.database_url) as session:
        windows = session.scalars(select(Window.id).order_by(Window.start_time)).all()
        truth = {t.window_id: t for t in session.scalars(select(TruthLabel).where(TruthLabel.radius_km == 20))}
        names = dict(session.execute(select(Vessel.mmsi, Vessel.name)).all())
    page = browser.new_page(viewport={"width": 1500, "height": 1200})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base, "watcher")
    page.wait_for_function(
        "() => window.Bokeh && Bokeh.documents.length > 0 && "
        "Bokeh.documents[0].get_model_by_name('truth_source') !== null",
        timeout=30000,
    )
    assert _source_length(page, "truth_source") == len(windows)
    statuses = _truth_statuses(page)
    assert statuses == ["ambiguous" if truth[w].ambiguous else "labelled" for w in windows]
    labelled, ambiguous = statuses.index("labelled"), statuses.index("ambiguous")
    text = _hover_truth_window(page, labelled)
    vessel = truth[windows[labelled]].vessels[0]
    assert names[vessel] in text and ",".join(truth[windows[labelled]].classes) in text
    page.screenshot(path=str(tmp_path / "live-truth-20km.png"), full_page=True)
    text = _hover_truth_window(page, ambiguous)
    assert "ambiguous" in text
    assert all(f"{names[m] or 'unnamed'} ({m})" in text for m in truth[windows[ambiguous]].buffer_vessels)

    page.locator("select[name=truth_radius]").select_option(label="30 km")
    page.wait_for_function(
        "() => Bokeh.documents[0].get_model_by_name('truth').title.text == 'AIS truth within 30 km'", timeout=10000
    )
    with session_scope(settings.database_url) as session:
        at_30 = {
            t.window_id: t.ambiguous for t in session.scalars(select(TruthLabel).where(TruthLabel.radius_km == 30))
        }
    page.wait_for_function(
        "expected => { const s = Bokeh.documents[0].get_model_by_name('truth_source').data.status;"
        " return s.length == expected.length && s.every((v, i) => v == expected[i]); }",
        arg=["ambiguous" if at_30[w] else "labelled" for w in windows],
        timeout=10000,
    )
    assert _truth_statuses(page) != statuses  # the radius changed what the lane says
    page.mouse.move(0, 0)
    page.screenshot(path=str(tmp_path / "live-truth-30km.png"), full_page=True)
    page.screenshot(path=str(SCREENSHOTS / "live-truth.png"), full_page=True)
    assert errors == []


def test_operator_uploads_deploys_and_deactivates_a_model(web, browser, tmp_path: Path) -> None:
    settings, base = web
    make_user(settings, "op1", "operator")
    package = write_package(tmp_path / "pkg", tiny_model(), manifest(name="browser-model"))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    log_in(page, base, "op1")
    page.goto(f"{base}/models/")
    page.set_input_files("#upload-model", str(package / "model.keras"))
    page.set_input_files("#upload-manifest", str(package / "manifest.json"))
    page.click("#upload-submit")
    page.wait_for_selector("text=Validated and registered model")
    row = page.locator("#models tr[data-status]")
    model_id = row.first.get_attribute("id").split("-")[1]
    assert row.first.get_attribute("data-status") == "registered"
    page.screenshot(path=str(SCREENSHOTS / "models-registered.png"), full_page=True)

    page.click(f"#deploy-{model_id}")
    page.wait_for_selector(f"#model-{model_id}[data-status=active]")
    page.screenshot(path=str(SCREENSHOTS / "models-deployed.png"), full_page=True)
    page.click(f"#deactivate-{model_id}")
    page.wait_for_selector(f"#model-{model_id}[data-status=inactive]")
    audit = page.inner_text("#audit")
    assert "model.deploy" in audit and "model.deactivate" in audit and "op1" in audit
    page.screenshot(path=str(SCREENSHOTS / "models-deactivated.png"), full_page=True)


def test_bokeh_server_refuses_a_browser_that_comes_without_the_app(web, browser) -> None:
    settings, _base = web
    page = browser.new_page()
    direct = page.goto(f"{settings.resolved_bokeh_url()}/live")
    assert direct.status == 403
    page.screenshot(path=str(SCREENSHOTS / "bokeh-direct-refused.png"))
    forged = page.goto(f"{settings.resolved_bokeh_url()}/live?bokeh-session-id=not-signed")
    assert forged.status == 403
    assert page.locator("canvas").count() == 0


def test_admin_creates_a_user_and_an_api_token(web, browser) -> None:
    import requests

    settings, base = web
    make_user(settings, "root", "admin")
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    log_in(page, base, "root", screenshot="login.png")
    page.goto(f"{base}/users/")
    page.fill("input[name=username]", "newbie")
    page.fill("input[name=password]", "newbie password")
    page.select_option("form[action='/users/'] select[name=role]", "operator")
    page.click("form[action='/users/'] button")
    page.wait_for_selector("#user-newbie")
    assert page.locator("#user-newbie select[name=role]").input_value() == "operator"
    page.screenshot(path=str(SCREENSHOTS / "users.png"), full_page=True)
    page.goto(f"{base}/users/me")
    page.click("text=Create API token")
    token = page.inner_text("#api-token")
    page.screenshot(path=str(SCREENSHOTS / "account-token.png"))
    me = requests.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200 and me.json()["role"] == "admin"
    page.click("#logout")
    page.wait_for_url(f"{base}/login")
    page.goto(f"{base}/models/")
    assert "/login" in page.url


def test_events_beside_the_plots_follow_new_windows_and_lead_to_review_and_home(web, browser) -> None:
    """Two models disagreeing: the live page lists the window (pushed in without a reload), its link opens
    the window's review page, and the home page counts the site's events."""
    from oceanwatch.db import session_scope

    settings, base = web
    make_user(settings, "watch1", "operator")
    windows = store_windows(settings, 4)
    alpha, beta = registered_model(settings, "alpha"), registered_model(settings, "beta")
    ids = [w.window_id for w in windows]
    with session_scope(settings.database_url) as session:
        add_predictions(session, ids, alpha, np.random.default_rng(0), dict.fromkeys(ids, "A"))
        add_predictions(session, ids, beta, np.random.default_rng(1), {**dict.fromkeys(ids, "A"), ids[2]: "D"})
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    log_in(page, base, "watch1")
    page.wait_for_selector(f"#events li[data-window='{ids[2]}']:has-text('models disagree')", timeout=30000)

    more = store_windows(settings, 1, first=4)
    new = more[0].window_id
    with session_scope(settings.database_url) as session:
        add_predictions(session, [new], alpha, np.random.default_rng(2), {new: "B"})
        add_predictions(session, [new], beta, np.random.default_rng(3), {new: "C"})
    page.wait_for_selector(f"#events li:first-child[data-window='{new}']", timeout=20000)
    assert page.url == f"{base}/live/"  # pushed in, no reload
    page.screenshot(path=str(SCREENSHOTS / "live-events.png"), full_page=True)
    page.locator(f"#events li[data-window='{new}'] a").click()
    page.wait_for_url(f"{base}/review/{new}")

    page.goto(f"{base}/home/")
    cell = page.locator(f"#home-{settings.hydrophone.id} .events-today a")
    assert int(cell.inner_text()) >= 2
    assert "2 of 2" in page.locator(f"#home-{settings.hydrophone.id} .models").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=True)


LANES = ("spectrogram", "truth", "timeline", "confidence", "uncertainty")


def test_lanes_line_up_share_a_cursor_and_a_tap_in_one_selects_the_window_in_all(
    web, browser, new_topic, tmp_path: Path
) -> None:
    """WORLD through ingest, the AIS pipeline and the labeller, one model's predictions: the five lanes'
    frames span the same pixels, the pointer's time shows in every lane, a tap on a model's bar marks
    the window everywhere, plays its clip and shows its details with a link to its review page; the
    spectrogram is in dB on a Hz axis whose scale the operator picks."""
    settings, base = web
    make_user(settings, "analyst", "viewer")
    labelled_world(settings, new_topic("lanes"), tmp_path)
    from sqlalchemy import select

    from oceanwatch.db import session_scope
    from oceanwatch.db.models import Window

    model_id = registered_model(settings, "alpha")
    with session_scope(settings.database_url) as session:
        window_ids = list(session.scalars(select(Window.id).order_by(Window.start_time)))
        add_predictions(session, window_ids, model_id, np.random.default_rng(6))
    page = browser.new_page(viewport={"width": 1500, "height": 1300})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    violations = csp_violations(page)
    log_in(page, base, "analyst")
    page.wait_for_function(
        "n => window.Bokeh && Bokeh.documents.length > 0 && "
        "Bokeh.documents[0].get_model_by_name('prediction_source')?.get_length() == n",
        arg=len(window_ids),
        timeout=30000,
    )
    frames = page.evaluate(
        """names => names.map(name => {
            const view = Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name(name));
            const box = view.canvas_view.el.getBoundingClientRect();
            return [box.left + view.frame.bbox.left, box.left + view.frame.bbox.right];
        })""",
        list(LANES),
    )
    assert all(abs(f[0] - frames[0][0]) <= 1 and abs(f[1] - frames[0][1]) <= 1 for f in frames), frames

    over = _lane_point(page, "spectrogram", "spectrogram_source", 1)
    page.mouse.move(over["x"], over["y"])
    cursor = page.evaluate("() => Bokeh.documents[0].get_model_by_name('time_cursor').location")
    spectrogram_x = page.evaluate("() => Bokeh.documents[0].get_model_by_name('spectrogram_source').data.x[1]")
    assert cursor == pytest.approx(spectrogram_x, abs=1000)  # within a second of where the pointer is
    page.screenshot(path=str(SCREENSHOTS / "live-cursor.png"), full_page=True)

    k = 3
    wid = window_ids[k]
    bar = _lane_point(page, "timeline", "prediction_source", k)
    page.mouse.click(bar["x"], bar["y"])
    page.wait_for_selector(f"#window-details[data-window='{wid}']", timeout=10000)
    assert "alpha v1" in page.locator("#window-details").inner_text()
    assert page.locator("audio#clip-player").get_attribute("src") == f"/live/clip/{wid}"
    band = page.evaluate(
        "() => { const b = Bokeh.documents[0].get_model_by_name('selected_window'); return [b.visible, b.left, b.right]; }"
    )
    start = page.evaluate(f"() => Bokeh.documents[0].get_model_by_name('prediction_source').data.start[{k}]")
    assert band[0] is True and band[1] == pytest.approx(start)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / "live-selected.png"), full_page=True)

    assert "dB re 1 FS²/Hz" in page.evaluate("() => Bokeh.documents[0].get_model_by_name('spectrogram_colorbar').title")
    page.locator("select[name=frequency_scale]").select_option("log")
    page.wait_for_function(  # BokehJS holds the axis's labels as a Map
        "() => [...Bokeh.documents[0].get_model_by_name('spectrogram').left[0].major_label_overrides.values()]"
        ".includes('100 Hz')",
        timeout=10000,
    )
    page.screenshot(path=str(SCREENSHOTS / "live-spectrogram-log.png"), full_page=True)
    page.locator(f"#window-details a[href='/review/{wid}']").click()
    page.wait_for_url(f"{base}/review/{wid}")
    assert errors == [] and violations == []


def test_a_viewer_who_loses_the_live_server_sees_reconnecting_then_continues(settings, browser, tmp_path) -> None:
    """The Bokeh server stops under an open live page: the page says it is reconnecting while the server
    is away, and once it is back shows what was stored meanwhile and keeps following."""
    from oceanwatch.testing.localserve import running, serve

    store_windows(settings, 3)
    with serve(settings, tmp_path, bokeh=False) as (served, base):
        make_user(served, "nightwatch", "viewer")
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        length = "() => Bokeh.documents[0]?.get_model_by_name('spectrogram_source')?.get_length()"
        with running(served, "visualization", tmp_path):
            log_in(page, base, "nightwatch")
            page.wait_for_function(f"() => window.Bokeh && ({length})() == 3", timeout=30000)
            assert page.locator("#live-connection").is_hidden()
        page.wait_for_selector("#live-connection", state="visible", timeout=20000)
        assert "reconnecting" in page.locator("#live-connection").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "live-reconnecting.png"), full_page=True)
        store_windows(settings, 2, first=3)  # stored while the viewer is away
        page.wait_for_timeout(3000)
        assert page.locator("#live-connection").is_visible()  # still away: still saying so

        with running(served, "visualization", tmp_path):
            page.wait_for_function(f"() => window.Bokeh && ({length})() == 5", timeout=60000)
            assert page.locator("#live-connection").is_hidden()
            store_windows(settings, 1, first=5)
            page.wait_for_function(f"() => ({length})() == 6", timeout=20000)  # and follows on
            assert page.url == f"{base}/live/"


def test_an_analyst_replays_a_past_stretch_at_60x_and_watches_it_play(web, browser, new_topic, tmp_path: Path) -> None:
    """Pick a past time, choose 60×, press Replay: windows and vessels arrive on their own, tick by tick,
    until the newest data; Follow live returns to the live view."""
    settings, base = web
    make_user(settings, "analyst2", "viewer")
    labelled_world(settings, new_topic("replay"), tmp_path)
    from sqlalchemy import select

    from oceanwatch.db import session_scope
    from oceanwatch.db.models import Window

    with session_scope(settings.database_url) as session:
        starts = list(session.scalars(select(Window.start_time).order_by(Window.start_time)))
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base, "analyst2")
    length = "Bokeh.documents[0].get_model_by_name('spectrogram_source').get_length()"
    page.wait_for_function(
        f"() => window.Bokeh && Bokeh.documents.length > 0 && {length} == {len(starts)}", timeout=30000
    )
    page.locator("select[name=span]").select_option("10 minutes")
    begin = (starts[0].timestamp() + 30) * 1000
    page.evaluate(f"() => {{ Bokeh.documents[0].get_model_by_name('time_picker').value = {begin} }}")
    shown = sum(1 for t in starts if t.timestamp() * 1000 <= begin)
    page.wait_for_function(f"() => {length} == {shown}", timeout=20000)
    vessels = page.evaluate("() => Array.from(Bokeh.documents[0].get_model_by_name('vessel_source').data.lon)")
    page.locator("select[name=replay_speed]").select_option(label="60×")
    page.get_by_role("button", name="Replay from the time shown").click()
    page.wait_for_selector("#live-status:has-text('replaying at 60×')", timeout=10000)
    page.wait_for_function(f"() => {length} >= {shown + 2}", timeout=20000)  # arriving on their own
    # The vessels come in their own message after the windows' of the same tick: wait for it, do not race it.
    before = json.dumps(vessels)  # floats round-trip exactly through JSON
    lon = "Array.from(Bokeh.documents[0].get_model_by_name('vessel_source').data.lon)"
    page.wait_for_function(
        f"() => {{ const now = {lon}, was = {before}; return now.length != was.length || now.some((x, i) => x !== was[i]) }}",
        timeout=10000,
    )
    page.screenshot(path=str(SCREENSHOTS / "live-replay.png"), full_page=True)
    page.wait_for_selector("#live-status:has-text('reached the newest data')", timeout=30000)
    assert page.evaluate(f"() => {length}") == len(starts)
    page.get_by_role("button", name="Follow live").click()
    page.wait_for_selector("#live-status:has-text('following live')", timeout=10000)
    assert errors == []
