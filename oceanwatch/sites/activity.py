"""Is each hydrophone delivering?  Per site: its newest stored window, when that window arrived, and how
many windows it stored in the hour of audio before it.

One index probe per site (the windows' unique (hydrophone_id, start_time) index) instead of a scan of
every window, so the status page stays cheap with hundreds of sites and years of history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

SILENT_AFTER_S = 600.0  # an active site whose newest window arrived longer ago than this is called silent

_ACTIVITY = text("""
    SELECT h.id, h.name, h.active, newest.start_time, newest.created_at, extract(epoch FROM now() - newest.created_at),
           (SELECT count(*) FROM windows w WHERE w.hydrophone_id = h.id
                AND w.start_time > newest.start_time - interval '1 hour') AS last_hour
    FROM hydrophones h
    LEFT JOIN LATERAL (SELECT w.start_time, w.created_at FROM windows w WHERE w.hydrophone_id = h.id
                       ORDER BY w.start_time DESC LIMIT 1) newest ON true
    ORDER BY h.id""")


@dataclass(frozen=True)
class SiteActivity:
    """What one site has delivered lately (times None when it has no window yet)."""

    site_id: str
    name: str
    active: bool
    newest_start: dt.datetime | None
    newest_received: dt.datetime | None
    received_age_s: float | None
    windows_last_hour: int

    @property
    def state(self) -> str:
        """`delivering`, `silent` (active but nothing for SILENT_AFTER_S), `waiting` (no window yet) or `inactive`."""
        if not self.active:
            return "inactive"
        if self.received_age_s is None:
            return "waiting"
        return "delivering" if self.received_age_s <= SILENT_AFTER_S else "silent"


def site_activity(session: Session) -> list[SiteActivity]:
    """Every site's recent delivery, in id order."""
    return [
        SiteActivity(r[0], r[1], bool(r[2]), r[3], r[4], float(r[5]) if r[5] is not None else None, int(r[6] or 0))
        for r in session.execute(_ACTIVITY)
    ]
