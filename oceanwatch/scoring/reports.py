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
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from oceanwatch.db.clauses import time_range
from oceanwatch.scoring.measures import (
    auroc_from_groups,
    calibration_scores,
    confusion_matrix,
    multiclass_scores,
    multilabel_scores,
)
from oceanwatch.scoring.rollup import ROLLUP_BINS, UNCERTAINTY_COLUMNS, refresh_rollup, utc_date
from oceanwatch.truth.labels import LABEL, LABEL_JOINS, LABEL_USABLE

MAX_SYNC_REFRESH_DAYS = 7  # more dirty days than this in a range: answer from the raw rows instead


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
    in_range, range_params = time_range("w.start_time", scope.start, scope.end)
    clauses += in_range
    params |= range_params
    if scope.hydrophone_id is not None:
        clauses.append("w.hydrophone_id = :hydrophone")
        params["hydrophone"] = scope.hydrophone_id
    models_predicted = (
        (", count(*) filter (where p.model_id = any(:others)) over (partition by p.window_id) as models_predicted")
        if scope.common_with
        else ""
    )
    rows = f"""
        select p.model_id, w.start_time, w.hydrophone_id, {LABEL} as truth, p.predicted::text[] as predicted,
               p.confidence, p.entropy, p.epistemic, p.aleatoric{models_predicted}
        from predictions p
        join windows w on w.id = p.window_id
        {LABEL_JOINS}
        where {" and ".join(clauses)}"""
    if not scope.common_with:
        return f"{rows} and p.model_id = any(:model_ids)", params
    others = set(scope.common_with)
    params.update(others=sorted(others), n_others=len(others), read=sorted(others | set(model_ids)))
    return (
        f"select * from ({rows} and p.model_id = any(:read)) c "
        "where c.models_predicted = :n_others and c.model_id = any(:model_ids)"
    ), params


def _day_aligned(t: dt.datetime | None) -> bool:
    return t is None or t.astimezone(dt.timezone.utc).time() == dt.time(0)


def _rollup(
    conn: Connection, scope: Scope, models: dict[int, tuple[str, list[str]]], n_bins: int = ROLLUP_BINS
) -> tuple[tuple[str, dict[str, Any]] | None, list[int]]:
    """WHERE over the daily rollup tables for the models they serve on the scope (after refreshing its dirty
    days) or None, and the models left to the raw rows.

    The rollups serve whole UTC days of multi-class models; label-set models, same-window comparisons,
    other bin counts and ranges cut inside a day go to the raw rows.
    """
    served = [m for m, (task, _) in models.items() if task == "multi_class"]
    if (
        not served
        or scope.common_with
        or n_bins != ROLLUP_BINS
        or not (_day_aligned(scope.start) and _day_aligned(scope.end))
    ):
        return None, list(models)
    dirty = conn.execute(
        text(
            "select count(*) from score_dirty where (cast(:d0 as date) is null or day >= :d0) "
            "and (cast(:d1 as date) is null or day <= :d1)"
        ),
        {"d0": utc_date(scope.start), "d1": utc_date(scope.end)},
    ).scalar_one()
    if dirty > MAX_SYNC_REFRESH_DAYS:  # e.g. just after a relabel of history: raw rows until the labeller catches up
        return None, list(models)
    if dirty:
        refresh_rollup(conn.engine, scope.start, scope.end)
    clauses = ["model_id = any(:model_ids)", "radius_km = :radius"]
    params: dict[str, Any] = {"model_ids": served, "radius": scope.radius_km}
    if scope.start is not None:
        clauses.append("day >= :d0")
        params["d0"] = utc_date(scope.start)
    if scope.end is not None:
        clauses.append("day < :d1")
        params["d1"] = utc_date(scope.end)
    if scope.hydrophone_id is not None:
        clauses.append("hydrophone_id = :hydrophone")
        params["hydrophone"] = scope.hydrophone_id
    return (f"where {' and '.join(clauses)}", params), [m for m in models if m not in served]


# ---------------------------------------------------------------- queries
# Each takes the scopes of several models that differ only in the model: every kind of tally is one
# query for all of them (grouped by model), not one per model. The single-model forms wrap them.

_RAW_MEASURES = ", ".join(f"('{name}', {column.replace('p.', 's.')})" for name, column in UNCERTAINTY_COLUMNS.items())


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
    rows = {
        r.id: (r.task, list(r.class_names))
        for r in conn.execute(
            text("select id, task, class_names from models where id = any(:ids)"), {"ids": list(model_ids)}
        )
    }
    if missing := [m for m in model_ids if m not in rows]:
        raise LookupError(f"no model with id {missing[0]}")
    return {m: rows[m] for m in model_ids}


def _tallies(
    conn: Connection,
    scope: Scope,
    models: dict[int, tuple[str, list[str]]],
    rollup_sql: str,
    raw_sql: str,
    params: dict[str, Any],
    n_bins: int = ROLLUP_BINS,
) -> dict[int, list[tuple[Any, ...]]]:
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


def _label_set_reports(
    conn: Connection, scope: Scope, models: dict[int, tuple[str, list[str]]]
) -> dict[int, dict[str, Any]]:
    """Multi-label models' scores on label sets, from the raw rows."""
    sql, params = _scored(scope, list(models), multi_label=True)
    rows = conn.execute(
        text(f"""
        with s as ({sql})
        select s.model_id, c.code,
               count(*) filter (where c.code = any(s.truth) and c.code = any(s.predicted)),
               count(*) filter (where not c.code = any(s.truth) and c.code = any(s.predicted)),
               count(*) filter (where c.code = any(s.truth) and not c.code = any(s.predicted))
        from s join models m on m.id = s.model_id cross join unnest(m.class_names::text[]) as c(code)
        group by 1, 2"""),
        params,
    ).all()
    totals = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            text(f"""
        with s as ({sql}) select s.model_id, count(*), count(*) filter (where s.truth @> s.predicted
                                                                      and s.predicted @> s.truth)
        from s group by 1"""),
            params,
        )
    }
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
        pairs = _tallies(
            conn,
            scope,
            single,
            "select model_id, truth, predicted, sum(n) from score_daily {where} group by 1, 2, 3",
            "select s.model_id, s.truth[1], s.predicted[1], count(*) from s group by 1, 2, 3",
            {},
        )
        out = {
            m: {"task": task, **multiclass_scores(confusion_matrix(pairs[m], classes), classes)}
            for m, (task, classes) in single.items()
        }
    if sets := {m: v for m, v in models.items() if m not in single}:
        out.update(_label_set_reports(conn, scope, sets))
    return {m: out[m] for m in ids}


def site_reports(conn: Connection, scopes: Sequence[Scope]) -> dict[str, dict[int, dict[str, Any]]]:
    """Each site's scores per model on the shared scope, for the sites with scored windows.

    The multi-class tallies of every site come from one query grouped by site, so a network of hundreds
    of hydrophones costs one query, not one per site; label-set models are scored site by site.
    """
    scope, ids = _shared(scopes)
    models = _models(conn, ids)
    single = {m: v for m, v in models.items() if v[0] != "multi_label"}
    out: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    if single:
        pairs = _tallies(
            conn,
            scope,
            single,
            "select model_id, hydrophone_id, truth, predicted, sum(n) from score_daily {where} group by 1, 2, 3, 4",
            "select s.model_id, s.hydrophone_id, s.truth[1], s.predicted[1], count(*) from s group by 1, 2, 3, 4",
            {},
        )
        for model_id, (task, classes) in single.items():
            by_site: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
            for site, *pair in pairs[model_id]:
                by_site[site].append(tuple(pair))
            for site, site_pairs in by_site.items():
                out[site][model_id] = {
                    "task": task,
                    **multiclass_scores(confusion_matrix(site_pairs, classes), classes),
                }
    if sets := {m: v for m, v in models.items() if m not in single}:
        sites = conn.execute(text("select id from hydrophones order by id")).scalars().all()
        for site in sites:
            for model_id, site_report in _label_set_reports(conn, replace(scope, hydrophone_id=site), sets).items():
                if site_report["n"]:
                    out[site][model_id] = site_report
    return {site: out[site] for site in sorted(out)}


def trends(conn: Connection, scopes: Sequence[Scope], bucket: str = "day") -> dict[int, list[dict[str, Any]]]:
    """Each model's accuracy and macro-F1 per day or week (multi-class scoring)."""
    if bucket not in ("day", "week"):
        raise ValueError("bucket must be day or week")
    scope, ids = _shared(scopes)
    models = _models(conn, ids)
    rows = _tallies(
        conn,
        scope,
        models,
        "select model_id, date_trunc(:bucket, day)::date, truth, predicted, sum(n) from score_daily "
        "{where} group by 1, 2, 3, 4 order by 2",
        "select s.model_id, date_trunc(:bucket, s.start_time at time zone 'UTC')::date, s.truth[1], "
        "s.predicted[1], count(*) from s group by 1, 2, 3, 4 order by 2",
        {"bucket": bucket},
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for model_id, (_, classes) in models.items():
        by_bucket: dict[dt.date, list[tuple[str, str, int]]] = {}
        for b, truth, predicted, count in rows[model_id]:
            by_bucket.setdefault(b, []).append((truth, predicted, count))
        out[model_id] = []
        for b, pairs in by_bucket.items():
            scores = multiclass_scores(confusion_matrix(pairs, classes), classes)
            out[model_id].append(
                {
                    "bucket": b.isoformat(),
                    "n": scores["n"],
                    "accuracy": scores["accuracy"],
                    "macro_f1": scores["f1"]["macro"],
                }
            )
    return out


def calibrations(conn: Connection, scopes: Sequence[Scope], n_bins: int = 10) -> dict[int, dict[str, Any]]:
    """Each model's reliability diagram bins and ECE of the top-class confidence (multi-class scoring)."""
    scope, ids = _shared(scopes)
    rows = _tallies(
        conn,
        scope,
        _models(conn, ids),
        "select model_id, conf_bin, sum(n), sum(conf_sum), "
        "coalesce(sum(n) filter (where truth = predicted), 0) from score_daily {where} group by 1, 2",
        "select s.model_id, least(greatest(width_bucket(s.confidence, 0, 1, :bins), 1), :bins), "
        "count(*), sum(s.confidence), count(*) filter (where s.truth[1] = s.predicted[1]) from s "
        "group by 1, 2",
        {"bins": n_bins},
        n_bins,
    )
    return {
        m: calibration_scores([(int(b), int(c), float(conf), int(ok)) for b, c, conf, ok in rows[m]], n_bins)
        for m in ids
    }


def uncertainty_aurocs(conn: Connection, scopes: Sequence[Scope]) -> dict[int, dict[str, float | None]]:
    """How well each uncertainty measure flags each model's errors: AUROC of errors vs correct (multi-class
    scoring). From the rollup, values are tied within a bin: exact to within 1 / UNCERTAINTY_BINS."""
    scope, ids = _shared(scopes)
    rows = _tallies(
        conn,
        scope,
        _models(conn, ids),
        "select model_id, measure, bin, sum(errors), sum(correct) from uncertainty_daily {where} group by 1, 2, 3",
        "select s.model_id, u.measure, u.value, count(*) filter (where s.truth[1] <> s.predicted[1]), "
        "count(*) filter (where s.truth[1] = s.predicted[1]) "
        f"from s cross join lateral (values {_RAW_MEASURES}) as u(measure, value) "
        "where u.value is not null group by 1, 2, 3",
        {},
    )
    return {
        m: {
            measure: auroc_from_groups([(float(v), int(e), int(c)) for name, v, e, c in rows[m] if name == measure])
            for measure in UNCERTAINTY_COLUMNS
        }
        for m in ids
    }


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


def compare(
    conn: Connection,
    model_ids: Sequence[int],
    radius_km: int = 20,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    hydrophone_id: str | None = None,
) -> dict[int, dict[str, Any]]:
    """Each model's report on the windows all of them predicted (of one site, or of every site)."""
    ids = tuple(model_ids)
    return reports(conn, [Scope(m, radius_km, start, end, hydrophone_id, common_with=ids) for m in ids])
