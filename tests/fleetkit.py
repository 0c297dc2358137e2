"""Vessels of known AIS types and windows on two days whose truth holds them (pytest plugin: `fleet`).

What the relabelling tests start from: every window's classes come from the class mapping, so an
edit of the mapping or an override visibly changes them.
"""

from __future__ import annotations

import datetime as dt

import pytest

from oceanwatch.config import Settings
from oceanwatch.db import engine_for, session_scope
from oceanwatch.db.models import TruthLabel, Vessel, Window
from oceanwatch.db.seed import ensure_default_hydrophone
from oceanwatch.truth.labels import derive_classes

DAY1 = dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc)
DAY2 = DAY1 + dt.timedelta(days=3)
VESSELS = [  # mmsi, AIS type, length, beam, tonnage
    (101, 70, 180.0, 30.0, 25000.0),
    (102, 70, 120.0, 20.0, None),
    (103, 30, 20.0, 6.0, 90.0),
    (104, 37, 12.0, 4.0, None),
    (105, None, None, None, None),
]


@pytest.fixture
def fleet(settings: Settings) -> dict[str, list[int]]:
    """Vessels of known types, and windows on two days whose truth holds them (classes from the mapping)."""
    url = settings.database_url
    with session_scope(url) as session:
        ensure_default_hydrophone(session, settings)
    windows: dict[str, list[int]] = {"day1": [], "day2": []}
    with session_scope(url) as s:
        for mmsi, ship_type, length, beam, tonnage in VESSELS:
            s.add(
                Vessel(mmsi=mmsi, name=f"V{mmsi}", ship_type=ship_type, length_m=length, beam_m=beam, tonnage=tonnage)
            )
        s.flush()
        for day, start, held in (("day1", DAY1, [[101], [101, 103]]), ("day2", DAY2, [[102], [104], []])):
            for k, vessels in enumerate(held):
                begin = start + dt.timedelta(minutes=k)
                w = Window(
                    hydrophone_id=settings.hydrophone.id,
                    start_time=begin,
                    end_time=begin + dt.timedelta(seconds=22.5),
                    sample_rate=4000,
                    channels=1,
                    source="test",
                )
                s.add(w)
                s.flush()
                windows[day].append(w.id)
                for radius in settings.truth.radii_km:
                    s.add(TruthLabel(window_id=w.id, radius_km=radius, classes=[], ambiguous=True, vessels=vessels))
    with engine_for(url).begin() as conn:
        derive_classes(conn)
    return windows
