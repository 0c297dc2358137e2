"""Per hydrophone: is it delivering, which active models predict on it, its events per hour, its truth coverage.

Each site is summed up over the last day of *its own* audio (the 24 hours up to its newest window), so a
site ingesting an old recording shows that recording's day rather than an empty today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from oceanwatch.events.query import EventRules, hourly_counts
from oceanwatch.events.rules import EventKind
from oceanwatch.sites.activity import SiteActivity, site_activity
from oceanwatch.truth.coverage import TruthCoverage, truth_coverage

DAY = dt.timedelta(hours=24)
HOUR = dt.timedelta(hours=1)

_PREDICTING = text("""
    select distinct m.name || ' v' || m.version from predictions p
    join windows w on w.id = p.window_id join models m on m.id = p.model_id
    where w.hydrophone_id = :site and w.start_time > :since and m.status = 'active' order by 1""")


@dataclass(frozen=True)
class SiteOverview:
    activity: SiteActivity
    models: list[str]  # active models with a prediction in the site's last hour of audio
    hours: list[dict[str, Any]]  # 24 hourly event counts, oldest first, each {hour, events, <kind>...}
    today: dict[str, int]  # events on the UTC date of the newest window, in total and by kind
    coverage: TruthCoverage | None

    @property
    def busiest_hour(self) -> int:
        return max((h["events"] for h in self.hours), default=0)


def _hours(rows: list[dict[str, Any]], first: dt.datetime) -> list[dict[str, Any]]:
    """24 hourly rows from `first`, zeros where no event fell."""
    found = {r["hour"]: r for r in rows}
    empty = {"events": 0} | {k.value: 0 for k in EventKind}
    return [{"hour": first + i * HOUR} | {k: found.get(first + i * HOUR, empty)[k] for k in empty} for i in range(24)]


def site_overviews(session: Session, rules: EventRules) -> list[SiteOverview]:
    """Every site's overview, in id order."""
    out = []
    for activity in site_activity(session):
        newest = activity.newest_start
        if newest is None:
            out.append(SiteOverview(activity, [], [], {}, None))
            continue
        end = newest + dt.timedelta(seconds=1)
        first = newest.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0) - 23 * HOUR
        hours = _hours(hourly_counts(session, rules, first, end, activity.site_id), first)
        midnight = newest.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        today = {k: sum(h[k] for h in hours if h["hour"] >= midnight) for k in hours[0] if k != "hour"}
        models = list(session.execute(_PREDICTING, {"site": activity.site_id, "since": newest - HOUR}).scalars())
        coverage = truth_coverage(session, activity.site_id, end - DAY, end, rules.radius_km)
        out.append(SiteOverview(activity, models, hours, today, coverage))
    return out
