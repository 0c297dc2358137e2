"""Replay: a past stretch of a site played forward at 1×–60× through the same lanes as live.

A replaying session keeps a clock of replay time; each tick advances it by the wall time elapsed times
the speed, reads the rows of the windows that start in the stretch it covered (and the vessels as
they were at its end), and shows them the way the live feed's updates are shown.  Truth is read as it
stands now (revised since, perhaps), which is what an analyst checking an event wants.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from oceanwatch.events.query import EventRules
from oceanwatch.registry.active import ModelInfo
from visualization import queries
from visualization.feed import AIS_LOOKBACK, SiteUpdate, recent_events

SPEEDS = (1, 5, 10, 30, 60)
TICK_MS = 1000


@dataclass
class ReplayClock:
    position: dt.datetime
    speed: float

    def advance(self, elapsed_s: float) -> tuple[dt.datetime, dt.datetime]:
        """(from, to) of the replay time `elapsed_s` of wall time covers at this speed; moves to `to`."""
        start = self.position
        self.position = start + dt.timedelta(seconds=elapsed_s * self.speed)
        return start, self.position


def replay_update(
    session: Session,
    site: str,
    models: list[ModelInfo],
    radius_km: int,
    start: dt.datetime,
    end: dt.datetime,
    limit: int,
    event_rules: EventRules | None,
) -> SiteUpdate:
    """What a viewer at replay time `end` sees arrive since `start`: the windows starting in (start, end]
    with their spectrograms, predictions and truth at `radius_km`, and the vessels as they were at `end`."""
    after = start + dt.timedelta(microseconds=1)
    return SiteUpdate(
        site,
        models,
        queries.spectrogram_rows(session, site, start=after, end=end, limit=limit),
        queries.prediction_rows(session, [m.id for m in models], site, start=after, end=end),
        {radius_km: queries.truth_rows(session, site, radius_km, start=after, end=end)},
        queries.vessel_positions(session, end - AIS_LOOKBACK, end),
        end,
        recent_events(session, event_rules, site, end) if event_rules else None,
    )
