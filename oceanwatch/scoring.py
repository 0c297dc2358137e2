"""Model metrics against truth, aggregated in Postgres; Python only turns small tallies into scores.

Every query joins a model's predictions with the effective truth of one radius: a reviewer's
label where there is one (never ambiguous), else the AIS truth. The database returns
confusion counts, per-class tallies, reliability bins or tie groups - a few hundred rows
at most however many windows are scored - and the pure functions here compute the
scores, so a year of windows costs one aggregate query, not a Python loop over rows. Several
models on the same range are tallied by the same queries, grouped by model (`reports`, `trends`,
`calibrations`, `uncertainty_aurocs`), so a page of six models costs the round trips of one.

Multi-class report, trend, calibration and uncertainty AUROC over whole UTC days read the
daily rollups `score_daily` and `uncertainty_daily`, kept by triggers (which mark changed days
dirty) and `refresh_rollup` (which recomputes them from the raw rows, before any read and from
the truth labeller's loop): a year answers from a few thousand rows. Everything else - label
sets, same-window comparisons, ranges cut inside a day, ranges with many dirty days -
aggregates the raw rows.

Multi-class models are scored on windows whose truth is exactly one class (one vessel class
present, or background); multi-label models on label sets. Ambiguous windows never count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from oceanwatch.truth import LABEL, LABEL_JOINS, LABEL_USABLE, label_joins

ROLLUP_BINS = 10  # confidence deciles kept in score_daily
UNCERTAINTY_BINS = 100  # bins per uncertainty measure kept in uncertainty_daily (AUROC to within 0.01)
MAX_REFRESH_DAYS = 31  # days recomputed per statement
MAX_SYNC_REFRESH_DAYS = 7  # more dirty days than this in a range: answer from the raw rows instead
UNCERTAINTY_COLUMNS = {"entropy": "p.entropy", "epistemic": "p.epistemic", "aleatoric": "p.aleatoric",
                       "one_minus_confidence": "1 - p.confidence"}


@dataclass(frozen=True)
class Scope:
    """Which predictions are scored: one model, one radius, an optional time range and hydrophone.

    `common_with` restricts to windows every one of those models also predicted, so models
    are compared on the same windows.
    """

    model_id: int
    radius_km: int = 20
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    hydrophone_id: str | None = None
    common_with: tuple[int, ...] = ()


def _scored(scope: Scope, model_ids: Sequence[int], multi_label: bool) -> tuple[str, dict[str, Any]]:
    """SQL of the scored (model, truth, prediction) rows of these models on the scope, and its parameters.

    With `common_with`, a window is kept when every one of those models predicted it: counted over
    the same rows in one pass, not by a second pass over the predictions.
    """
    clauses = [LABEL_USABLE]
    params: dict[str, Any] = {"model_ids": list(model_ids), "radius": scope.radius_km}
    if not multi_label:
        clauses.append(f"cardinality({LABEL}) = 1")
    if scope.start is not None:
        clauses.append("w.start_time >= :start")
        params["start"] = scope.start
    if scope.end is not None:
        clauses.append("w.start_time < :end")
        params["end"] = scope.end
    if scope.hydrophone_id is not None:
        clauses.append("w.hydrophone_id = :hydrophone")
        params["hydrophone"] = scope.hydrophone_id
    models_predicted = (", count(*) filter (where p.model_id = any(:others)) over (partition by p.window_id) "
                        "as models_predicted") if scope.common_with else ""
    rows = f"""
        select p.model_id, w.start_time, {LABEL} as truth, p.predicted::text[] as predicted,
               p.confidence, p.entropy, p.epistemic, p.aleatoric{models_predicted}
        from predictions p
        join windows w on w.id = p.window_id
        {LABEL_JOINS}
        where {' and '.join(clauses)}"""
    if not scope.common_with:
        return f"{rows} and p.model_id = any(:model_ids)", params
    others = set(scope.common_with)
    params.update(others=sorted(others), n_others=len(others), read=sorted(others | set(model_ids)))
    return (f"select * from ({rows} and p.model_id = any(:read)) c "
            "where c.models_predicted = :n_others and c.model_id = any(:model_ids)"), params


# ---------------------------------------------------------------- pure scoring of tallies

def confusion_matrix(pairs: Sequence[tuple[str, str, int]], classes: Sequence[str]) -> np.ndarray:
    """K x K counts (rows truth, columns prediction) from (truth, predicted, count) tallies."""
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for truth, predicted, count in pairs:
        if truth in index and predicted in index:
            matrix[index[truth], index[predicted]] += count
    return matrix


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 per class; 0 where undefined (as scikit-learn's zero_division=0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def _summary(classes: Sequence[str], tp: np.ndarray, fp: np.ndarray, fn: np.ndarray,
             support: np.ndarray, only_present: bool) -> dict[str, Any]:
    """Per-class and macro/weighted averages.

    Macro averages run over the classes seen in truth or prediction when `only_present`
    (single-label scoring) and over every class otherwise (label sets), as scikit-learn does.
    """
    precision, recall, f1 = _prf(tp, fp, fn)
    present = (support + fp) > 0 if only_present else np.ones(len(classes), dtype=bool)
    weights = support / support.sum() if support.sum() else np.zeros_like(support, dtype=float)

    def avg(values: np.ndarray) -> dict[str, float]:
        return {"macro": float(values[present].mean()) if present.any() else 0.0,
                "weighted": float((values * weights).sum())}

    return {
        "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                          "support": int(support[i])} for i, c in enumerate(classes)},
        "precision": avg(precision), "recall": avg(recall), "f1": avg(f1),
    }


def multiclass_scores(matrix: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, per-class and averaged precision/recall/F1, support, and the matrix itself."""
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    fp = matrix.sum(axis=0) - tp
    fn = support - tp
    total = int(matrix.sum())
    return {"n": total, "accuracy": float(tp.sum() / total) if total else 0.0, "classes": list(classes),
            "confusion": matrix.tolist(), **_summary(classes, tp, fp, fn, support, only_present=True)}


def multilabel_scores(tallies: dict[str, tuple[int, int, int]], n: int, exact: int,
                      classes: Sequence[str]) -> dict[str, Any]:
    """Scores from per-class (tp, fp, fn) tallies over n label sets, `exact` of them predicted exactly."""
    tp, fp, fn = (np.array([tallies.get(c, (0, 0, 0))[k] for c in classes], dtype=float) for k in range(3))
    micro_p, micro_r, micro_f1 = _prf(np.array([tp.sum()]), np.array([fp.sum()]), np.array([fn.sum()]))
    return {"n": n, "subset_accuracy": exact / n if n else 0.0, "classes": list(classes),
            "micro": {"precision": float(micro_p[0]), "recall": float(micro_r[0]), "f1": float(micro_f1[0])},
            **_summary(classes, tp, fp, fn, tp + fn, only_present=False)}


def calibration_scores(bins: Sequence[tuple[int, int, float, int]], n_bins: int) -> dict[str, Any]:
    """Reliability bins and expected calibration error from (bin, count, sum_confidence, correct) rows."""
    total = sum(count for _, count, _, _ in bins)
    table, ece = [], 0.0
    for b, count, conf_sum, correct in sorted(bins):
        confidence, accuracy = conf_sum / count, correct / count
        ece += count / total * abs(accuracy - confidence)
        table.append({"bin": b, "lower": (b - 1) / n_bins, "upper": b / n_bins, "count": count,
                      "confidence": confidence, "accuracy": accuracy})
    return {"n": total, "ece": ece if total else 0.0, "bins": table}


def auroc_from_groups(groups: Sequence[tuple[float, int, int]]) -> float | None:
    """AUROC of a score separating errors from correct predictions, from (value, errors, correct) tie groups.

    Mann-Whitney with ties counted half: the probability that a random error scores above a
    random correct prediction. None when either side is empty.
    """
    errors = sum(e for _, e, _ in groups)
    correct = sum(c for _, _, c in groups)
    if not errors or not correct:
        return None
    below, area = 0, 0.0
    for _, e, c in sorted(groups):
        area += e * (below + c / 2)
        below += c
    return area / (errors * correct)


# ---------------------------------------------------------------- the daily rollup

_REFRESH = f"""
    insert into score_daily (model_id, radius_km, day, hydrophone_id, truth, predicted, conf_bin, n, conf_sum)
    select p.model_id, r.radius_km, (w.start_time at time zone 'UTC')::date, w.hydrophone_id, ({LABEL})[1],
           p.predicted[1], least(greatest(width_bucket(p.confidence, 0, 1, {ROLLUP_BINS}), 1), {ROLLUP_BINS}),
           count(*), sum(p.confidence)
    from windows w
    cross join (select distinct t2.radius_km from truth_labels t2 join windows w2 on w2.id = t2.window_id
                where w2.start_time >= :lo and w2.start_time < :hi) r
    join predictions p on p.window_id = w.id
    join models m on m.id = p.model_id and m.task = 'multi_class'
    {label_joins("r.radius_km")}
    where w.start_time >= :lo and w.start_time < :hi and {LABEL_USABLE} and cardinality({LABEL}) = 1
    group by 1, 2, 3, 4, 5, 6, 7"""


_MEASURES = ", ".join(f"('{name}', {column})" for name, column in UNCERTAINTY_COLUMNS.items())
_REFRESH_UNCERTAINTY = f"""
    insert into uncertainty_daily (model_id, radius_km, day, hydrophone_id, measure, bin, errors, correct)
    select p.model_id, r.radius_km, (w.start_time at time zone 'UTC')::date, w.hydrophone_id, u.measure,
           least(greatest(width_bucket(u.value, 0, 1, {UNCERTAINTY_BINS}), 1), {UNCERTAINTY_BINS}),
           count(*) filter (where ({LABEL})[1] <> p.predicted[1]), count(*) filter (where ({LABEL})[1] = p.predicted[1])
    from windows w
    cross join (select distinct t2.radius_km from truth_labels t2 join windows w2 on w2.id = t2.window_id
                where w2.start_time >= :lo and w2.start_time < :hi) r
    join predictions p on p.window_id = w.id
    join models m on m.id = p.model_id and m.task = 'multi_class'
    cross join lateral (values {_MEASURES}) as u(measure, value)
    {label_joins("r.radius_km")}
    where w.start_time >= :lo and w.start_time < :hi and {LABEL_USABLE} and cardinality({LABEL}) = 1
      and u.value is not null
    group by 1, 2, 3, 4, 5, 6"""


def _runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as [first, last + 1) ranges of consecutive days, each at most MAX_REFRESH_DAYS long."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day and (day - runs[-1][0]).days < MAX_REFRESH_DAYS:
            runs[-1] = (runs[-1][0], day + dt.timedelta(days=1))
        else:
            runs.append((day, day + dt.timedelta(days=1)))
    return runs


def _utc_date(t: dt.datetime | None) -> dt.date | None:
    return t.astimezone(dt.timezone.utc).date() if t is not None else None


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def refresh_rollup(engine: Engine, start: dt.datetime | None = None, end: dt.datetime | None = None,
                   limit: int = 10_000) -> int:
    """Recompute the dirty days (within [start, end) if given) from the raw rows; returns how many.

    Runs in its own transaction. A day marked again while it is recomputed stays dirty
    (its mark is newer than the one read here), so no change is ever lost.
    """
    with engine.begin() as conn:
        conn.execute(text("set local work_mem = '256MB'"))
        marks = conn.execute(text(
            "select day, marked_at from score_dirty where (cast(:d0 as date) is null or day >= :d0) "
            "and (cast(:d1 as date) is null or day <= :d1) order by day limit :limit for update skip locked"),
            {"d0": _utc_date(start), "d1": _utc_date(end), "limit": limit}).all()
        for lo, hi in _runs([m.day for m in marks]):
            for table, refresh in (("score_daily", _REFRESH), ("uncertainty_daily", _REFRESH_UNCERTAINTY)):
                conn.execute(text(f"delete from {table} where day >= :lo and day < :hi"), {"lo": lo, "hi": hi})
                conn.execute(text(refresh), {"lo": _utc_midnight(lo), "hi": _utc_midnight(hi)})
        for m in marks:
            conn.execute(text("delete from score_dirty where day = :day and marked_at <= :at"),
                         {"day": m.day, "at": m.marked_at})
    return len(marks)


def _day_aligned(t: dt.datetime | None) -> bool:
    return t is None or t.astimezone(dt.timezone.utc).time() == dt.time(0)


def _rollup(conn: Connection, scope: Scope, models: dict[int, tuple[str, list[str]]],
            n_bins: int = ROLLUP_BINS) -> tuple[tuple[str, dict[str, Any]] | None, list[int]]:
    """WHERE over the daily rollup tables for the models they serve on the scope (after refreshing its dirty
    days) or None, and the models left to the raw rows.

    The rollups serve whole UTC days of multi-class models; label-set models, same-window comparisons,
    other bin counts and ranges cut inside a day go to the raw rows.
    """
    served = [m for m, (task, _) in models.items() if task == "multi_class"]
    if not served or scope.common_with or n_bins != ROLLUP_BINS or not (_day_aligned(scope.start)
                                                                        and _day_aligned(scope.end)):
        return None, list(models)
    dirty = conn.execute(text("select count(*) from score_dirty where (cast(:d0 as date) is null or day >= :d0) "
                              "and (cast(:d1 as date) is null or day <= :d1)"),
                         {"d0": _utc_date(scope.start), "d1": _utc_date(scope.end)}).scalar_one()
    if dirty > MAX_SYNC_REFRESH_DAYS:  # e.g. just after a relabel of history: raw rows until the labeller catches up
        return None, list(models)
    if dirty:
        refresh_rollup(conn.engine, scope.start, scope.end)
    clauses = ["model_id = any(:model_ids)", "radius_km = :radius"]
    params: dict[str, Any] = {"model_ids": served, "radius": scope.radius_km}
    if scope.start is not None:
        clauses.append("day >= :d0")
        params["d0"] = _utc_date(scope.start)
    if scope.end is not None:
        clauses.append("day < :d1")
        params["d1"] = _utc_date(scope.end)
    if scope.hydrophone_id is not None:
        clauses.append("hydrophone_id = :hydrophone")
        params["hydrophone"] = scope.hydrophone_id
    return (f"where {' and '.join(clauses)}", params), [m for m in models if m not in served]


# ---------------------------------------------------------------- queries
# Each takes the scopes of several models that differ only in the model: every kind of tally is one
# query for all of them (grouped by model), not one per model. The single-model forms wrap them.

_RAW_MEASURES = ", ".join(f"('{name}', {column.replace('p.', 's.')})"
                          for name, column in UNCERTAINTY_COLUMNS.items())


def _shared(scopes: Sequence[Scope]) -> tuple[Scope, list[int]]:
    """The scope the models share and their ids, in order (each once)."""
    if not scopes:
        raise ValueError("no model to score")
    first = scopes[0]
    if any(replace(s, model_id=first.model_id) != first for s in scopes):
        raise ValueError("scored together, models must share radius, range, hydrophone and comparison")
    return first, list(dict.fromkeys(s.model_id for s in scopes))


def _models(conn: Connection, model_ids: Sequence[int]) -> dict[int, tuple[str, list[str]]]:
    """Task and class names of each model, in the order asked."""
    rows = {r.id: (r.task, list(r.class_names)) for r in conn.execute(
        text("select id, task, class_names from models where id = any(:ids)"), {"ids": list(model_ids)})}
    if missing := [m for m in model_ids if m not in rows]:
        raise LookupError(f"no model with id {missing[0]}")
    return {m: rows[m] for m in model_ids}


def _tallies(conn: Connection, scope: Scope, models: dict[int, tuple[str, list[str]]], rollup_sql: str,
             raw_sql: str, params: dict[str, Any], n_bins: int = ROLLUP_BINS) -> dict[int, list[tuple[Any, ...]]]:
    """Each model's tally rows: `rollup_sql` over the rollup (its `{where}` filled in) for the models it serves,
    `raw_sql` over the scored raw rows `s` for the rest. Both select the model id first; it is dropped here."""
    rollup, raw = _rollup(conn, scope, models, n_bins)
    rows: list[Any] = []
    if rollup is not None:
        where, rollup_params = rollup
        rows += conn.execute(text(rollup_sql.format(where=where)), {**rollup_params, **params}).all()
    if raw:
        sql, raw_params = _scored(scope, raw, multi_label=False)
        rows += conn.execute(text(f"with s as ({sql}) {raw_sql}"), {**raw_params, **params}).all()
    tallies: dict[int, list[tuple[Any, ...]]] = {m: [] for m in models}
    for model_id, *rest in rows:
        tallies[model_id].append(tuple(rest))
    return tallies


def _label_set_reports(conn: Connection, scope: Scope,
                       models: dict[int, tuple[str, list[str]]]) -> dict[int, dict[str, Any]]:
    """Multi-label models' scores on label sets, from the raw rows."""
    sql, params = _scored(scope, list(models), multi_label=True)
    rows = conn.execute(text(f"""
        with s as ({sql})
        select s.model_id, c.code,
               count(*) filter (where c.code = any(s.truth) and c.code = any(s.predicted)),
               count(*) filter (where not c.code = any(s.truth) and c.code = any(s.predicted)),
               count(*) filter (where c.code = any(s.truth) and not c.code = any(s.predicted))
        from s join models m on m.id = s.model_id cross join unnest(m.class_names::text[]) as c(code)
        group by 1, 2"""), params).all()
    totals = {r[0]: (r[1], r[2]) for r in conn.execute(text(f"""
        with s as ({sql}) select s.model_id, count(*), count(*) filter (where s.truth @> s.predicted
                                                                      and s.predicted @> s.truth)
        from s group by 1"""), params)}
    out = {}
    for model_id, (task, classes) in models.items():
        n, exact = totals.get(model_id, (0, 0))
        tallies = {r[1]: (r[2], r[3], r[4]) for r in rows if r[0] == model_id}
        out[model_id] = {"task": task, **multilabel_scores(tallies, n, exact, classes)}
    return out


def reports(conn: Connection, scopes: Sequence[Scope]) -> dict[int, dict[str, Any]]:
    """Each model's scores on the shared scope: multi-class or multi-label as its task says."""
    scope, ids = _shared(scopes)
    models = _models(conn, ids)
    single = {m: v for m, v in models.items() if v[0] != "multi_label"}
    out = {}
    if single:
        pairs = _tallies(conn, scope, single,
                         "select model_id, truth, predicted, sum(n) from score_daily {where} group by 1, 2, 3",
                         "select s.model_id, s.truth[1], s.predicted[1], count(*) from s group by 1, 2, 3", {})
        out = {m: {"task": task, **multiclass_scores(confusion_matrix(pairs[m], classes), classes)}
               for m, (task, classes) in single.items()}
    if sets := {m: v for m, v in models.items() if m not in single}:
        out.update(_label_set_reports(conn, scope, sets))
    return {m: out[m] for m in ids}


def trends(conn: Connection, scopes: Sequence[Scope], bucket: str = "day") -> dict[int, list[dict[str, Any]]]:
    """Each model's accuracy and macro-F1 per day or week (multi-class scoring)."""
    if bucket not in ("day", "week"):
        raise ValueError("bucket must be day or week")
    scope, ids = _shared(scopes)
    models = _models(conn, ids)
    rows = _tallies(conn, scope, models,
                    "select model_id, date_trunc(:bucket, day)::date, truth, predicted, sum(n) from score_daily "
                    "{where} group by 1, 2, 3, 4 order by 2",
                    "select s.model_id, date_trunc(:bucket, s.start_time at time zone 'UTC')::date, s.truth[1], "
                    "s.predicted[1], count(*) from s group by 1, 2, 3, 4 order by 2", {"bucket": bucket})
    out = {}
    for model_id, (_, classes) in models.items():
        by_bucket: dict[dt.date, list[tuple[str, str, int]]] = {}
        for b, truth, predicted, count in rows[model_id]:
            by_bucket.setdefault(b, []).append((truth, predicted, count))
        out[model_id] = []
        for b, pairs in by_bucket.items():
            scores = multiclass_scores(confusion_matrix(pairs, classes), classes)
            out[model_id].append({"bucket": b.isoformat(), "n": scores["n"], "accuracy": scores["accuracy"],
                                  "macro_f1": scores["f1"]["macro"]})
    return out


def calibrations(conn: Connection, scopes: Sequence[Scope], n_bins: int = 10) -> dict[int, dict[str, Any]]:
    """Each model's reliability diagram bins and ECE of the top-class confidence (multi-class scoring)."""
    scope, ids = _shared(scopes)
    rows = _tallies(conn, scope, _models(conn, ids),
                    "select model_id, conf_bin, sum(n), sum(conf_sum), "
                    "coalesce(sum(n) filter (where truth = predicted), 0) from score_daily {where} group by 1, 2",
                    "select s.model_id, least(greatest(width_bucket(s.confidence, 0, 1, :bins), 1), :bins), "
                    "count(*), sum(s.confidence), count(*) filter (where s.truth[1] = s.predicted[1]) from s "
                    "group by 1, 2", {"bins": n_bins}, n_bins)
    return {m: calibration_scores([(int(b), int(c), float(conf), int(ok)) for b, c, conf, ok in rows[m]], n_bins)
            for m in ids}


def uncertainty_aurocs(conn: Connection, scopes: Sequence[Scope]) -> dict[int, dict[str, float | None]]:
    """How well each uncertainty measure flags each model's errors: AUROC of errors vs correct (multi-class
    scoring). From the rollup, values are tied within a bin: exact to within 1 / UNCERTAINTY_BINS."""
    scope, ids = _shared(scopes)
    rows = _tallies(conn, scope, _models(conn, ids),
                    "select model_id, measure, bin, sum(errors), sum(correct) from uncertainty_daily {where} "
                    "group by 1, 2, 3",
                    "select s.model_id, u.measure, u.value, count(*) filter (where s.truth[1] <> s.predicted[1]), "
                    "count(*) filter (where s.truth[1] = s.predicted[1]) "
                    f"from s cross join lateral (values {_RAW_MEASURES}) as u(measure, value) "
                    "where u.value is not null group by 1, 2, 3", {})
    return {m: {measure: auroc_from_groups([(float(v), int(e), int(c)) for name, v, e, c in rows[m]
                                            if name == measure]) for measure in UNCERTAINTY_COLUMNS} for m in ids}


def report(conn: Connection, scope: Scope) -> dict[str, Any]:
    """The model's scores on the scope: multi-class or multi-label as its task says."""
    return reports(conn, [scope])[scope.model_id]


def trend(conn: Connection, scope: Scope, bucket: str = "day") -> list[dict[str, Any]]:
    """Accuracy and macro-F1 per day or week (multi-class scoring)."""
    return trends(conn, [scope], bucket)[scope.model_id]


def calibration(conn: Connection, scope: Scope, n_bins: int = 10) -> dict[str, Any]:
    """Reliability diagram bins and ECE of the top-class confidence (multi-class scoring)."""
    return calibrations(conn, [scope], n_bins)[scope.model_id]


def uncertainty_auroc(conn: Connection, scope: Scope, metric: str = "entropy") -> float | None:
    """How well an uncertainty measure flags errors: AUROC of errors vs correct (multi-class scoring)."""
    if metric not in UNCERTAINTY_COLUMNS:
        raise ValueError(f"metric must be one of {sorted(UNCERTAINTY_COLUMNS)}")
    return uncertainty_aurocs(conn, [scope])[scope.model_id][metric]


def compare(conn: Connection, model_ids: Sequence[int], radius_km: int = 20, start: dt.datetime | None = None,
            end: dt.datetime | None = None) -> dict[int, dict[str, Any]]:
    """Each model's report on the windows all of them predicted."""
    ids = tuple(model_ids)
    return reports(conn, [Scope(m, radius_km, start, end, common_with=ids) for m in ids])
