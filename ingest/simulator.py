"""The simulator source: what a hydrophone in the seeded scenario hears, in (simulated) real time.

Audio is made in chunks on a global grid of `chunk_seconds`, each from a generator seeded by
(scenario seed, hydrophone, chunk index), so a restarted simulator re-creates exactly the
audio it made before and the windows it re-ingests are the stored ones.  It runs on the
shared SimClock, so at SIMULATOR_SPEED 60 an hour of audio arrives per wall minute, in step
with the AIS simulator's ships.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ingest.assembler import Segment
from oceanwatch.geo import Site
from oceanwatch.runtime.service import StopFlag
from oceanwatch.sim.acoustics import synthesize
from oceanwatch.sim.clock import SimClock
from oceanwatch.sim.scenario import Scenario


def chunk_audio(scenario: Scenario, site: Site, index: int, chunk_seconds: float, sample_rate: int) -> np.ndarray:
    """The audio of chunk `index` (starting at index * chunk_seconds since the epoch): always the same."""
    rng = np.random.default_rng([scenario.seed, zlib.crc32(site.id.encode()), index])
    start = dt.datetime.fromtimestamp(index * chunk_seconds, tz=dt.timezone.utc)
    return synthesize(scenario, site.latitude, site.longitude, start, chunk_seconds, sample_rate, rng)


@dataclass
class SimulatorSource:
    """Yields one Segment per chunk as soon as simulated time has passed its end."""

    scenario: Scenario
    site: Site
    clock: SimClock
    stop: StopFlag
    sample_rate: int = 8000
    chunk_seconds: float = 22.5
    lookback_s: float = 30.0
    # Start of the last window stored for this hydrophone: a restart re-creates audio from there, so
    # an outage of any length leaves no gap (windows already stored are left alone).
    resume_from: float | None = None

    _next_index: int | None = None

    def __iter__(self) -> Iterator[Segment]:
        while not self.stop.is_set():
            wait = self.wait_s()
            if wait > 0 and self.stop.wait(wait):
                return
            yield from self.due(1)

    def due(self, limit: int) -> list[Segment]:
        """The chunks (at most `limit`) whose end simulated time has passed, oldest first; none waits."""
        if self._next_index is None:
            start = self.clock.now() - self.lookback_s
            if self.resume_from is not None:
                start = min(start, self.resume_from)
            self._next_index = math.floor(start / self.chunk_seconds)
        segments = []
        while len(segments) < limit and (self._next_index + 1) * self.chunk_seconds <= self.clock.now():
            index = self._next_index
            audio = chunk_audio(self.scenario, self.site, index, self.chunk_seconds, self.sample_rate)
            segments.append(
                Segment(self.site.id, index * self.chunk_seconds, audio[:, None], self.sample_rate, None, "simulator")
            )
            self._next_index = index + 1
        return segments

    def wait_s(self) -> float:
        """Wall seconds until the next chunk is due (0 or less: due now)."""
        if self._next_index is None:
            return 0.0
        end = (self._next_index + 1) * self.chunk_seconds
        return self.clock.wall_time(end) - self.clock.wall_time(self.clock.now())

    def caught_up(self) -> bool:
        """True when the next chunk lies in the simulated future: time to send what is waiting.

        While behind (a fast SIMULATOR_SPEED, or a slow database), windows go out in full batches.
        """
        if self._next_index is None:
            return True
        return (self._next_index + 1) * self.chunk_seconds > self.clock.now()
