"""The truth labeller's pass: label windows as soon as their AIS has arrived, revise them on late AIS.

A pass:
1. windows without truth whose end is behind the newest AIS fix (or that waited TRUTH_MAX_WAIT_S
   because AIS is silent) get geometry and classes;
2. labelled windows near fixes received since the last pass are recomputed, as long as those
   fixes are within TRUTH_REVISE_LAG_S of the newest one - a late report moves the truth, an
   ancient one does not.
The service (`python -m ais_stream.truth_labeller`) runs passes in a loop.

The search for unlabelled windows starts above the id through which every window has truth, so a
pass reads the last minutes of windows, not the years behind them.  Ids are handed out at insert
but become visible at commit, so a window committed late could fall below that floor: every
`full_scan_s` one pass searches from the start again and labels any such straggler.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field

from sqlalchemy import text

from oceanwatch.config import Settings
from oceanwatch.db import engine_for
from oceanwatch.truth.labels import (
    TruthConfig,
    label_windows,
    labelled_through,
    windows_to_label,
    windows_touched_by,
)

log = logging.getLogger(__name__)
RECEIVE_OVERLAP = dt.timedelta(seconds=5)  # rows committed slightly out of received_at order are not missed
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass
class Labeller:
    """Pass state: the received_at up to which fixes have already revised labels, and the window id
    through which every window has truth."""

    url: str
    config: TruthConfig
    max_wait_s: float = 120.0
    revise_lag_s: float = 900.0
    batch: int = 2000
    full_scan_s: float = 600.0
    received_until: dt.datetime = field(default=EPOCH)
    labelled_through: int = 0
    _full_scan_at: float = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings) -> Labeller:
        return cls(
            settings.require_database_url(),
            TruthConfig(tuple(settings.truth.radii_km), settings.truth.buffer_km, settings.truth.max_gap_s),
            settings.truth.max_wait_s,
            settings.truth.revise_lag_s,
        )

    def run_pass(self) -> dict[str, int]:
        """One pass; returns how many windows were labelled new and revised."""
        if time.monotonic() - self._full_scan_at >= self.full_scan_s:
            self.labelled_through, self._full_scan_at = 0, time.monotonic()
        with engine_for(self.url).connect() as conn:
            watermark = conn.execute(text("select max(time) from ais_positions")).scalar()
            fresh = windows_to_label(conn, watermark or EPOCH, self.max_wait_s, self.batch, self.labelled_through)
            revised: list[int] = []
            newest_receipt = None
            if watermark is not None:
                oldest = watermark - dt.timedelta(seconds=self.revise_lag_s)
                # only fixes within the revision lag can revise, so only their receipts are looked at (by time index)
                newest_receipt = conn.execute(
                    text("select max(received_at) from ais_positions where time >= :oldest"), {"oldest": oldest}
                ).scalar()
                if newest_receipt is not None and newest_receipt > self.received_until:
                    revised = windows_touched_by(
                        conn, self.received_until - RECEIVE_OVERLAP, oldest, self.config.max_gap_s, self.config.search_m
                    )
        revised = sorted(set(revised) - set(fresh))
        with engine_for(self.url).begin() as conn:  # one transaction per pass: its labels land together
            label_windows(conn, fresh, self.config)
            label_windows(conn, revised, self.config)
        with engine_for(self.url).connect() as conn:
            self.labelled_through = labelled_through(conn, self.labelled_through)
        if newest_receipt is not None:
            self.received_until = max(self.received_until, newest_receipt)
        return {"labelled": len(fresh), "revised": len(revised)}
