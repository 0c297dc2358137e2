"""How much of a site's audio has usable AIS truth: the share a score over that span can rest on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

_COVERAGE = text("""
    select count(*), count(t.window_id) filter (where not t.ambiguous), count(t.window_id) filter (where t.ambiguous)
    from windows w left join truth_labels t on t.window_id = w.id and t.radius_km = :radius
    where w.hydrophone_id = :site and w.start_time >= :start and w.start_time < :end""")


@dataclass(frozen=True)
class TruthCoverage:
    """Windows in a span; how many have unambiguous truth, how many ambiguous (the rest: not labelled yet)."""

    windows: int
    labelled: int
    ambiguous: int

    @property
    def pending(self) -> int:
        return self.windows - self.labelled - self.ambiguous

    @property
    def share(self) -> float | None:
        """Unambiguous share of the windows; None with no window."""
        return self.labelled / self.windows if self.windows else None


def truth_coverage(session: Session, site: str, start: dt.datetime, end: dt.datetime, radius_km: int) -> TruthCoverage:
    """Truth coverage of `site`'s windows starting in `[start, end)` at `radius_km`."""
    windows, labelled, ambiguous = session.execute(
        _COVERAGE, {"site": site, "start": start, "end": end, "radius": radius_km}
    ).one()
    return TruthCoverage(int(windows), int(labelled), int(ambiguous))
