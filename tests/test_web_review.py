"""The review queue (ranked in SQL, checked here against numpy on the same rows), human labels,
feedback on predictions and its counts, and human labels overriding AIS truth in the scores."""

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import select

from app import create_app
from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import (
    AuditLog,
    HumanLabel,
    ModelStatus,
    Prediction,
    PredictionFeedback,
    TruthLabel,
    Vessel,
)
from oceanwatch.scoring import reports as scoring
from oceanwatch.testing.synthetic import T0, store_windows
from tests.modelkit import CLASSES, TINY_SPEC, registered_model
from tests.predictionkit import add_predictions
from tests.webkit import csrf_token, logged_in, make_token, make_user

pytestmark = pytest.mark.integration


@pytest.fixture
def app(settings: Settings):
    return create_app(settings=settings)


@pytest.fixture
def client(app, settings: Settings):
    """An operator's API client: (test client, auth headers)."""
    token = make_token(settings, make_user(settings, "reviewer", "operator"))
    return app.test_client(), {"Authorization": f"Bearer {token}"}


@pytest.fixture
def world(settings: Settings) -> dict:
    """30 windows, three active models and one inactive, AIS truth on most windows at 20 km."""
    windows = [m.window_id for m in store_windows(settings, 30, spec=TINY_SPEC)]
    rng = np.random.default_rng(7)
    models = [registered_model(settings, n) for n in ("alpha", "beta", "gamma")]
    old = registered_model(settings, "old", status=ModelStatus.INACTIVE)
    with session_scope(settings.database_url) as session:
        agreed = {w: "D" for w in windows[:8]}  # the three active models agree on these
        for m in models:
            add_predictions(session, windows, m, rng, agreed)
        add_predictions(session, windows, old, rng)
        for w in windows[2:]:
            classes = sorted(rng.choice(CLASSES, size=int(rng.integers(1, 3)), replace=False).tolist())
            session.add(
                TruthLabel(
                    window_id=w,
                    radius_km=20,
                    classes=classes,
                    ambiguous=bool(rng.random() < 0.2),
                    vessels=[],
                    buffer_vessels=[],
                )
            )
    return {"windows": windows, "models": models, "old": old}


def _rows(settings: Settings, model_ids: list[int]) -> list[Prediction]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(Prediction).where(Prediction.model_id.in_(model_ids))))


def _labelled(settings: Settings) -> set[int]:
    with session_scope(settings.database_url) as session:
        return set(session.scalars(select(HumanLabel.window_id)))


def _expected(
    settings: Settings, strategy: str, model_ids: list[int], limit: int = 1000, keep=lambda window_id: True
) -> list[int]:
    """The queue computed with numpy from the stored rows (best prediction per window, then sorted)."""
    done = _labelled(settings)
    rows = [r for r in _rows(settings, model_ids) if r.window_id not in done and keep(r.window_id)]
    if strategy == "disagreement":
        by_window: dict[int, list[Prediction]] = {}
        for r in rows:
            by_window.setdefault(r.window_id, []).append(r)
        ranked = []
        for w, preds in by_window.items():
            distinct = len({tuple(p.predicted) for p in preds})
            if distinct > 1:
                ranked.append((-distinct, -float(np.mean([p.entropy for p in preds])), w))
        return [w for *_, w in sorted(ranked)][:limit]
    if strategy == "truth_disagreement":
        with session_scope(settings.database_url) as session:
            truth = {t.window_id: t for t in session.scalars(select(TruthLabel).where(TruthLabel.radius_km == 20))}
        rows = [
            r
            for r in rows
            if r.window_id in truth
            and not truth[r.window_id].ambiguous
            and set(truth[r.window_id].classes) != set(r.predicted)
        ]
    if strategy == "margin":

        def score(r):
            top = np.sort(np.asarray(r.probabilities, dtype=np.float32))[::-1]
            return float(top[0] - top[1])

        sign = 1
    else:
        column = {"entropy": "entropy", "epistemic": "epistemic", "truth_disagreement": "confidence"}[strategy]

        def score(r):
            return float(getattr(r, column))

        sign = -1
    best: dict[int, float] = {}
    for r in rows:
        s = sign * score(r)
        best[r.window_id] = min(best.get(r.window_id, np.inf), s)
    return [w for w, _ in sorted(best.items(), key=lambda item: (item[1], item[0]))][:limit]


@pytest.mark.parametrize("strategy", ["entropy", "margin", "epistemic", "disagreement", "truth_disagreement"])
def test_sql_ranking_matches_numpy_on_the_same_rows(client, settings: Settings, world, strategy: str) -> None:
    c, auth = client
    got = c.get("/api/v1/review", headers=auth, query_string={"strategy": strategy, "limit": 1000})
    assert got.status_code == 200, got.json
    ranked = [r["window_id"] for r in got.json["windows"]]
    assert ranked == _expected(settings, strategy, world["models"])
    assert len(ranked) > 3
    limited = c.get("/api/v1/review", headers=auth, query_string={"strategy": strategy, "limit": 3}).json["windows"]
    assert [r["window_id"] for r in limited] == ranked[:3]
    if strategy == "disagreement":
        assert not set(ranked) & set(world["windows"][:8])  # windows all models agree on never show


def test_one_models_queue_time_range_and_labelled_windows_left_out(client, settings: Settings, world) -> None:
    c, auth = client
    old = world["old"]
    got = c.get("/api/v1/review", headers=auth, query_string={"strategy": "entropy", "model_id": old}).json
    assert [r["window_id"] for r in got["windows"]] == _expected(settings, "entropy", [old], limit=50)
    assert {r["model_id"] for r in got["windows"]} == {old}  # an inactive model can be reviewed by name

    start, end = T0 + dt.timedelta(seconds=22.5 * 5), T0 + dt.timedelta(seconds=22.5 * 15)
    inside = set(world["windows"][5:15])
    got = c.get(
        "/api/v1/review",
        headers=auth,
        query_string={"strategy": "margin", "start": start.isoformat(), "end": end.isoformat()},
    ).json
    assert [r["window_id"] for r in got["windows"]] == _expected(
        settings, "margin", world["models"], keep=lambda w: w in inside
    )

    top = c.get("/api/v1/review", headers=auth, query_string={"strategy": "entropy"}).json["windows"][0]["window_id"]
    labelled = c.post(f"/api/v1/windows/{top}/label", headers=auth, json={"classes": ["B"], "note": "heard a yacht"})
    assert labelled.status_code == 200
    for strategy in ("entropy", "margin", "epistemic", "disagreement", "truth_disagreement"):
        ranked = [
            r["window_id"]
            for r in c.get("/api/v1/review", headers=auth, query_string={"strategy": strategy, "limit": 1000}).json[
                "windows"
            ]
        ]
        assert top not in ranked
        assert ranked == _expected(settings, strategy, world["models"])


def test_the_queue_of_one_site_is_the_whole_queue_at_that_site(client, settings: Settings) -> None:
    c, auth = client
    windows = store_windows(settings, 24, spec=TINY_SPEC, hydrophones=3)
    models = [registered_model(settings, n) for n in ("alpha", "beta")]
    rng = np.random.default_rng(5)
    with session_scope(settings.database_url) as session:
        for m in models:
            add_predictions(session, [w.window_id for w in windows], m, rng)
    site_of = {w.window_id: w.hydrophone_id for w in windows}
    for strategy in ("entropy", "disagreement"):
        everything = c.get("/api/v1/review", headers=auth, query_string={"strategy": strategy, "limit": 1000}).json
        at_h1 = c.get(
            "/api/v1/review", headers=auth, query_string={"strategy": strategy, "limit": 1000, "site": "H1"}
        ).json
        expected = [r["window_id"] for r in everything["windows"] if site_of[r["window_id"]] == "H1"]
        assert expected and [r["window_id"] for r in at_h1["windows"]] == expected
        assert {r["hydrophone_id"] for r in at_h1["windows"]} == {"H1"}
    unknown = c.get("/api/v1/review", headers=auth, query_string={"site": "ATLANTIS"})
    assert unknown.status_code == 400 and "site" in unknown.json["error"]


@pytest.mark.parametrize(
    "query, message",
    [
        ({"strategy": "loudest"}, "strategy"),
        ({"radius_km": "15"}, "radius_km"),
        ({"radius_km": "far"}, "radius_km"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"start": "last week"}, "ISO 8601"),
        ({"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start is after end"),
        ({"model_id": "alpha"}, "model_id"),
    ],
)
def test_bad_queue_parameters_get_a_400(client, query: dict, message: str) -> None:
    c, auth = client
    response = c.get("/api/v1/review", headers=auth, query_string=query)
    assert response.status_code == 400 and message in response.json["error"]


def test_labels_are_validated_stored_with_who_and_audited(client, app, settings: Settings, world) -> None:
    c, auth = client
    w = world["windows"][3]
    for body, status, message in [
        ({"classes": ["Z"]}, 400, "unknown Z"),
        ({"classes": []}, 400, "at least one"),
        ({"classes": "A"}, 400, "list"),
        ({"note": "x"}, 400, "list"),
        ({"classes": ["A"], "note": 5}, 400, "note"),
    ]:
        response = c.post(f"/api/v1/windows/{w}/label", headers=auth, json=body)
        assert response.status_code == status and message in response.json["error"], (body, response.json)
    assert c.post(f"/api/v1/windows/{w}/label", headers=auth, data="A").status_code == 400
    assert c.post("/api/v1/windows/999999/label", headers=auth, json={"classes": ["A"]}).status_code == 404
    assert c.post(f"/api/v1/windows/{w}/label", headers=auth, json={"classes": ["C", "A", "C"]}).status_code == 200
    assert c.post(f"/api/v1/windows/{w}/label", headers=auth, json={"classes": ["E"], "note": "no ship"}).json[
        "classes"
    ] == ["E"]
    with session_scope(settings.database_url) as session:
        label = session.get(HumanLabel, w)
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "window.label").order_by(AuditLog.id)).all()
    assert label.classes == ["E"] and label.note == "no ship" and label.user_id is not None
    assert [a.details["classes"] for a in audit] == [["A", "C"], ["E"]]  # canonical order, no duplicates
    assert audit[1].details["previous"] == ["A", "C"] and audit[1].user_id == label.user_id
    viewer = make_token(settings, make_user(settings, "watcher", "viewer"))
    assert (
        c.post(
            f"/api/v1/windows/{w}/label", headers={"Authorization": f"Bearer {viewer}"}, json={"classes": ["A"]}
        ).status_code
        == 403
    )
    assert c.get("/api/v1/review", headers={"Authorization": f"Bearer {viewer}"}).status_code == 403


def _prediction(settings: Settings, window_id: int, model_id: int) -> Prediction:
    with session_scope(settings.database_url) as session:
        return session.scalars(
            select(Prediction).where(Prediction.window_id == window_id, Prediction.model_id == model_id)
        ).one()


def test_feedback_is_one_per_person_and_counted_per_model(app, settings: Settings, world) -> None:
    model = world["models"][0]
    tokens = [make_token(settings, make_user(settings, f"op{i}", "operator")) for i in range(3)]
    c = app.test_client()
    verdicts = [  # (user, window index, verdict, classes)
        (0, 0, "correct", None),
        (1, 0, "wrong", ["A"]),
        (0, 1, "wrong", []),
        (2, 2, "wrong", ["B", "E"]),
        (1, 3, "correct", []),
        (0, 0, "wrong", ["C"]),  # user 0 changes their mind on window 0
    ]
    final: dict[tuple[int, int], tuple[str, list[str]]] = {}
    for user, index, verdict, classes in verdicts:
        p = _prediction(settings, world["windows"][index], model)
        body = {"verdict": verdict} if classes is None else {"verdict": verdict, "correct_classes": classes}
        response = c.post(
            f"/api/v1/predictions/{p.id}/feedback", headers={"Authorization": f"Bearer {tokens[user]}"}, json=body
        )
        assert response.status_code == 200, response.json
        assert response.json["labelled_window"] == bool(verdict == "wrong" and classes)
        final[(user, p.id)] = (verdict, classes or [])
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(PredictionFeedback.id).order_by(PredictionFeedback.id.desc()).limit(1)) and len(
            session.scalars(select(PredictionFeedback)).all()
        ) == len(final)
        predicted = {p.id: p.predicted for p in session.scalars(select(Prediction).where(Prediction.model_id == model))}
    counts = c.get(f"/api/v1/models/{model}/feedback", headers={"Authorization": f"Bearer {tokens[0]}"}).json
    verdict_list = [v for v, _ in final.values()]
    assert (counts["correct"], counts["wrong"]) == (verdict_list.count("correct"), verdict_list.count("wrong"))
    expected_confusion: dict[tuple[str, str | None], int] = {}
    for (_, pid), (verdict, classes) in final.items():
        shown = "+".join(predicted[pid])
        labelled = shown if verdict == "correct" else ("+".join(classes) or None)
        expected_confusion[(shown, labelled)] = expected_confusion.get((shown, labelled), 0) + 1
    assert {(r["predicted"], r["labelled"]): r["count"] for r in counts["confusion"]} == expected_confusion
    per_class = {}
    for (_, pid), (verdict, _) in final.items():
        for cls in predicted[pid]:
            per_class.setdefault(cls, {"correct": 0, "wrong": 0})[verdict] += 1
    assert counts["per_class"] == per_class
    with session_scope(settings.database_url) as session:
        labels = {h.window_id: h.classes for h in session.scalars(select(HumanLabel))}
    assert labels == {world["windows"][0]: ["C"], world["windows"][2]: ["B", "E"]}  # the latest "wrong" wins


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"verdict": "maybe"}, 400, "verdict"),
        ({"verdict": "wrong", "correct_classes": ["Q"]}, 400, "unknown Q"),
        ({"verdict": "correct", "correct_classes": ["A"]}, 400, "only with verdict wrong"),
        ({"verdict": "wrong", "correct_classes": "A"}, 400, "list"),
    ],
)
def test_bad_feedback_is_refused(client, settings: Settings, world, body, status, message) -> None:
    c, auth = client
    p = _prediction(settings, world["windows"][0], world["models"][0])
    response = c.post(f"/api/v1/predictions/{p.id}/feedback", headers=auth, json=body)
    assert response.status_code == status and message in response.json["error"]
    assert c.post("/api/v1/predictions/99999999/feedback", headers=auth, json={"verdict": "correct"}).status_code == 404
    assert c.get("/api/v1/models/99999/feedback", headers=auth).status_code == 404
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(PredictionFeedback)).all() == []


def test_a_wrong_verdict_with_classes_overrides_ais_truth_in_the_scores(client, settings: Settings) -> None:
    c, auth = client
    windows = [m.window_id for m in store_windows(settings, 4, spec=TINY_SPEC)]
    model = registered_model(settings, "scored")
    with session_scope(settings.database_url) as session:
        for w in windows:
            session.add(
                TruthLabel(window_id=w, radius_km=20, classes=["A"], ambiguous=False, vessels=[], buffer_vessels=[])
            )
            session.add(
                Prediction(
                    window_id=w,
                    model_id=model,
                    probabilities=[0.9, 0.025, 0.025, 0.025, 0.025],
                    predicted=["A"],
                    confidence=0.9,
                    entropy=0.2,
                )
            )

    def report() -> dict:
        with engine_for(settings.database_url).connect() as conn:
            return scoring.report(conn, scoring.Scope(model, 20))

    before = report()
    assert before["accuracy"] == 1.0 and before["confusion"][0][0] == len(windows)
    p = _prediction(settings, windows[0], model)
    assert (
        c.post(
            f"/api/v1/predictions/{p.id}/feedback", headers=auth, json={"verdict": "wrong", "correct_classes": ["C"]}
        ).status_code
        == 200
    )
    after = report()
    a, c_ = CLASSES.index("A"), CLASSES.index("C")
    assert after["confusion"][c_][a] == 1 and after["confusion"][a][a] == len(windows) - 1
    assert after["accuracy"] == pytest.approx((len(windows) - 1) / len(windows))


def test_review_pages_list_show_context_and_label(app, settings: Settings, world) -> None:
    w = world["windows"][10]
    with session_scope(settings.database_url) as session:
        session.add(Vessel(mmsi=366000111, name="EVER GIVEN", ship_type=70, ship_type_text="Cargo"))
        session.add(Vessel(mmsi=366000222, name="SEA BREEZE", ship_type=37))
        session.merge(
            TruthLabel(
                window_id=w,
                radius_km=20,
                classes=["D"],
                ambiguous=False,
                vessels=[366000111],
                buffer_vessels=[366000222],
            )
        )
    operator = logged_in(app, settings, "operator")
    listing = operator.get("/review/?strategy=epistemic&limit=10")
    html = listing.get_data(as_text=True)
    assert listing.status_code == 200 and html.count('class="review-row"') == 10
    expected = _expected(settings, "epistemic", world["models"], limit=10)
    assert [int(x) for x in __import__("re").findall(r'class="review-row" data-window="(\d+)"', html)] == expected
    assert operator.get("/review/?strategy=nope").status_code == 400

    detail = operator.get(f"/review/{w}")
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200 and 'src="data:image/png;base64,' in html
    assert "EVER GIVEN" in html and "Cargo" in html and "SEA BREEZE" in html
    assert html.count('id="prediction-') == 4  # every model's output, the inactive one too
    assert operator.get("/review/9999999").status_code == 404

    token = csrf_token(operator, f"/review/{w}")
    saved = operator.post(f"/review/{w}/label", data={"csrf_token": token, "classes": ["D"], "note": "AIS right"})
    assert saved.status_code == 303
    assert "AIS right" in operator.get(f"/review/{w}").get_data(as_text=True)
    bad = operator.post(f"/review/{w}/label", data={"csrf_token": token}, follow_redirects=True)
    assert "at least one" in bad.get_data(as_text=True)
    p = _prediction(settings, w, world["models"][1])
    operator.post(
        f"/review/predictions/{p.id}/feedback", data={"csrf_token": token, "verdict": "correct", "window_id": w}
    )
    with session_scope(settings.database_url) as session:
        assert session.get(HumanLabel, w).classes == ["D"]
        assert session.scalars(select(PredictionFeedback.verdict)).all() == ["correct"]
    assert operator.get(f"/review/{w}").get_data(as_text=True).count("you said correct") == 1
    assert operator.post(f"/review/{w}/label", data={"classes": ["D"]}).status_code == 400  # no CSRF token
    viewer = logged_in(app, settings, "viewer")
    assert viewer.get("/review/").status_code == 403 and viewer.get(f"/review/{w}").status_code == 403


def test_the_window_page_leads_back_to_the_same_queue_and_never_off_site(app, settings: Settings, world) -> None:
    operator = logged_in(app, settings, "operator")
    queue = "/review/?strategy=margin&limit=5"
    html = operator.get(queue).get_data(as_text=True)
    link = __import__("re").search(r'href="(/review/\d+\?back=[^"]+)"', html).group(1).replace("&amp;", "&")
    window = operator.get(link).get_data(as_text=True)
    assert 'href="/review/?strategy=margin&amp;limit=5" id="back-to-queue"' in window
    w = int(link.split("?")[0].rsplit("/", 1)[1])
    token = csrf_token(operator, link)
    saved = operator.post(f"/review/{w}/label", data={"csrf_token": token, "classes": ["A"], "back": queue})
    assert saved.status_code == 303 and "back=/review/?strategy%3Dmargin%26limit%3D5" in saved.headers["Location"]
    for evil in ("https://evil.example/", "//evil.example/review/", "/live/"):
        page = operator.get(f"/review/{w}", query_string={"back": evil}).get_data(as_text=True)
        assert 'href="/review/" id="back-to-queue"' in page, evil
