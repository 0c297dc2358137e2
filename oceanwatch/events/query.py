"""Events read from the predictions and truth already stored: never a table of their own.

Truth arrives after its window and is revised when AIS comes late or a mapping changes, and models
are deployed and withdrawn: an events table would go stale with each of those.  Computed when asked,
over a site's time range (the windows' start index bounds the scan), events always agree with the
current truth and the current set of active models.  Both the list and the hourly counts come from
one statement, `_EVENTS`, so the home page counts exactly what the live page lists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from oceanwatch.config import Settings
from oceanwatch.db.clauses import time_range
from oceanwatch.db.models import ModelStatus
from oceanwatch.events.rules import (
    ACTIVE_MODEL,
    CONTRADICTS_TRUTH,
    DISAGREES,
    HIGH_UNCERTAINTY,
    TRUTH_JOIN,
    EventKind,
)

MAX_EVENTS = 1000

_HAVING = {
    EventKind.DISAGREEMENT: DISAGREES,
    EventKind.CONTRADICTS_TRUTH: "bool_or(p.contradicts)",
    EventKind.HIGH_UNCERTAINTY: "bool_or(p.uncertain)",
}

_EVENTS = f"""
    with p as (
        select p.window_id, p.model_id, p.predicted, p.entropy,
               coalesce(t.window_id is not null and {CONTRADICTS_TRUTH}, false) as contradicts,
               coalesce({HIGH_UNCERTAINTY}, false) as uncertain
        from predictions p join windows w on w.id = p.window_id
        left join {TRUTH_JOIN}
        where {ACTIVE_MODEL} and {{where}}),
    e as (
        select p.window_id,
               {DISAGREES} as {EventKind.DISAGREEMENT},
               bool_or(p.contradicts) as {EventKind.CONTRADICTS_TRUTH},
               bool_or(p.uncertain) as {EventKind.HIGH_UNCERTAINTY},
               coalesce(array_agg(p.model_id order by p.model_id) filter (where p.contradicts), '{{{{}}}}') as contradicting,
               coalesce(array_agg(p.model_id order by p.model_id) filter (where p.uncertain), '{{{{}}}}') as uncertain,
               max(p.entropy) as max_entropy, count(*) as models
        from p group by p.window_id
        having {{having}})"""

_LIST = """
    select e.*, w.hydrophone_id, w.start_time, w.end_time,
           exists (select 1 from human_labels h where h.window_id = e.window_id) as reviewed
    from e join windows w on w.id = e.window_id
    order by w.start_time desc, w.id desc limit :limit"""

_HOURLY = f"""
    select date_bin('1 hour', w.start_time, timestamptz '2000-01-01 00:00+00') as hour, w.hydrophone_id,
           count(*) as events, {", ".join(f"count(*) filter (where e.{k}) as {k}" for k in EventKind)}
    from e join windows w on w.id = e.window_id
    group by 1, 2 order by 1, 2"""


@dataclass(frozen=True)
class EventRules:
    """The thresholds events are found by: truth at `radius_km`, entropy from `entropy_min` on."""

    radius_km: int
    entropy_min: float

    @classmethod
    def from_settings(cls, settings: Settings) -> EventRules:
        return cls(radius_km=settings.truth.radii_km[0], entropy_min=settings.events.entropy_min)


def _statement(
    rules: EventRules,
    site: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    kinds: Collection[EventKind] | None,
) -> tuple[str, dict[str, Any]]:
    clauses, params = time_range("w.start_time", start, end)
    if site is not None:
        clauses.append("w.hydrophone_id = :site")
        params["site"] = site
    having = " or ".join(_HAVING[k] for k in (kinds or EventKind))
    params |= {
        "active_status": ModelStatus.ACTIVE.value,
        "radius": rules.radius_km,
        "entropy_min": rules.entropy_min,
    }
    return _EVENTS.format(where=" and ".join(clauses) or "true", having=having), params


def list_events(
    session: Session,
    rules: EventRules,
    site: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kinds: Collection[EventKind] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Event windows newest first, each with its kinds, the models behind them and whether a person labelled it."""
    sql, params = _statement(rules, site, start, end, kinds)
    rows = session.execute(text(sql + _LIST), params | {"limit": min(limit, MAX_EVENTS)}).mappings()
    return [
        {
            "window_id": r["window_id"],
            "hydrophone_id": r["hydrophone_id"],
            "start_time": r["start_time"],
            "end_time": r["end_time"],
            "kinds": [k.value for k in EventKind if r[k]],
            "contradicting_models": list(r["contradicting"]),
            "uncertain_models": list(r["uncertain"]),
            "max_entropy": r["max_entropy"],
            "models": r["models"],
            "reviewed": r["reviewed"],
        }
        for r in rows
    ]


def hourly_counts(
    session: Session,
    rules: EventRules,
    start: dt.datetime,
    end: dt.datetime,
    site: str | None = None,
) -> list[dict[str, Any]]:
    """Events per site per UTC hour from `start` to `end`, in total and by kind (a window may count in several)."""
    sql, params = _statement(rules, site, start, end, None)
    return [dict(r) for r in session.execute(text(sql + _HOURLY), params).mappings()]
