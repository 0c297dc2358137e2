"""The truth labeller's pass: label windows as soon as their AIS has arrived, revise them on late AIS.

A pass:
1. windows without truth whose end is behind the newest AIS fix (or that waited TRUTH_MAX_WAIT_S
   because AIS is silent) get geometry and classes;
2. labelled windows near fixes received since the last pass are recomputed, as long as those
   fixes are within TRUTH_REVISE_LAG_S of the newest one - a late report moves the truth, an
   ancient one does not.
The service (`python -m ais_stream.truth_labeller`) runs passes in a loop.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import text

from oceanwatch.config import Settings
from oceanwatch.db import engine_for
from oceanwatch.truth.labels import TruthConfig, label_windows, windows_to_label, windows_touched_by

log = logging.getLogger(__name__)
RECEIVE_OVERLAP = dt.timedelta(seconds=5)  # rows committed slightly out of received_at order are not missed
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass
class Labeller:
    """Pass state: the received_at up to which fixes have already revised labels."""

    url: str
    config: TruthConfig
    max_wait_s: float = 120.0
    revise_lag_s: float = 900.0
    batch: int = 2000
    received_until: dt.datetime = field(default=EPOCH)

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
        with engine_for(self.url).connect() as conn:
            watermark, newest_receipt = conn.execute(
                text("select max(time), max(received_at) from ais_positions")
            ).one()
            fresh = windows_to_label(conn, watermark or EPOCH, self.max_wait_s, self.batch)
            revised: list[int] = []
            if newest_receipt is not None and newest_receipt > self.received_until:
                oldest = watermark - dt.timedelta(seconds=self.revise_lag_s)
                revised = windows_touched_by(
                    conn, self.received_until - RECEIVE_OVERLAP, oldest, self.config.max_gap_s, self.config.search_m
                )
        revised = sorted(set(revised) - set(fresh))
        with engine_for(self.url).begin() as conn:  # one transaction per pass: its labels land together
            label_windows(conn, fresh, self.config)
            label_windows(conn, revised, self.config)
        if newest_receipt is not None:
            self.received_until = max(self.received_until, newest_receipt)
        return {"labelled": len(fresh), "revised": len(revised)}
