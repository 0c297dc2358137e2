"""Events: windows where active models disagree, contradict AIS truth or are uncertain - over a world
stored as the services store it (ingest's windows, the AIS pipeline's tracks, the labeller's truth, the
predict stream's writer) - listed by the API newest first, counted per hour, matched by the review
queue, and summed up per site on the home page."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from sqlalchemy import select

from app import create_app
from oceanwatch.config import Settings
from oceanwatch.db import session_scope
from oceanwatch.db.models import ModelStatus, TruthLabel, Window
from oceanwatch.inference.predictions import store_predictions
from tests.modelkit import CLASSES, registered_model
from tests.pipelinekit import labelled_world
from tests.webkit import logged_in, make_token, make_user

pytestmark = pytest.mark.integration

RADIUS = 20
ENTROPY_MIN = 0.8


def _predict(session, window_ids: list[int], model_id: int, answers: dict[int, tuple[str, float]]) -> None:
    """Store one prediction per window through the predict stream's writer: its class and entropy given."""
    rows = []
    for w in window_ids:
        cls, entropy = answers[w]
        p = np.full(len(CLASSES), 0.05)
        p[CLASSES.index(cls)] = 1 - 0.05 * (len(CLASSES) - 1)
        rows.append(
            {
                "window_id": w,
                "model_id": model_id,
                "probabilities": p.tolist(),
                "predicted": [cls],
                "confidence": float(p.max()),
                "entropy": entropy,
                "epistemic": entropy / 2,
                "aleatoric": entropy / 2,
            }
        )
    store_predictions(session, rows)


@pytest.fixture
def world(settings: Settings, new_topic, tmp_path) -> dict:
    """The simulated world's windows with truth, two active models and an inactive one predicting on them."""
    labelled_world(settings, new_topic("events"), tmp_path)
    with session_scope(settings.database_url) as session:
        windows = list(session.scalars(select(Window.id).order_by(Window.start_time)))
        truth = {t.window_id: t for t in session.scalars(select(TruthLabel).where(TruthLabel.radius_km == RADIUS))}
        truth = {w: (None if t.ambiguous else set(t.classes)) for w, t in truth.items()}
    assert len(windows) >= 12
    alpha, beta = registered_model(settings, "alpha"), registered_model(settings, "beta")
    old = registered_model(settings, "old", status=ModelStatus.INACTIVE)
    rng = np.random.default_rng(3)
    answers: dict[int, dict[int, tuple[str, float]]] = {alpha: {}, beta: {}, old: {}}
    for i, w in enumerate(windows):
        right = sorted(truth.get(w) or {"E"})[0]
        wrong = next(c for c in CLASSES if c != right)
        a = right if i % 3 else wrong  # alpha contradicts truth on every third window
        b = a if i % 4 else next(c for c in CLASSES if c != a)  # beta disagrees with alpha on every fourth
        answers[alpha][w] = (a, 0.9 if i % 5 == 0 else float(rng.uniform(0, 0.7)))
        answers[beta][w] = (b, float(rng.uniform(0, 0.7)))
        answers[old][w] = (wrong, 0.99)  # an inactive model makes no event, however wrong or unsure
    with session_scope(settings.database_url) as session:
        for model_id, by_window in answers.items():
            _predict(session, windows, model_id, by_window)
    return {"windows": windows, "truth": truth, "answers": answers, "active": (alpha, beta)}


def expected_events(world: dict) -> dict[int, set[str]]:
    """The rules applied in Python to what the world holds: the oracle the SQL is checked against."""
    out = {}
    for w in world["windows"]:
        answers = [world["answers"][m][w] for m in world["active"]]
        kinds = set()
        if len({cls for cls, _ in answers}) > 1:
            kinds.add("disagreement")
        truth = world["truth"].get(w)
        if truth is not None and any({cls} != truth for cls, _ in answers):
            kinds.add("contradicts_truth")
        if any(entropy >= ENTROPY_MIN for _, entropy in answers):
            kinds.add("high_uncertainty")
        if kinds:
            out[w] = kinds
    return out


@pytest.fixture
def api(settings: Settings):
    app = create_app(settings=settings.updated(events={"entropy_min": ENTROPY_MIN}))
    token = make_token(settings, make_user(settings, "watch", "viewer"))
    return app, {"Authorization": f"Bearer {token}"}


def _span(settings: Settings) -> dict[str, str]:
    with session_scope(settings.database_url) as session:
        first, last = (
            session.execute(select(Window.start_time).order_by(Window.start_time).limit(1)).scalar_one(),
            session.execute(select(Window.start_time).order_by(Window.start_time.desc()).limit(1)).scalar_one(),
        )
    return {"start": (first - dt.timedelta(hours=1)).isoformat(), "end": (last + dt.timedelta(seconds=1)).isoformat()}


def test_events_are_the_windows_the_rules_pick_newest_first_and_by_kind(settings: Settings, world, api) -> None:
    app, headers = api
    client = app.test_client()
    expected = expected_events(world)
    assert {"disagreement", "contradicts_truth", "high_uncertainty"} <= set().union(*expected.values())
    assert len(expected) < len(world["windows"])  # some windows are quiet
    span = _span(settings)
    got = client.get("/api/v1/events", query_string={**span, "site": settings.hydrophone.id}, headers=headers)
    assert got.status_code == 200, got.json
    events = got.json["events"]
    assert {e["window_id"]: set(e["kinds"]) for e in events} == expected
    starts = [e["start_time"] for e in events]
    assert starts == sorted(starts, reverse=True)
    alpha, beta = world["active"]
    for e in events:
        contradicting = {
            m
            for m in world["active"]
            if world["truth"].get(e["window_id"]) is not None
            and {world["answers"][m][e["window_id"]][0]} != world["truth"][e["window_id"]]
        }
        assert set(e["contradicting_models"]) == contradicting and e["models"] == 2 and not e["reviewed"]

    only = client.get(
        "/api/v1/events", query_string={**span, "kind": "disagreement,high_uncertainty", "limit": 3}, headers=headers
    ).json["events"]
    wanted = sorted((w for w, k in expected.items() if k & {"disagreement", "high_uncertainty"}), reverse=True)
    assert [e["window_id"] for e in only] == wanted[:3]  # window ids grow with start time in this world

    hours = client.get("/api/v1/events/hourly", query_string=span, headers=headers).json["hours"]
    assert sum(h["events"] for h in hours) == len(expected)
    for kind in ("disagreement", "contradicts_truth", "high_uncertainty"):
        assert sum(h[kind] for h in hours) == sum(kind in k for k in expected.values())


@pytest.mark.parametrize(
    ("query", "message"),
    [({"kind": "loud"}, "kind: one or more of"), ({"site": "nowhere"}, "no site"), ({"start": "yesterday"}, "start")],
)
def test_bad_event_queries_get_a_400_naming_the_problem(api, query: dict, message: str) -> None:
    app, headers = api
    got = app.test_client().get("/api/v1/events", query_string=query, headers=headers)
    assert got.status_code == 400 and message in got.json["error"]


def test_the_review_queue_finds_the_same_disagreements_and_contradictions(settings: Settings, world, api) -> None:
    app, _ = api
    token = make_token(settings, make_user(settings, "reviewer", "operator"))
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    expected = expected_events(world)
    for strategy, kind in (("disagreement", "disagreement"), ("truth_disagreement", "contradicts_truth")):
        queue = client.get("/api/v1/review", query_string={"strategy": strategy, "limit": 1000}, headers=headers).json[
            "windows"
        ]
        assert {w["window_id"] for w in queue} == {w for w, k in expected.items() if kind in k}


def test_the_home_page_sums_up_each_site(settings: Settings, world) -> None:
    app = create_app(settings=settings.updated(events={"entropy_min": ENTROPY_MIN}))
    client = logged_in(app, settings, "viewer")
    assert client.get("/").headers["Location"].endswith("/home/")
    page = client.get("/home/").get_data(as_text=True)
    row = re.search(rf'<tr id="home-{settings.hydrophone.id}".*?</tr>', page, re.S)
    assert row, page
    row_html = row.group(0)
    expected = expected_events(world)
    today = re.search(r'class="events-today num"><a [^>]*>(\d+)</a>', row_html)
    assert today and int(today.group(1)) == len(expected)  # the whole world lies within one UTC day
    assert "2 of 2" in row_html and "alpha v1" in row_html and "old v1" not in row_html
    bars = [int(x) for x in re.findall(r'data-events="(\d+)"', row_html)]
    assert len(bars) == 24 and sum(bars) == len(expected)
    labelled = sum(1 for w in world["windows"] if world["truth"].get(w) is not None)
    ambiguous = sum(1 for w in world["windows"] if w in world["truth"] and world["truth"][w] is None)
    assert f"{labelled} labelled, {ambiguous} ambiguous" in row_html
    for link in ("/live/?site=", "/review/?site=", "/scores/?site="):
        assert link + settings.hydrophone.id in row_html
