"""Simulated time shared by the AIS and audio simulators, so both describe the same moment.

sim_time(wall) = anchor + (wall - anchor) * speed.  Every process computes the same function
of the wall clock, so two services started seconds apart still agree; with speed 1 simulated
time is simply now.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SimClock:
    anchor: float
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("simulator speed must be positive")

    @classmethod
    def from_settings(cls, anchor_iso: str, speed: float) -> "SimClock":
        """`anchor_iso` empty means midnight UTC today (stable across services started today)."""
        if anchor_iso:
            anchor = dt.datetime.fromisoformat(anchor_iso)
            if anchor.tzinfo is None:
                anchor = anchor.replace(tzinfo=dt.timezone.utc)
        else:
            anchor = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(anchor.timestamp(), speed)

    def sim_time(self, wall: float) -> float:
        return self.anchor + (wall - self.anchor) * self.speed

    def wall_time(self, sim: float) -> float:
        """When (wall clock) simulated time `sim` happens: what a real-time emitter sleeps until."""
        return self.anchor + (sim - self.anchor) / self.speed

    def now(self) -> float:
        return self.sim_time(time.time())
