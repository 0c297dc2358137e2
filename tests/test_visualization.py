"""The live dashboard: pure plot builders, its queries, streaming updates, and the Bokeh server's session policy."""

import datetime as dt
import math

import numpy as np
import pytest
import requests
import shapely
from bokeh.util.token import generate_jwt_token, generate_session_id
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from oceanwatch.access.live_grants import GRANT_HEADER, Grant, issue_grant
from oceanwatch.audio.features import DEFAULT_SPEC
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import (
    AISPosition,
    ClassMapping,
    MLModel,
    Prediction,
    ShipClass,
    TruthLabel,
    Vessel,
    VesselClassOverride,
    Window,
)
from oceanwatch.messages import PackedArray
from oceanwatch.testing.synthetic import T0
from oceanwatch.testing.synthetic import store_windows as _store_windows
from tests.modelkit import TINY_SPEC, registered_model
from tests.pipelinekit import WORLD, WORLD_T0, ingest_simulated, labelled_world
from tests.predictionkit import add_predictions
from tests.webkit import bokeh_server, make_user, websocket_status
from visualization import plots, queries
from visualization.feed import LiveFeed
from visualization.live import LiveDashboard, audio_html, prediction_columns, truth_columns

# Eight minutes of this world in which one vessel passes inside 20 km while another sits in the buffer
# beyond it for part of the time: at 20 km some windows are labelled, some ambiguous, and 30 km differs.


def store_windows(settings: Settings, count: int, first: int = 0):
    """Synthetic windows with the tiny feature spec the dashboard checks shapes against."""
    return _store_windows(settings, count, first, spec=TINY_SPEC)


def watched(settings: Settings) -> tuple[LiveDashboard, LiveFeed]:
    """A dashboard subscribed to its own feed the way a server session is, but delivered to at once
    (no document tick): each `feed.poll()` is one update."""
    factory = sessionmaker(engine_for(settings.database_url), expire_on_commit=False)
    feed = LiveFeed(factory, settings.truth.radii_km)
    dashboard = LiveDashboard(
        factory, settings.hydrophone.id, settings.hydrophone.lat, settings.hydrophone.lon, settings.truth.radii_km
    )
    feed.subscribe(dashboard.hydrophone_id, dashboard.apply_update, lambda: dashboard.oldest_truth_window_id)
    dashboard.reload()
    return dashboard, feed


def test_range_rings_are_geodesic_circles_of_the_radius() -> None:
    for radius in (20, 30, 40):
        lons, lats = plots.range_ring(36.7, -122.2, radius)
        _, _, dist = plots.GEOD.inv(np.full(lons.size, -122.2), np.full(lats.size, 36.7), lons, lats)
        assert np.allclose(dist, radius * 1000.0, rtol=1e-6)
        assert lons[0] == pytest.approx(lons[-1]) and lats[0] == pytest.approx(lats[-1])


def test_spectrogram_image_is_mels_by_frames_float32() -> None:
    features = np.arange(2 * 3, dtype=np.float32).reshape(2, 3, 1)  # (frames, mels, channels)
    image = queries.spectrogram_image(PackedArray.pack(features, "float16"))
    assert image.dtype == np.float32 and image.shape == (3, 2)
    assert np.array_equal(image, features[:, :, 0].T)


def test_display_image_averages_frames_down_to_the_column_budget() -> None:
    image = np.arange(2 * 160, dtype=np.float32).reshape(2, 160)
    small = plots.display_image(image, max_columns=64)
    assert small.shape == (2, 53) and small.dtype == np.float32  # 3 frames per column
    assert small[0, 0] == pytest.approx(image[0, :3].mean()) and small[1, -1] == pytest.approx(image[1, 156:159].mean())
    narrow = np.ones((4, 16), dtype=np.float32)
    assert plots.display_image(narrow) is narrow


def test_uncertainty_metric_switches_every_line() -> None:
    source = plots.empty_source(plots.PREDICTION_COLUMNS)
    fig = plots.uncertainty_figure(source, ["a v1", "b v1"], "entropy")
    assert {r.glyph.y for r in fig.renderers} == {"entropy"} and len(fig.renderers) == 4
    plots.set_metric(fig, "epistemic")
    assert {r.glyph.y for r in fig.renderers} == {"epistemic"} and "epistemic" in fig.title.text
    with pytest.raises(ValueError):
        plots.set_metric(fig, "variance")


def test_prediction_columns_colour_by_class_and_keep_missing_metrics_missing() -> None:
    start = T0
    rows = [
        {
            "id": 1,
            "model_id": 5,
            "window_id": 9,
            "predicted": ["B"],
            "confidence": 0.8,
            "entropy": None,
            "epistemic": 0.1,
            "aleatoric": None,
            "start": start,
            "end": start + dt.timedelta(seconds=30),
        }
    ]
    cols = prediction_columns(rows, {5: "m v1"}, {"B": "#123456"})
    assert cols["color"] == ["#123456"] and cols["model"] == ["m v1"] and cols["width"] == [30000.0]
    assert math.isnan(cols["entropy"][0]) and cols["epistemic"] == [0.1]
    assert cols["x"][0] == start.timestamp() * 1000 + 15000


def test_truth_columns_tell_labelled_ambiguous_and_pending_windows_apart() -> None:
    end = T0 + dt.timedelta(seconds=30)
    ship = {"mmsi": 7, "name": "SEA WOLF", "ship_type": 70, "ship_type_text": "Cargo"}
    rows = [
        {
            "window_id": 1,
            "start": T0,
            "end": end,
            "truth": {
                "radius_km": 20,
                "classes": ["cargo"],
                "ambiguous": False,
                "vessels": [ship],
                "buffer_vessels": [],
            },
        },
        {
            "window_id": 2,
            "start": T0,
            "end": end,
            "truth": {
                "radius_km": 20,
                "classes": ["cargo"],
                "ambiguous": True,
                "vessels": [ship],
                "buffer_vessels": [{**ship, "mmsi": 8, "name": None}],
            },
        },
        {"window_id": 3, "start": T0, "end": end, "truth": None},
    ]
    cols = truth_columns(rows, {"cargo": "#123456"})
    assert cols["status"] == ["labelled", "ambiguous", "pending"]
    assert cols["label"] == ["cargo", "ambiguous", "pending"]
    assert cols["color"] == ["#123456", plots.UNKNOWN_COLOR, "#ffffff"]
    fig = plots.truth_figure(plots.empty_source(plots.TRUTH_COLUMNS, "t"), 20)
    bars, hatch = fig.renderers  # one hatch over the ambiguous windows, never a pattern per bar (slow in a browser)
    assert bars.glyph.hatch_pattern is None and hatch.glyph.hatch_pattern == "/"
    assert hatch.view.filter.column_name == "status" and hatch.view.filter.group == "ambiguous"
    assert cols["vessels"][:2] == ["SEA WOLF (7)"] * 2 and cols["buffer"] == ["none", "unnamed (8)", ""]
    assert cols["classes"] == ["cargo", "cargo", "not labelled yet"]


def lane(source) -> dict[int, tuple[str, list[str], str, str]]:
    """The truth source by window: status, classes, vessels and buffer vessels as the hover shows them."""
    data = source.data
    return {
        w: (st, [] if c in ("none", "not labelled yet") else c.split(","), v, b)
        for w, st, c, v, b in zip(data["window_id"], data["status"], data["classes"], data["vessels"], data["buffer"])
    }


def check_lane_matches_the_database(settings: Settings, shown: dict, radius_km: int) -> None:
    """Each shown window carries its stored truth at the radius, and its vessels by name."""
    with session_scope(settings.database_url) as session:
        windows = session.scalars(select(Window.id)).all()
        truth = {t.window_id: t for t in session.scalars(select(TruthLabel).where(TruthLabel.radius_km == radius_km))}
        names = dict(session.execute(select(Vessel.mmsi, Vessel.name)).all())
    assert sorted(shown) == sorted(windows)
    for window_id, (status, classes, vessels, buffer) in shown.items():
        t = truth.get(window_id)
        if t is None:
            assert status == "pending"
            continue
        assert status == ("ambiguous" if t.ambiguous else "labelled") and classes == list(t.classes)
        for mmsi in t.vessels:
            assert f"{names.get(mmsi) or 'unnamed'} ({mmsi})" in vessels
        for mmsi in t.buffer_vessels:
            assert f"{names.get(mmsi) or 'unnamed'} ({mmsi})" in buffer


@pytest.mark.integration
def test_truth_lane_shows_each_windows_ais_truth_at_the_chosen_radius(settings: Settings, new_topic, tmp_path) -> None:
    topic = new_topic("truth")
    labeller = labelled_world(settings, topic, tmp_path)
    dashboard, feed = watched(settings)
    at_20 = lane(dashboard.truth)
    check_lane_matches_the_database(settings, at_20, 20)
    assert {"labelled", "ambiguous"} <= {status for status, *_ in at_20.values()}
    assert any(classes for status, classes, *_ in at_20.values() if status == "labelled")
    assert any(v.split(" (")[0] != "unnamed" for *_, v, _b in at_20.values() if v != "none")  # names, not numbers
    assert dashboard.truth_fig.title.text == "AIS truth within 20 km"

    dashboard.truth_radius.value = "30"  # the Select
    at_30 = lane(dashboard.truth)
    check_lane_matches_the_database(settings, at_30, 30)
    assert at_30 != at_20 and dashboard.truth_fig.title.text == "AIS truth within 30 km"

    # New windows stream in before the labeller reaches them (pending), then turn into truth in place.
    ingest_simulated(settings, topic, WORLD, WORLD_T0 + 435, WORLD_T0 + 620)
    feed.poll()
    waiting = [w for w, (status, *_) in lane(dashboard.truth).items() if status == "pending"]
    assert len(waiting) >= 5
    check_lane_matches_the_database(settings, lane(dashboard.truth), 30)
    assert labeller.run_pass()["labelled"] == len(waiting)
    feed.poll()
    after = lane(dashboard.truth)
    assert not [w for w in waiting if after[w][0] == "pending"]
    check_lane_matches_the_database(settings, after, 30)


def test_audio_player_points_at_the_web_apps_clip_route() -> None:
    assert 'src="/live/clip/42"' in audio_html(42) and "<audio" in audio_html(42)
    assert "<audio" not in audio_html(None)


@pytest.mark.integration
def test_dashboard_loads_then_streams_only_new_rows(settings: Settings) -> None:
    windows = store_windows(settings, 4)
    model_id = registered_model(settings, "alpha")
    with session_scope(settings.database_url) as session:
        add_predictions(session, [w.window_id for w in windows], model_id, np.random.default_rng(0))
    dashboard, feed = watched(settings)
    assert dashboard.spectrograms.data["window_id"] == [w.window_id for w in windows]
    assert dashboard.predictions.data["window_id"] == [w.window_id for w in windows]
    assert list(dashboard.timeline_fig.y_range.factors) == ["alpha v1"]
    # An hour is 160 windows across at most 1,200 pixels: 8 columns each (of 16 frames), every band kept.
    assert dashboard.waterfall.images()[0].shape == (TINY_SPEC.n_mels, 8)
    dashboard.spectrograms.selected.indices = [1]  # a tap on a window without a clip
    assert "has no clip" in dashboard.audio.text

    more = store_windows(settings, 3, first=4)
    beta = registered_model(settings, "beta")
    with session_scope(settings.database_url) as session:
        add_predictions(session, [w.window_id for w in more], model_id, np.random.default_rng(0))
    with session_scope(settings.database_url) as session:
        add_predictions(session, [w.window_id for w in more], beta, np.random.default_rng(1))
    feed.poll()
    assert dashboard.spectrograms.data["window_id"] == [w.window_id for w in windows + more]
    assert len(dashboard.predictions.data["id"]) == 4 + 3 + 3
    assert list(dashboard.timeline_fig.y_range.factors) == ["alpha v1", "beta v1"]
    assert {r.view.filter.group for r in dashboard.confidence_fig.renderers} == {"alpha v1", "beta v1"}
    vessels_before = dashboard.vessels.data
    feed.poll()  # nothing new: nothing streamed twice, and the vessels are not resent
    assert len(dashboard.predictions.data["id"]) == 10
    assert dashboard.vessels.data is vessels_before

    # Looking back: the picker stops following and shows the span ending at the chosen time.
    dashboard.span.value = "10 minutes"
    dashboard._on_pick("value", None, (T0 + dt.timedelta(seconds=22.5 * 2)).timestamp() * 1000)
    assert dashboard.follow.active is False
    assert dashboard.spectrograms.data["window_id"] == [w.window_id for w in windows[:3]]
    store_windows(settings, 1, first=7)
    feed.poll()
    assert len(dashboard.spectrograms.data["window_id"]) == 3  # not following: no streaming
    dashboard.follow.active = True
    assert len(dashboard.spectrograms.data["window_id"]) == 8


@pytest.mark.integration
def test_a_model_deployed_while_watching_gets_its_row_and_lines(settings: Settings) -> None:
    windows = _store_windows(settings, 2)  # no model deployed yet: ingest computes the default spec
    dashboard, feed = watched(settings)
    assert list(dashboard.timeline_fig.y_range.factors) == ["(no active model)"]
    assert dashboard.confidence_fig.renderers == []
    model_id = registered_model(settings, "late")
    with session_scope(settings.database_url) as session:
        add_predictions(session, [w.window_id for w in windows], model_id, np.random.default_rng(0))
    feed.poll()
    assert list(dashboard.timeline_fig.y_range.factors) == ["late v1"]
    assert {r.view.filter.group for r in dashboard.uncertainty_fig.renderers} == {"late v1"}
    assert dashboard.predictions.data["model"] == ["late v1", "late v1"]


@pytest.mark.integration
def test_vessels_take_their_class_from_override_then_mapping(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        mapped = session.scalar(select(ClassMapping.class_code).where(ClassMapping.ship_type == 70))
        other = session.scalar(select(ShipClass.code).where(ShipClass.code != mapped).limit(1))
        session.add_all(
            [
                Vessel(mmsi=1, name="MAPPED", ship_type=70),
                Vessel(mmsi=2, name="OVERRIDDEN", ship_type=70),
                Vessel(mmsi=3, name="UNKNOWN"),
            ]
        )
        session.flush()
        session.add(VesselClassOverride(mmsi=2, class_code=other, reason="test"))
        for mmsi in (1, 2, 3):
            for k in range(3):
                session.add(
                    AISPosition(
                        mmsi=mmsi,
                        time=T0 + dt.timedelta(minutes=k),
                        latitude=36.0 + k,
                        longitude=-122.0,
                        msg_type=1,
                        source="test",
                    )
                )
    with session_scope(settings.database_url) as session:
        rows = queries.vessel_positions(session, T0, T0 + dt.timedelta(minutes=1))
    assert {(r["mmsi"], r["class_code"], r["lat"]) for r in rows} == {
        (1, mapped, 37.0),
        (2, other, 37.0),
        (3, "unknown", 37.0),
    }


@pytest.mark.integration
def test_bokeh_server_refuses_sessions_the_web_app_did_not_sign(settings: Settings, tmp_path) -> None:
    secret = settings.secret_key.encode()
    with bokeh_server(settings, tmp_path) as port:
        url = f"http://127.0.0.1:{port}/live"
        assert requests.get(url, timeout=10).status_code == 403
        assert requests.get(url, params={"bokeh-session-id": "made-up"}, timeout=10).status_code == 403
        forged = generate_session_id(secret_key=b"another-secret-of-enough-length!", signed=True)
        assert requests.get(url, params={"bokeh-session-id": forged}, timeout=10).status_code == 403
        signed = generate_session_id(secret_key=secret, signed=True)
        # A signed id alone is not enough either: the web app's grant for it must come along.
        assert requests.get(url, params={"bokeh-session-id": signed}, timeout=10).status_code == 403
        grant = issue_grant(signed, Grant(make_user(settings, "wendy", "viewer"), 0), secret, 300)
        assert (
            requests.get(
                url, params={"bokeh-session-id": signed}, headers={GRANT_HEADER: grant}, timeout=30
            ).status_code
            == 200
        )
        # The websocket only opens from the web app's pages, even with a valid signed token.
        token = generate_jwt_token(
            signed, secret_key=secret, signed=True, extra_payload={"headers": {GRANT_HEADER: grant}}
        )
        ws = f"ws://127.0.0.1:{port}/live/ws"
        assert websocket_status(ws, token, f"http://{settings.web.host}:{settings.web.port}") == 101
        assert websocket_status(ws, token, "http://evil.example") == 403
        no_grant = generate_jwt_token(signed, secret_key=secret, signed=True)
        assert websocket_status(ws, no_grant, f"http://{settings.web.host}:{settings.web.port}") == 403


def test_bokeh_url_path_becomes_the_server_prefix() -> None:
    from visualization.server import url_prefix

    assert url_prefix(Settings().updated(bokeh={"url": "https://ocean.example/bokeh/"})) == "/bokeh"
    assert url_prefix(Settings().updated(web={"host": "10.0.0.5"}, bokeh={"port": 5111})) == ""
    assert (
        Settings().updated(web={"host": "10.0.0.5"}, bokeh={"port": 5111}).resolved_bokeh_url()
        == "http://10.0.0.5:5111"
    )


def test_bokeh_websocket_origins_default_to_the_web_app() -> None:
    assert Settings().updated(web={"host": "127.0.0.1", "port": 8123}).resolved_bokeh_origins() == [
        "127.0.0.1:8123",
        "localhost:8123",
    ]
    assert Settings().updated(web={"host": "10.1.2.3", "port": 80}).resolved_bokeh_origins() == ["10.1.2.3:80"]
    assert Settings().updated(bokeh={"allowed_origins": "a.example, b.example:8443"}).resolved_bokeh_origins() == [
        "a.example",
        "b.example:8443",
    ]


@pytest.mark.integration
def test_one_feed_reads_each_watched_site_once_whatever_the_number_of_viewers(settings: Settings) -> None:
    """The feed's queries per poll depend on the sites watched, not the sessions: ten viewers of one site
    cost what one does, and every viewer gets the same new rows."""
    from sqlalchemy import event

    _store_windows(settings, 2)  # no model deployed: ingest computes the default spec
    engine = engine_for(settings.database_url)
    factory = sessionmaker(engine, expire_on_commit=False)
    feed = LiveFeed(factory, settings.truth.radii_km)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def statements_per_poll() -> int:
        statements.clear()
        feed.poll()
        return len(statements)

    site = settings.hydrophone.id
    viewers = []
    for _ in range(10):
        dashboard = LiveDashboard(
            factory, site, settings.hydrophone.lat, settings.hydrophone.lon, settings.truth.radii_km
        )
        viewers.append(
            (dashboard, feed.subscribe(site, dashboard.apply_update, lambda d=dashboard: d.oldest_truth_window_id))
        )
        dashboard.reload()
        if len(viewers) == 1:
            one = statements_per_poll()
    assert feed.viewers == 10 and statements_per_poll() == one
    more = _store_windows(settings, 3, first=2)
    feed.poll()
    for dashboard, _ in viewers:
        assert dashboard.spectrograms.data["window_id"][-3:] == [w.window_id for w in more]

    def gone(_update) -> None:
        raise RuntimeError("session destroyed")

    feed.subscribe(site, gone, lambda: None)  # a session torn down without unsubscribing
    _store_windows(settings, 1, first=5)
    feed.poll()  # the broken subscriber is dropped; the others still get the window
    assert feed.viewers == 10 and all(len(d.spectrograms.data["window_id"]) == 6 for d, _ in viewers)
    for _, subscription in viewers:
        feed.unsubscribe(subscription)
    assert feed.viewers == 0 and statements_per_poll() == 1  # nobody watching: only the active models are read


@pytest.mark.integration
def test_the_events_list_shows_the_newest_disagreements_and_follows_new_ones(settings: Settings) -> None:
    """Events beside the plots: newest first, each a link to its review page, refreshed by the feed."""
    import re

    from oceanwatch.events.query import EventRules

    windows = [w.window_id for w in store_windows(settings, 4)]
    alpha, beta = registered_model(settings, "alpha"), registered_model(settings, "beta")
    with session_scope(settings.database_url) as session:  # they disagree on windows 1 and 3 only
        add_predictions(session, windows, alpha, np.random.default_rng(0), dict.fromkeys(windows, "A"))
        answers = {w: ("B" if i in (1, 3) else "A") for i, w in enumerate(windows)}
        add_predictions(session, windows, beta, np.random.default_rng(1), answers)
    rules = EventRules(radius_km=20, entropy_min=1.1)  # entropy never reaches it: disagreements only
    factory = sessionmaker(engine_for(settings.database_url), expire_on_commit=False)
    feed = LiveFeed(factory, settings.truth.radii_km, rules)
    site = settings.hydrophone.id
    dashboard = LiveDashboard(
        factory, site, settings.hydrophone.lat, settings.hydrophone.lon, settings.truth.radii_km, rules
    )
    feed.subscribe(site, dashboard.apply_update, lambda: dashboard.oldest_truth_window_id)
    dashboard.reload()

    def listed() -> list[int]:
        return [int(w) for w in re.findall(r"data-window='(\d+)'", dashboard.events.text)]

    assert listed() == [windows[3], windows[1]]
    assert f"href='/review/{windows[3]}'" in dashboard.events.text and "models disagree" in dashboard.events.text
    more = [w.window_id for w in store_windows(settings, 1, first=4)]
    with session_scope(settings.database_url) as session:
        add_predictions(session, more, alpha, np.random.default_rng(2), {more[0]: "C"})
        add_predictions(session, more, beta, np.random.default_rng(3), {more[0]: "D"})
    feed.poll()
    assert listed() == [more[0], windows[3], windows[1]]


@pytest.mark.integration
def test_the_spectrogram_reads_in_hz_and_db_on_the_chosen_scale_and_keeps_a_chosen_colour_range(
    settings: Settings, new_topic
) -> None:
    """Windows ingest wrote from simulated audio: levels per Hz re full scale, re 1 µPa once the site's
    sensitivity is known (170 dB apart at -170 dB re 1 V/µPa), on a mel, linear or log frequency axis."""
    from bokeh.models import ColorBar, LinearColorMapper

    from oceanwatch.audio.levels import FULL_SCALE, MICROPASCAL, band_centres_hz
    from oceanwatch.db.models import Hydrophone

    topic = new_topic("levels")
    ingest_simulated(settings, topic, WORLD, WORLD_T0, WORLD_T0 + 100)
    full_scale, _ = watched(settings)
    with session_scope(settings.database_url) as session:
        session.get(Hydrophone, settings.hydrophone.id).sensitivity_db = -170.0
    dashboard, feed = watched(settings)
    fig = dashboard.spectrogram_fig
    assert full_scale.spectrogram_fig.select_one(ColorBar).title == FULL_SCALE
    assert fig.select_one(ColorBar).title == MICROPASCAL and MICROPASCAL in dashboard.color_levels.title
    shown = dashboard.waterfall.images()
    assert len(shown) >= 3
    for calibrated, raw in zip(shown, full_scale.waterfall.images(), strict=True):
        assert np.allclose(calibrated - raw, 170.0, atol=1e-3)
    assert "1 kHz" in fig.yaxis[0].major_label_overrides.values()

    dashboard.frequency_scale.value = "linear"
    centres = band_centres_hz(DEFAULT_SPEC)
    bottom, height = dashboard.spectrograms.data["y"][0], dashboard.spectrograms.data["dh"][0]
    step = (centres[-1] - centres[0]) / (min(DEFAULT_SPEC.n_mels, 96) - 1)  # 96 display rows
    assert bottom == pytest.approx(centres[0] - step / 2) and bottom + height == pytest.approx(centres[-1] + step / 2)
    assert fig.yaxis[0].major_label_overrides == {500.0: "500 Hz", 1000.0: "1 kHz", 1500.0: "1.5 kHz"}
    dashboard.frequency_scale.value = "log"
    assert dashboard.spectrograms.data["y"][0] < math.log10(centres[0]) < dashboard.spectrograms.data["y"][0] + 0.1
    assert "100 Hz" in fig.yaxis[0].major_label_overrides.values()

    mapper = fig.select_one(LinearColorMapper)
    everything = np.concatenate([image.ravel() for image in dashboard.waterfall.images()])
    assert np.min(everything) <= mapper.low < mapper.high <= np.max(everything) + 1  # fitted to what is shown
    dashboard.color_levels.value = (60.0, 110.0)
    assert (mapper.low, mapper.high) == (60.0, 110.0)
    ingest_simulated(settings, topic, WORLD, WORLD_T0 + 100, WORLD_T0 + 160)
    feed.poll()
    assert len(dashboard.waterfall.images()) > len(shown)
    assert (mapper.low, mapper.high) == (60.0, 110.0)  # the operator's range holds as new windows arrive


@pytest.mark.integration
def test_a_tap_on_any_lane_selects_its_window_in_every_lane_with_its_details(
    settings: Settings, new_topic, tmp_path
) -> None:
    """WORLD through ingest, the AIS pipeline and the labeller; a tap on a model's bar, the truth lane or
    the spectrogram marks that window in all five lanes, plays its clip and shows its truth and outputs."""
    labelled_world(settings, new_topic("tap"), tmp_path)
    model_id = registered_model(settings, "alpha")
    with session_scope(settings.database_url) as session:
        window_ids = list(session.scalars(select(Window.id).order_by(Window.start_time)))
        add_predictions(session, window_ids, model_id, np.random.default_rng(4))
    dashboard, _feed = watched(settings)
    assert not any(band.visible for band in dashboard.selection_bands)

    def check_selected(window_id: int) -> None:
        with session_scope(settings.database_url) as session:
            window = session.get(Window, window_id)
            start, end = window.start_time.timestamp() * 1000, window.end_time.timestamp() * 1000
            truth = session.scalars(
                select(TruthLabel).where(TruthLabel.window_id == window_id, TruthLabel.radius_km == 20)
            ).one()
            prediction = session.scalars(select(Prediction).where(Prediction.window_id == window_id)).one()
            classes = session.get(MLModel, model_id).class_names
        assert len(dashboard.selection_bands) == 5
        assert all((b.visible, b.left, b.right) == (True, start, end) for b in dashboard.selection_bands)
        details = dashboard.details.text
        assert f"data-window='{window_id}'" in details and f"href='/review/{window_id}'" in details
        assert "alpha v1" in details
        for code, p in zip(classes, prediction.probabilities):
            assert f"{code} {p:.2f}" in details
        assert ("ambiguous" in details) if truth.ambiguous else ((",".join(truth.classes) or "none") in details)
        assert f'src="/live/clip/{window_id}"' in dashboard.audio.text and "autoplay" in dashboard.audio.text

    k = 2
    dashboard.predictions.selected.indices = [k]  # a model's bar on the timeline (or its point)
    check_selected(dashboard.predictions.data["window_id"][k])
    statuses = dashboard.truth.data["status"]
    j = statuses.index("ambiguous") if "ambiguous" in statuses else len(statuses) - 1
    dashboard.truth.selected.indices = [j]
    check_selected(dashboard.truth.data["window_id"][j])
    dashboard.spectrograms.selected.indices = [0]
    check_selected(dashboard.spectrograms.data["window_id"][0])


def test_bucket_seconds_shows_a_span_within_its_budget_in_round_buckets() -> None:
    from visualization.live import bucket_seconds

    assert bucket_seconds(3600, 120) is None  # an hour: every window
    assert bucket_seconds(86400, 120) == 900 and 86400 / 900 <= 120
    assert bucket_seconds(86400, 480) == 180 and bucket_seconds(6 * 3600, 480) == 60


def test_window_images_are_only_as_wide_as_the_screen_can_show() -> None:
    from visualization.live import SCREEN_COLUMNS, display_columns

    assert display_columns(600, None) == 45  # 10 minutes: 27 windows
    assert display_columns(3600, None) == 8 and 160 * 8 >= SCREEN_COLUMNS
    assert display_columns(86400, 900) == 13 and display_columns(60, None) == 64  # capped at the window's frames


@pytest.mark.integration
def test_a_day_is_shown_downsampled_across_its_whole_span_and_keeps_following(settings: Settings) -> None:
    """24 h of windows: the spectrogram as one tile per 15 min and each model's predictions summarised per
    3 min (most frequent class, mean confidence), spanning the whole day; new windows still stream in."""
    from collections import Counter

    model_id = registered_model(settings, "alpha")
    day = store_windows(settings, 3840)  # 24 h of windows 22.5 s apart
    with session_scope(settings.database_url) as session:
        add_predictions(session, [w.window_id for w in day], model_id, np.random.default_rng(8))
    dashboard, feed = watched(settings)
    dashboard.span.value = "24 hours"
    tiles = dashboard.spectrograms.data
    assert 90 <= len(tiles["x"]) <= 120
    assert set(np.diff(tiles["x"])) == {900_000.0} and set(tiles["dw"]) == {900_000.0}
    first_ms, last_ms = day[0].start_ms, day[-1].start_ms
    assert tiles["x"][0] <= first_ms + 900_000 and tiles["x"][-1] <= last_ms < tiles["x"][-1] + 900_000
    bars = dashboard.predictions.data
    assert 400 <= len(bars["id"]) <= 481 and set(bars["width"]) == {180_000.0}
    assert "tiles (a window per 15 min)" in dashboard.status.text and "(per 3 min)" in dashboard.status.text

    with session_scope(settings.database_url) as session:
        rows = session.execute(
            select(Window.start_time, Prediction.predicted, Prediction.confidence)
            .join(Prediction, Prediction.window_id == Window.id)
            .where(Prediction.model_id == model_id)
        ).all()
    k = len(bars["id"]) // 2
    bucket_start = bars["start"][k]
    inside = [r for r in rows if bucket_start <= r.start_time.timestamp() * 1000 < bucket_start + 180_000]
    counts = Counter(r.predicted[0] for r in inside)
    assert counts[bars["predicted"][k]] == max(counts.values())
    assert bars["confidence"][k] == pytest.approx(np.mean([r.confidence for r in inside]))

    shown = len(tiles["x"])
    store_windows(settings, 80, first=3840)  # 30 more minutes: two more buckets open
    feed.poll()
    after = dashboard.spectrograms.data
    assert len(after["x"]) - shown in (1, 2, 3) and set(after["dw"]) == {900_000.0}
    assert min(np.diff(after["x"])) >= 900_000.0  # never two tiles in one bucket


@pytest.mark.integration
def test_the_ais_map_shows_tracks_headings_range_and_bearing_and_the_truth_radius_in_use(
    settings: Settings, new_topic, tmp_path
) -> None:
    """WORLD's AIS through the AIS pipeline: each vessel's marker points along its heading (else course),
    its range and bearing lead from the hydrophone to it, its track is its stored positions of the last
    15 minutes, and the truth radius chosen is the ring drawn solid."""
    from oceanwatch.geo import GEOD

    labelled_world(settings, new_topic("map"), tmp_path)
    dashboard, _feed = watched(settings)
    data = dashboard.vessels.data
    assert len(data["mmsi"]) >= 2
    with session_scope(settings.database_url) as session:
        newest = session.scalar(select(func.max(Window.end_time)))
        positions = session.execute(
            select(AISPosition)
            .where(AISPosition.time >= newest - dt.timedelta(minutes=15), AISPosition.time <= newest)
            .order_by(AISPosition.time)
        ).scalars()
        by_vessel: dict[int, list[AISPosition]] = {}
        for p in positions:
            by_vessel.setdefault(p.mmsi, []).append(p)
    site = settings.hydrophone
    for i, mmsi in enumerate(data["mmsi"]):
        last = by_vessel[mmsi][-1]
        course = last.heading_deg if last.heading_deg is not None else last.cog_deg
        assert data["angle"][i] == pytest.approx(-math.radians(course) if course is not None else 0.0)
        lon, lat, _ = GEOD.fwd(site.lon, site.lat, data["bearing"][i], data["range_km"][i] * 1000)
        assert (lon, lat) == (pytest.approx(last.longitude, abs=1e-6), pytest.approx(last.latitude, abs=1e-6))
        assert 0 <= data["bearing"][i] < 360
        stored = {(p.longitude, p.latitude) for p in by_vessel[mmsi]}
        track = list(zip(data["track_lon"][i], data["track_lat"][i]))
        assert set(track) <= stored and len(track) >= min(2, len(stored))
        assert track[-1] != track[0] or len(stored) == 1
    rings = {r.name: r.glyph for r in dashboard.map_fig.renderers if (r.name or "").startswith("ring_")}
    assert set(rings) == {f"ring_{r}" for r in settings.truth.radii_km}
    assert rings["ring_20"].line_dash == [] and rings["ring_30"].line_dash != []
    dashboard.truth_radius.value = "30"
    assert rings["ring_30"].line_dash == [] and rings["ring_20"].line_dash != []
    coast = next(r for r in dashboard.map_fig.renderers if r.name == "ais_map_coast").data_source.data
    land = [
        shapely.Polygon(zip(xs, ys))
        for xs, ys, fill in zip(coast["xs"], coast["ys"], coast["fill_color"])
        if fill == plots.LAND_COLOR
    ]
    assert any(p.contains(shapely.Point(-121.80, 36.60)) for p in land)  # Seaside, on Monterey Bay
    assert not any(p.contains(shapely.Point(site.lon, site.lat)) for p in land)  # the hydrophone is at sea


@pytest.mark.integration
def test_replay_plays_a_past_stretch_forward_with_the_lanes_and_the_vessels_moving(
    settings: Settings, new_topic, tmp_path
) -> None:
    """WORLD through ingest, the AIS pipeline and the labeller, with one model's predictions: a replay from
    a picked time at 60× shows, tick by tick, exactly the windows (spectrogram, truth, predictions) that
    started by the replay time, the vessels where they were then, and stops at the newest data."""
    labelled_world(settings, new_topic("replay"), tmp_path)
    model_id = registered_model(settings, "alpha")
    with session_scope(settings.database_url) as session:
        windows = session.execute(select(Window.id, Window.start_time).order_by(Window.start_time)).all()
        add_predictions(session, [w.id for w in windows], model_id, np.random.default_rng(9))
    dashboard, _feed = watched(settings)
    dashboard.span.value = "10 minutes"
    begin = windows[0].start_time + dt.timedelta(seconds=60)
    dashboard.picker.value = begin.timestamp() * 1000

    def started_by(t: dt.datetime) -> list[int]:
        return [w.id for w in windows if begin - dt.timedelta(minutes=10) <= w.start_time <= t]

    def lanes() -> tuple[list[int], list[int], list[int]]:
        return (
            dashboard.spectrograms.data["window_id"],
            dashboard.predictions.data["window_id"],
            dashboard.truth.data["window_id"],
        )

    assert lanes() == (started_by(begin),) * 3
    dashboard.replay_speed.value = "60"
    dashboard.replay.active = True  # no document here: the test ticks by hand
    positions = list(zip(dashboard.vessels.data["lon"], dashboard.vessels.data["lat"]))
    dashboard.replay_tick(2.0)  # two seconds at 60×: two minutes of replay time
    at = begin + dt.timedelta(minutes=2)
    assert lanes() == (started_by(at),) * 3 and len(started_by(at)) > len(started_by(begin))
    assert list(zip(dashboard.vessels.data["lon"], dashboard.vessels.data["lat"])) != positions  # they moved
    assert "replaying at 60×" in dashboard.status.text
    dashboard.replay_speed.value = "5"
    dashboard.replay_tick(6.0)  # 30 s more
    assert lanes() == (started_by(at + dt.timedelta(seconds=30)),) * 3
    dashboard.replay_tick(3600.0)  # far past the newest window
    assert dashboard.replay.active is False and "reached the newest data" in dashboard.status.text
    assert dashboard.spectrograms.data["window_id"] == [
        w.id for w in windows if w.start_time >= begin - dt.timedelta(minutes=10)
    ]
    dashboard.follow.active = True
    assert "following live" in dashboard.status.text
