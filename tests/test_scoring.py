"""Metrics computed in Postgres agree with scikit-learn on the same windows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer
from sqlalchemy import text

from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import HumanLabel, Prediction, TruthLabel, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.scoring.measures import auroc_from_groups
from oceanwatch.scoring.reports import (
    Scope,
    calibration,
    calibrations,
    compare,
    report,
    reports,
    trend,
    trends,
    uncertainty_auroc,
    uncertainty_aurocs,
)
from oceanwatch.scoring.rollup import UNCERTAINTY_COLUMNS, refresh_rollup
from tests.modelkit import registered_model

pytestmark = pytest.mark.integration

CLASSES = ["A", "B", "C", "D", "E"]
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)  # a Monday


@pytest.fixture
def world(settings: Settings) -> dict:
    """400 windows over about 3 weeks with AIS truth at 20 km, some ambiguous, some multi-vessel, some reviewed."""
    url = settings.database_url
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
    rng = np.random.default_rng(7)
    rows = []
    mc, mc2, ml = (
        registered_model(settings, "mc"),
        registered_model(settings, "mc2"),
        registered_model(settings, "ml", task="multi_label"),
    )
    with session_scope(url) as s:
        for k in range(400):
            start = T0 + dt.timedelta(hours=1.3 * k)
            w = Window(
                hydrophone_id=settings.hydrophone.id,
                start_time=start,
                end_time=start + dt.timedelta(seconds=30),
                sample_rate=4000,
                channels=1,
                source="test",
            )
            s.add(w)
            s.flush()
            n_true = rng.choice([1, 1, 1, 2])
            truth = sorted(rng.choice(CLASSES[:4], n_true, replace=False).tolist()) if rng.random() < 0.7 else ["E"]
            ambiguous = bool(rng.random() < 0.1)
            s.add(TruthLabel(window_id=w.id, radius_km=20, classes=truth, ambiguous=ambiguous, vessels=[]))
            human = None
            if rng.random() < 0.08:
                human = [str(rng.choice(CLASSES))]
                s.add(HumanLabel(window_id=w.id, classes=human))
            for model_id in (mc, mc2, ml):
                if model_id == mc2 and k % 5 == 0:
                    continue  # mc2 missed some windows: comparisons use the common ones
                p = rng.dirichlet(np.ones(5) * 0.6)
                if rng.random() < 0.6:  # mostly right, so the scores are not chance
                    p = 0.5 * p + 0.5 * np.eye(5)[CLASSES.index((human or truth)[0])]
                if model_id == ml:
                    predicted = [c for c, v in zip(CLASSES, p) if v >= 0.3] or [CLASSES[int(p.argmax())]]
                else:
                    predicted = [CLASSES[int(p.argmax())]]
                entropy = float(-(p * np.log(p + 1e-12)).sum() / np.log(5))
                confidence = round(float(p.max()), 4) + 3e-5  # never on a bin edge, where float rounding differs
                s.add(
                    Prediction(
                        window_id=w.id,
                        model_id=model_id,
                        probabilities=p.astype(np.float32).tolist(),
                        predicted=predicted,
                        confidence=confidence,
                        entropy=round(entropy, 3),
                        epistemic=entropy / 3,
                        aleatoric=entropy * 2 / 3,
                    )
                )
                rows.append(
                    {
                        "model": model_id,
                        "window": w.id,
                        "start": start,
                        "truth": human or truth,
                        "scored": human is not None or not ambiguous,
                        "predicted": predicted,
                        "confidence": confidence,
                        "entropy": round(entropy, 3),
                    }
                )
    return {"url": url, "mc": mc, "mc2": mc2, "ml": ml, "rows": rows}


def single(rows: list[dict], model: int) -> list[dict]:
    return [r for r in rows if r["model"] == model and r["scored"] and len(r["truth"]) == 1]


def test_multiclass_report_matches_scikit_learn(world: dict) -> None:
    rows = single(world["rows"], world["mc"])
    y_true, y_pred = [r["truth"][0] for r in rows], [r["predicted"][0] for r in rows]
    with engine_for(world["url"]).connect() as conn:
        got = report(conn, Scope(world["mc"], 20))
    assert got["n"] == len(rows)
    assert got["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert got["confusion"] == confusion_matrix(y_true, y_pred, labels=CLASSES).tolist()
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        assert (got["precision"][average], got["recall"][average], got["f1"][average]) == pytest.approx((p, r, f))
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=CLASSES, zero_division=0)
    for i, c in enumerate(CLASSES):
        assert got["per_class"][c] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": support[i]}
        )


def test_multilabel_report_matches_scikit_learn(world: dict) -> None:
    rows = [r for r in world["rows"] if r["model"] == world["ml"] and r["scored"]]
    binarizer = MultiLabelBinarizer(classes=CLASSES)
    y_true, y_pred = (
        binarizer.fit_transform([r["truth"] for r in rows]),
        binarizer.transform([r["predicted"] for r in rows]),
    )
    with engine_for(world["url"]).connect() as conn:
        got = report(conn, Scope(world["ml"], 20))
    assert got["n"] == len(rows)
    assert got["subset_accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert got["f1"]["macro"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert got["f1"]["weighted"] == pytest.approx(f1_score(y_true, y_pred, average="weighted", zero_division=0))
    assert got["micro"]["f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro", zero_division=0))


def test_trend_calibration_and_uncertainty_auroc_match_direct_computation(world: dict) -> None:
    rows = single(world["rows"], world["mc"])
    with engine_for(world["url"]).connect() as conn:
        weekly = trend(conn, Scope(world["mc"], 20), "week")
        cal = calibration(conn, Scope(world["mc"], 20), n_bins=10)
        auroc = uncertainty_auroc(conn, Scope(world["mc"], 20), "entropy")
    assert [w["n"] for w in weekly] == [sum(1 for r in rows if (r["start"] - T0).days // 7 == k) for k in range(4)]
    week2 = [r for r in rows if (r["start"] - T0).days // 7 == 1]
    assert weekly[1]["macro_f1"] == pytest.approx(
        f1_score([r["truth"][0] for r in week2], [r["predicted"][0] for r in week2], average="macro")
    )

    conf = np.array([r["confidence"] for r in rows])
    correct = np.array([r["truth"][0] == r["predicted"][0] for r in rows])
    bins = np.minimum(np.floor(conf * 10) + 1, 10)  # width_bucket: [lower, upper), 1.0 in the top bin
    ece = sum(
        (bins == b).sum() / len(rows) * abs(correct[bins == b].mean() - conf[bins == b].mean()) for b in np.unique(bins)
    )
    assert cal["ece"] == pytest.approx(ece) and cal["n"] == len(rows)
    assert sum(b["count"] for b in cal["bins"]) == len(rows)

    errors = ~correct
    assert auroc == pytest.approx(roc_auc_score(errors, [r["entropy"] for r in rows]))


def test_models_are_compared_on_the_same_windows(world: dict) -> None:
    with engine_for(world["url"]).connect() as conn:
        both = compare(conn, [world["mc"], world["mc2"]], 20)
        alone = report(conn, Scope(world["mc"], 20))
    assert both[world["mc"]]["n"] == both[world["mc2"]]["n"] < alone["n"]
    common = {r["window"] for r in single(world["rows"], world["mc2"])}
    rows = [r for r in single(world["rows"], world["mc"]) if r["window"] in common]
    assert both[world["mc"]]["accuracy"] == pytest.approx(
        accuracy_score([r["truth"][0] for r in rows], [r["predicted"][0] for r in rows])
    )


def test_a_comparison_with_a_label_set_model_keeps_the_windows_every_model_predicted(world: dict) -> None:
    with engine_for(world["url"]).connect() as conn:
        three = compare(conn, [world["mc"], world["mc2"], world["ml"]], 20)
        two = compare(conn, [world["mc"], world["mc2"]], 20)
    by_mc2 = {r["window"] for r in world["rows"] if r["model"] == world["mc2"]}
    assert three[world["ml"]]["n"] == sum(
        1 for r in world["rows"] if r["model"] == world["ml"] and r["scored"] and r["window"] in by_mc2
    )
    assert three[world["mc"]] == two[world["mc"]]  # ml predicted every window: the same common windows


@pytest.mark.parametrize(
    "start",
    [None, T0 + dt.timedelta(days=7), T0 + dt.timedelta(days=7, seconds=1)],
    ids=["all-history", "whole-days", "cut-day"],
)
def test_models_scored_together_get_what_each_gets_alone(world: dict, start: dt.datetime | None) -> None:
    """One query per kind of tally for several models (rollup for whole days, raw rows otherwise)."""
    engine = engine_for(world["url"])
    refresh_rollup(engine)
    models = [world["mc"], world["mc2"], world["ml"]]
    scopes = [Scope(m, 20, start) for m in models]
    with engine.connect() as conn:
        assert reports(conn, scopes) == {m: report(conn, Scope(m, 20, start)) for m in models}
        assert trends(conn, scopes, "week") == {m: trend(conn, Scope(m, 20, start), "week") for m in models}
        together = calibrations(conn, scopes)
        for m in models:  # sums of confidences: equal to rounding, in whatever order Postgres adds them
            alone = calibration(conn, Scope(m, 20, start))
            assert together[m]["ece"] == pytest.approx(alone["ece"])
            assert together[m]["bins"] == [pytest.approx(b) for b in alone["bins"]]
        assert uncertainty_aurocs(conn, scopes) == {
            m: {metric: uncertainty_auroc(conn, Scope(m, 20, start), metric) for metric in UNCERTAINTY_COLUMNS}
            for m in models
        }
        assert list(reports(conn, scopes[::-1])) == models[::-1]  # in the order asked
        with pytest.raises(ValueError, match="share"):
            reports(conn, [Scope(world["mc"], 20), Scope(world["mc2"], 30)])


def test_time_range_restricts_scoring(world: dict) -> None:
    start, end = T0 + dt.timedelta(days=7), T0 + dt.timedelta(days=10)
    rows = [r for r in single(world["rows"], world["mc"]) if start <= r["start"] < end]
    with engine_for(world["url"]).connect() as conn:
        got = report(conn, Scope(world["mc"], 20, start, end))
    assert got["n"] == len(rows) > 0


def test_rollup_follows_new_labels_and_agrees_with_the_raw_rows(world: dict) -> None:
    start_raw = T0 + dt.timedelta(days=7, seconds=1)  # not day-aligned: answered from the raw rows
    start_day = T0 + dt.timedelta(days=7)
    engine = engine_for(world["url"])
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from score_daily")).scalar_one() == 0
        from_raw = report(conn, Scope(world["mc"], 20))  # 22 dirty days: answered from the raw rows
        auroc_raw = uncertainty_auroc(conn, Scope(world["mc"], 20), "entropy")
    assert refresh_rollup(engine) == 22  # what the labeller's loop does
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from score_dirty")).scalar_one() == 0
        before = report(conn, Scope(world["mc"], 20))
        assert before == from_raw, "the rollup answers exactly what the raw rows do"
        assert uncertainty_auroc(conn, Scope(world["mc"], 20), "entropy") == pytest.approx(auroc_raw, abs=0.01)
        raw = report(conn, Scope(world["mc"], 20, start_raw))
        rolled = report(conn, Scope(world["mc"], 20, start_day))
    first = next(r for r in single(world["rows"], world["mc"]) if r["start"] >= start_day)
    if first["start"] >= start_raw:
        assert raw["confusion"] == rolled["confusion"]
    # A reviewer relabels every scored window of the first day as "B": the rollup must follow.
    first_day = [r["window"] for r in single(world["rows"], world["mc"]) if r["start"] < T0 + dt.timedelta(days=1)]
    with session_scope(world["url"]) as s:
        for window_id in first_day:
            s.merge(HumanLabel(window_id=window_id, classes=["B"]))
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from score_dirty")).scalar_one() == 1
        after = report(conn, Scope(world["mc"], 20))  # one dirty day: refreshed before the read
        assert conn.execute(text("select count(*) from score_dirty")).scalar_one() == 0
    expected = [dict(r, truth=["B"]) if r["window"] in first_day else r for r in single(world["rows"], world["mc"])]
    assert (
        after["confusion"]
        == confusion_matrix(
            [r["truth"][0] for r in expected], [r["predicted"][0] for r in expected], labels=CLASSES
        ).tolist()
    )
    assert after["confusion"] != before["confusion"]


def test_auroc_from_tie_groups_counts_ties_half() -> None:
    assert auroc_from_groups([(0.1, 0, 2), (0.5, 1, 1), (0.9, 1, 0)]) == pytest.approx(
        roc_auc_score([0, 0, 1, 0, 1], [0.1, 0.1, 0.5, 0.5, 0.9])
    )
    assert auroc_from_groups([(0.2, 0, 3)]) is None
