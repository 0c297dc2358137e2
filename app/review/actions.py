"""People in the loop: the review queue, a window's full context, human labels and feedback.

The queue is ranked in Postgres (one query per strategy, `limit` rows back), never by
loading predictions into Python.  Windows that already carry a human label are done and
never come back.  A human label overrides AIS truth everywhere labels are used
(`oceanwatch.scoring.scores` prefers it), so every label and verdict is audited with who and when.
A request that cannot be done is an `InputError` (400, or 404 for an unknown window, prediction or model).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from app.api.args import int_arg, iso, parse_site, radius_arg, time_arg
from app.web.errors import InputError
from app.web.extensions import db
from oceanwatch.db.audit import record
from oceanwatch.db.clauses import time_range
from oceanwatch.db.models import (
    HumanLabel,
    MLModel,
    ModelStatus,
    Prediction,
    PredictionFeedback,
    ShipClass,
    Spectrogram,
    User,
    Window,
)
from oceanwatch.events import rules
from oceanwatch.inference.outputs import window_outputs
from oceanwatch.messages import PackedArray
from oceanwatch.truth.labels import window_truths

STRATEGIES = {
    "entropy": "highest normalised predictive entropy",
    "margin": "smallest gap between the two highest probabilities",
    "epistemic": "highest epistemic uncertainty (mutual information of the MC passes)",
    "disagreement": "active models predict different classes (most distinct answers, then mean entropy)",
    "truth_disagreement": "prediction differs from unambiguous AIS truth at the radius (most confident first)",
}
VERDICTS = ("correct", "wrong")
MAX_QUEUE = 1000

# Per-prediction strategies: (score SQL, extra join, extra condition, sort direction).
_MARGIN_JOIN = """cross join lateral (
    select coalesce(max(x) filter (where k = 1), 0) - coalesce(max(x) filter (where k = 2), 0) as margin
    from (select x, row_number() over (order by x desc) as k from unnest(p.probabilities) as x) as top) as m"""
_PER_PREDICTION = {
    "entropy": ("p.entropy", "", "", "desc"),
    "margin": ("m.margin", _MARGIN_JOIN, "", "asc"),
    "epistemic": ("p.epistemic", "", "", "desc"),
    "truth_disagreement": (
        "p.confidence",
        f"join {rules.TRUTH_JOIN}",
        f"and {rules.CONTRADICTS_TRUTH}",
        "desc",
    ),
}


@dataclass(frozen=True)
class QueueQuery:
    strategy: str = "entropy"
    model_id: int | None = None
    radius_km: int = 20
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    limit: int = 50
    site: str | None = None


def queue_query() -> QueueQuery:
    """A QueueQuery from the request's arguments; InputError for anything unusable (the page and the API)."""
    strategy = request.args.get("strategy") or "entropy"
    if strategy not in STRATEGIES:
        raise InputError(f"strategy: one of {', '.join(STRATEGIES)}")
    radius = radius_arg(current_app.config["OCEANWATCH_SETTINGS"].truth.radii_km)
    limit = int_arg("limit")
    limit = 50 if limit is None else limit
    if not 1 <= limit <= MAX_QUEUE:
        raise InputError(f"limit: from 1 to {MAX_QUEUE}")
    start, end = time_arg("start"), time_arg("end")
    if start and end and start > end:
        raise InputError("start is after end")
    return QueueQuery(
        strategy=strategy,
        model_id=int_arg("model_id"),
        radius_km=radius,
        start=start,
        end=end,
        limit=limit,
        site=parse_site(request.args.get("site")),
    )


def _filters(q: QueueQuery) -> tuple[str, dict[str, Any]]:
    """Conditions shared by every strategy: time range, site, model (or the active ones), not yet labelled."""
    clauses = ["not exists (select 1 from human_labels h where h.window_id = p.window_id)"]
    params: dict[str, Any] = {"radius": q.radius_km, "limit": q.limit}
    if q.model_id is not None and q.strategy != "disagreement":
        clauses.append("p.model_id = :model_id")
        params["model_id"] = q.model_id
    else:
        clauses.append(rules.ACTIVE_MODEL)
        params["active_status"] = ModelStatus.ACTIVE.value
    in_range, range_params = time_range("w.start_time", q.start, q.end)
    clauses += in_range
    params |= range_params
    if q.site is not None:
        clauses.append("w.hydrophone_id = :site")
        params["site"] = q.site
    return " and ".join(clauses), params


def queue(q: QueueQuery) -> list[dict[str, Any]]:
    """Windows to review, best first; per-prediction strategies keep each window's strongest case."""
    if q.strategy not in STRATEGIES:
        raise InputError(f"strategy: one of {', '.join(STRATEGIES)}")
    where, params = _filters(q)
    if q.strategy == "disagreement":
        sql = f"""
            select p.window_id, {rules.DISTINCT_ANSWERS} as score, avg(p.entropy) as mean_entropy,
                   count(*) as models, null::bigint as model_id, null::bigint as prediction_id,
                   min(w.start_time) as start_time, min(w.end_time) as end_time, min(w.hydrophone_id) as hydrophone_id
            from predictions p join windows w on w.id = p.window_id
            where {where}
            group by p.window_id having {rules.DISAGREES}
            order by score desc, mean_entropy desc nulls last, p.window_id limit :limit"""
    else:
        score, join, condition, direction = _PER_PREDICTION[q.strategy]
        sql = f"""
            with best as (
                select distinct on (p.window_id) p.window_id, p.model_id, p.id as prediction_id, {score} as score
                from predictions p join windows w on w.id = p.window_id {join}
                where {where} and {score} is not null {condition}
                order by p.window_id, {score} {direction}, p.model_id)
            select b.*, w.start_time, w.end_time, w.hydrophone_id
            from best b join windows w on w.id = b.window_id
            order by b.score {direction}, b.window_id limit :limit"""
    rows = db.session.execute(text(sql), params).mappings().all()
    return [
        {
            "window_id": r["window_id"],
            "start_time": iso(r["start_time"]),
            "end_time": iso(r["end_time"]),
            "hydrophone_id": r["hydrophone_id"],
            "score": float(r["score"]),
            "model_id": r["model_id"],
            "prediction_id": r["prediction_id"],
            **(
                {"mean_entropy": _float(r["mean_entropy"]), "models": r["models"]}
                if q.strategy == "disagreement"
                else {}
            ),
        }
        for r in rows
    ]


def predictions_of(window_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Every model's output for the given windows (bounded by the queue's limit), by window."""
    return window_outputs(db.session, window_ids)


def window_context(window_id: int, user_id: int | None = None) -> dict[str, Any]:
    """A window with its spectrogram, AIS truth at every radius (with the vessels), model outputs (with
    `user_id`'s verdict on each) and its human label."""
    window = db.session.get(Window, window_id)
    if window is None:
        raise InputError(f"no window with id {window_id}", 404)
    spectrogram = db.session.scalars(
        select(Spectrogram).where(Spectrogram.window_id == window_id).order_by(Spectrogram.spec_hash).limit(1)
    ).first()
    predictions = predictions_of([window_id]).get(window_id, [])
    verdicts = (
        dict(
            db.session.execute(
                select(PredictionFeedback.prediction_id, PredictionFeedback.verdict).where(
                    PredictionFeedback.prediction_id.in_([p["prediction_id"] for p in predictions]),
                    PredictionFeedback.user_id == user_id,
                )
            ).all()
        )
        if predictions and user_id is not None
        else {}
    )
    label = db.session.execute(
        select(HumanLabel, User.username)
        .outerjoin(User, User.id == HumanLabel.user_id)
        .where(HumanLabel.window_id == window_id)
    ).first()
    return {
        "window": {
            "id": window.id,
            "hydrophone_id": window.hydrophone_id,
            "start_time": iso(window.start_time),
            "end_time": iso(window.end_time),
            "has_clip": window.clip_path is not None,
        },
        "spectrogram": PackedArray(spectrogram.dtype, tuple(spectrogram.shape), spectrogram.data).unpack()
        if spectrogram is not None
        else None,
        "truth": window_truths(db.session, [window_id]).get(window_id, []),
        "predictions": [{**p, "my_verdict": verdicts.get(p["prediction_id"])} for p in predictions],
        "label": {
            "classes": list(label[0].classes),
            "note": label[0].note,
            "user": label[1],
            "created_at": iso(label[0].created_at),
        }
        if label
        else None,
    }


def label_classes() -> list[str]:
    return list(
        db.session.scalars(
            select(ShipClass.code).where(ShipClass.active.is_(True)).order_by(ShipClass.sort_order, ShipClass.code)
        )
    )


def _checked_classes(classes: Any, allowed: list[str], what: str = "classes") -> list[str]:
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise InputError(f"{what}: a list of class codes")
    unknown = sorted(set(classes) - set(allowed))
    if unknown:
        raise InputError(f"{what}: unknown {', '.join(unknown)} (known: {', '.join(allowed)})")
    return [c for c in allowed if c in classes]  # canonical order, no duplicates


def set_label(window_id: int, classes: Any, note: Any, user_id: int | None, source: str = "review") -> dict[str, Any]:
    """Store (or replace) the human label of a window, audited with the previous one; commits."""
    if db.session.get(Window, window_id) is None:
        raise InputError(f"no window with id {window_id}", 404)
    codes = _checked_classes(classes, label_classes())
    if not codes:
        raise InputError("classes: at least one class (the background class for no ship)")
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > 2000:
        raise InputError("note: text of at most 2000 characters")
    _write_label(window_id, codes, note, user_id, source)
    db.session.commit()
    return {"window_id": window_id, "classes": codes, "note": note, "user_id": user_id}


def _write_label(window_id: int, codes: list[str], note: str, user_id: int | None, source: str) -> None:
    previous = db.session.scalar(select(HumanLabel.classes).where(HumanLabel.window_id == window_id))
    db.session.execute(
        insert(HumanLabel)
        .values(window_id=window_id, classes=codes, user_id=user_id, note=note)
        .on_conflict_do_update(
            index_elements=["window_id"],
            set_={"classes": codes, "user_id": user_id, "note": note, "created_at": func.now()},
        )
    )
    record(
        db.session,
        user_id,
        "window.label",
        "window",
        window_id,
        classes=codes,
        note=note,
        source=source,
        previous=list(previous) if previous is not None else None,
    )


def give_feedback(prediction_id: int, verdict: Any, classes: Any, user_id: int) -> dict[str, Any]:
    """Record a verdict (one per person per prediction); "wrong" with classes also labels the window."""
    prediction = db.session.get(Prediction, prediction_id)
    if prediction is None:
        raise InputError(f"no prediction with id {prediction_id}", 404)
    if verdict not in VERDICTS:
        raise InputError("verdict: correct or wrong")
    classes = [] if classes is None else classes
    model_classes = list(db.session.scalar(select(MLModel.class_names).where(MLModel.id == prediction.model_id)))
    codes = _checked_classes(classes, model_classes, "correct_classes")
    if verdict == "correct" and codes:
        raise InputError("correct_classes: only with verdict wrong")
    labelled = bool(verdict == "wrong" and codes)
    if labelled:
        _checked_classes(codes, label_classes(), "correct_classes (as window labels)")
    db.session.execute(
        insert(PredictionFeedback)
        .values(
            prediction_id=prediction_id, model_id=prediction.model_id, user_id=user_id, verdict=verdict, classes=codes
        )
        .on_conflict_do_update(
            index_elements=["prediction_id", "user_id"],
            set_={"verdict": verdict, "classes": codes, "created_at": func.now()},
        )
    )
    record(
        db.session,
        user_id,
        "prediction.feedback",
        "prediction",
        prediction_id,
        verdict=verdict,
        classes=codes,
        model_id=prediction.model_id,
        window_id=prediction.window_id,
    )
    if labelled:
        _write_label(prediction.window_id, codes, f"feedback on prediction {prediction_id}", user_id, "feedback")
    db.session.commit()
    return {
        "prediction_id": prediction_id,
        "model_id": prediction.model_id,
        "window_id": prediction.window_id,
        "verdict": verdict,
        "correct_classes": codes,
        "labelled_window": labelled,
    }


def feedback_counts(model_id: int) -> dict[str, Any]:
    """Verdict counts of a model, per predicted class, and the confusion of predicted vs people's classes.

    Class sets are joined with "+" (multi-label); a "correct" verdict confirms the predicted set,
    a "wrong" without classes counts as wrong with the true set unknown (null).
    """
    if db.session.get(MLModel, model_id) is None:
        raise InputError(f"no model with id {model_id}", 404)
    params = {"model_id": model_id}
    correct, wrong = db.session.execute(
        text("""
        select count(*) filter (where verdict = 'correct'), count(*) filter (where verdict = 'wrong')
        from prediction_feedback where model_id = :model_id"""),
        params,
    ).one()
    per_class = db.session.execute(
        text("""
        select c, count(*) filter (where f.verdict = 'correct'), count(*) filter (where f.verdict = 'wrong')
        from prediction_feedback f join predictions p on p.id = f.prediction_id cross join unnest(p.predicted) as c
        where f.model_id = :model_id group by c order by c"""),
        params,
    ).all()
    confusion = db.session.execute(
        text("""
        select array_to_string(p.predicted, '+') as predicted,
               case when f.verdict = 'correct' then array_to_string(p.predicted, '+')
                    when cardinality(f.classes) = 0 then null else array_to_string(f.classes, '+') end as labelled,
               count(*) as n
        from prediction_feedback f join predictions p on p.id = f.prediction_id
        where f.model_id = :model_id group by 1, 2 order by 1, 2 nulls last"""),
        params,
    ).all()
    return {
        "model_id": model_id,
        "correct": correct,
        "wrong": wrong,
        "total": correct + wrong,
        "per_class": {c: {"correct": ok, "wrong": bad} for c, ok, bad in per_class},
        "confusion": [{"predicted": p, "labelled": lab, "count": n} for p, lab, n in confusion],
    }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
