"""The daily score rollup: `score_daily` and `uncertainty_daily`, recomputed from the raw rows for dirty days.

Triggers mark the days whose predictions or labels changed (`score_dirty`); `refresh_rollup`
recomputes them, before any read and from the truth labeller's loop, so a year of scores
answers from a few thousand rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.engine import Engine

from oceanwatch.truth.labels import LABEL, LABEL_USABLE, label_joins

ROLLUP_BINS = 10  # confidence deciles kept in score_daily
UNCERTAINTY_BINS = 100  # bins per uncertainty measure kept in uncertainty_daily (AUROC to within 0.01)
MAX_REFRESH_DAYS = 31  # days recomputed per statement
UNCERTAINTY_COLUMNS = {
    "entropy": "p.entropy",
    "epistemic": "p.epistemic",
    "aleatoric": "p.aleatoric",
    "one_minus_confidence": "1 - p.confidence",
}

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


def utc_date(t: dt.datetime | None) -> dt.date | None:
    """The UTC day of `t` (the rollup's days are UTC days)."""
    return t.astimezone(dt.timezone.utc).date() if t is not None else None


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def refresh_rollup(
    engine: Engine, start: dt.datetime | None = None, end: dt.datetime | None = None, limit: int = 10_000
) -> int:
    """Recompute the dirty days (within [start, end) if given) from the raw rows; returns how many.

    Runs in its own transaction. A day marked again while it is recomputed stays dirty
    (its mark is newer than the one read here), so no change is ever lost.
    """
    with engine.begin() as conn:
        conn.execute(text("set local work_mem = '256MB'"))
        marks = conn.execute(
            text(
                "select day, marked_at from score_dirty where (cast(:d0 as date) is null or day >= :d0) "
                "and (cast(:d1 as date) is null or day <= :d1) order by day limit :limit for update skip locked"
            ),
            {"d0": utc_date(start), "d1": utc_date(end), "limit": limit},
        ).all()
        for lo, hi in _runs([m.day for m in marks]):
            for table, refresh in (("score_daily", _REFRESH), ("uncertainty_daily", _REFRESH_UNCERTAINTY)):
                conn.execute(text(f"delete from {table} where day >= :lo and day < :hi"), {"lo": lo, "hi": hi})
                conn.execute(text(refresh), {"lo": _utc_midnight(lo), "hi": _utc_midnight(hi)})
        for m in marks:
            conn.execute(
                text("delete from score_dirty where day = :day and marked_at <= :at"), {"day": m.day, "at": m.marked_at}
            )
    return len(marks)
