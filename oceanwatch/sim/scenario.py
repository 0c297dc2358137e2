"""A seeded, reproducible world of hydrophones and ship traffic, for demos, tests and training.

The AIS simulator (NMEA reports) and the audio simulator (ship noise at the hydrophone) both
read this one world, so the AIS truth and what the hydrophone hears agree.  Traffic is made in
hourly blocks, each from its own seeded generator, so any period of an unbounded scenario can
be produced on its own and always comes out the same.

Large commercial ships follow shipping lanes (offset from the hydrophone, NW/SE like the
Monterey Bay approaches); small craft and working vessels cross on random courses.  Each
vessel moves on a geodesic at constant speed for at most `MAX_TRANSIT_S`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from oceanwatch.config import Settings
from oceanwatch.geo import GEOD, KNOT_MPS, Site

BLOCK_S = 3600
MAX_TRANSIT_S = 4 * 3600


DEFAULT_SITE = Site("MARS", 36.7125, -122.1875)


@dataclass(frozen=True)
class Lane:
    """A shipping lane: its perpendicular offset from the hydrophone (km, + = right of course) and course."""

    offset_km: float
    course_deg: float


DEFAULT_LANES = (Lane(-32.0, 150.0), Lane(-24.0, 330.0), Lane(12.0, 315.0), Lane(38.0, 135.0))


def demo_sites(center: Site) -> tuple[Site, ...]:
    """Two more hydrophones for the demo, along the lane 12 km right of `center` (course 315):
    one 10 km north-east of it, 2 km inside the lane, the next 20 km up the lane from there.
    A ship on that lane passes both within 2 km, one after the other, and `center` at 12 km."""
    lon1, lat1, _ = GEOD.fwd(center.longitude, center.latitude, 45.0, 10_000.0)
    lon2, lat2, _ = GEOD.fwd(lon1, lat1, 315.0, 20_000.0)
    return (Site("MOSS", float(lat1), float(lon1)), Site("SCRUZ", float(lat2), float(lon2)))


@dataclass(frozen=True)
class VesselKind:
    """A family of AIS ship types with its size and speed ranges (what makes classes sound different)."""

    name: str
    ship_types: tuple[int, ...]
    weight: float
    length_m: tuple[float, float]
    speed_knots: tuple[float, float]
    uses_lane: bool
    ais_class: str = "A"
    nav_status: int = 0


VESSEL_KINDS: tuple[VesselKind, ...] = (
    VesselKind("cargo", tuple(range(70, 80)), 0.22, (120, 400), (11, 20), True),
    VesselKind("tanker", tuple(range(80, 90)), 0.10, (110, 330), (10, 16), True),
    VesselKind("passenger", (60, 60, 69, 61), 0.08, (90, 330), (14, 22), True),
    VesselKind("military", (35,), 0.03, (60, 180), (12, 25), True),
    VesselKind("fishing", (30,), 0.15, (12, 45), (3, 10), False, nav_status=7),
    VesselKind("tug", (52, 31, 32), 0.10, (20, 45), (6, 12), False),
    VesselKind("working", (51, 55, 33), 0.04, (15, 60), (8, 18), False),
    VesselKind("pleasure", (37,), 0.12, (7, 25), (5, 22), False, ais_class="B"),
    VesselKind("sailing", (36,), 0.10, (8, 20), (4, 8), False, ais_class="B", nav_status=8),
    VesselKind("pilot", (50,), 0.04, (14, 24), (10, 20), False),
    VesselKind("diving", (34,), 0.02, (8, 20), (3, 8), False),
)

_NAME_A = (
    "PACIFIC",
    "OCEAN",
    "SEA",
    "NORTHERN",
    "GOLDEN",
    "SILVER",
    "BLUE",
    "STAR",
    "CAPE",
    "MONTEREY",
    "BAY",
    "CORAL",
    "HARBOR",
    "WIND",
    "ISLAND",
    "EVER",
    "MAERSK",
    "HYUNDAI",
    "ORIENT",
    "COASTAL",
)
_NAME_B = (
    "STAR",
    "SPIRIT",
    "PIONEER",
    "TRADER",
    "EXPRESS",
    "GRACE",
    "HUNTER",
    "DAWN",
    "VOYAGER",
    "QUEEN",
    "RUNNER",
    "WAVE",
    "HARVEST",
    "LIGHT",
    "GLORY",
    "BREEZE",
    "SPRINT",
    "MARINER",
    "EAGLE",
    "ROSE",
)


@dataclass(frozen=True)
class VesselState:
    """Where a vessel is at one instant."""

    time: float
    latitude: float
    longitude: float
    sog_knots: float
    cog_deg: float
    heading_deg: float
    nav_status: int


@dataclass(frozen=True)
class SimVessel:
    """One simulated ship: identity and static AIS data, plus its straight transit."""

    mmsi: int
    name: str
    call_sign: str
    imo: int | None
    kind: str
    ship_type: int
    ais_class: str
    length_m: float
    beam_m: float
    draught_m: float
    speed_knots: float
    course_deg: float
    start_lat: float
    start_lon: float
    start_time: float
    duration_s: float
    nav_status: int
    destination: str

    @property
    def end_time(self) -> float:
        return self.start_time + self.duration_s

    def active(self, t0: float, t1: float) -> bool:
        """True if the vessel is on its transit at any time in [t0, t1]."""
        return self.start_time <= t1 and self.end_time >= t0

    def track(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latitudes and longitudes at epoch-second `times` (vectorised; extrapolates outside the transit)."""
        times = np.asarray(times, dtype=float)
        distance = (times - self.start_time) * self.speed_knots * KNOT_MPS
        n = distance.size
        lon, lat, _ = GEOD.fwd(
            np.full(n, self.start_lon), np.full(n, self.start_lat), np.full(n, self.course_deg), distance.ravel()
        )
        return np.asarray(lat).reshape(times.shape), np.asarray(lon).reshape(times.shape)

    def state(self, t: float) -> VesselState | None:
        """The state at epoch second `t`, or None outside the transit."""
        if not self.start_time <= t <= self.end_time:
            return None
        lat, lon = self.track(np.array([t]))
        return VesselState(
            t,
            float(lat[0]),
            float(lon[0]),
            self.speed_knots,
            self.course_deg,
            float(round(self.course_deg) % 360),
            self.nav_status,
        )


class Scenario:
    """Seeded traffic around one or more hydrophones, starting at `start` and unbounded in time.

    `vessels_per_hour` is the mean number of vessels entering the region per hour (Poisson);
    `region_km` is how far from the (first) hydrophone vessels are generated.
    """

    def __init__(
        self,
        seed: int = 0,
        start: dt.datetime | None = None,
        sites: tuple[Site, ...] = (DEFAULT_SITE,),
        vessels_per_hour: float = 4.0,
        region_km: float = 60.0,
        lanes: tuple[Lane, ...] = DEFAULT_LANES,
        kinds: tuple[VesselKind, ...] = VESSEL_KINDS,
    ) -> None:
        start = start or dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        if start.tzinfo is None:
            raise ValueError("scenario start must be time-zone aware (UTC)")
        self.seed = seed
        self.start = start.timestamp()
        self.sites = sites
        self.vessels_per_hour = vessels_per_hour
        self.region_m = region_km * 1000.0
        self.lanes = lanes
        self.kinds = kinds
        self._blocks: dict[int, list[SimVessel]] = {}

    @cached_property
    def _kind_weights(self) -> np.ndarray:
        w = np.array([k.weight for k in self.kinds], dtype=float)
        return w / w.sum()

    def block(self, index: int) -> list[SimVessel]:
        """The vessels passing their closest approach during hour `index` (always the same for a seed)."""
        cached = self._blocks.get(index)
        if cached is None:
            rng = np.random.default_rng([self.seed, index])
            count = int(rng.poisson(self.vessels_per_hour))
            cached = [self._vessel(rng, index, k) for k in range(count)]
            if len(self._blocks) >= 256:  # bounded: a live run walks forward through time
                self._blocks.pop(min(self._blocks))
            self._blocks[index] = cached
        return cached

    def vessels_between(self, t0: float, t1: float) -> list[SimVessel]:
        """Every vessel on transit at some time in [t0, t1] (epoch seconds)."""
        # A transit reaches at most MAX_TRANSIT_S / 2 either side of its CPA, which lies in the
        # vessel's block: vessels of later blocks may already be under way at t1, as vessels of
        # earlier ones may still be at t0 (a whole MAX_TRANSIT_S either side is a safe bound).
        first = math.floor((t0 - MAX_TRANSIT_S - self.start) / BLOCK_S)
        last = math.floor((t1 + MAX_TRANSIT_S - self.start) / BLOCK_S)
        found: list[SimVessel] = []
        for index in range(max(0, first), last + 1):
            found.extend(v for v in self.block(index) if v.active(t0, t1))
        return found

    def states_at(self, t: float) -> list[tuple[SimVessel, VesselState]]:
        """Every vessel on transit at epoch second `t`, with its state."""
        return [(v, s) for v in self.vessels_between(t, t) if (s := v.state(t)) is not None]

    def _vessel(self, rng: np.random.Generator, block: int, k: int) -> SimVessel:
        kind = self.kinds[int(rng.choice(len(self.kinds), p=self._kind_weights))]
        ship_type = int(rng.choice(kind.ship_types))
        length = float(rng.uniform(*kind.length_m))
        speed = float(rng.uniform(*kind.speed_knots))
        site = self.sites[0]
        if kind.uses_lane:
            lane = self.lanes[int(rng.integers(len(self.lanes)))]
            offset_m = (lane.offset_km + rng.normal(0.0, 2.0)) * 1000.0
            course = (lane.course_deg + rng.normal(0.0, 3.0)) % 360.0
        else:
            offset_m = float(rng.uniform(-self.region_m, self.region_m))
            course = float(rng.uniform(0.0, 360.0))
        # Closest point of approach: `offset_m` to the right of the course line through the site.
        cpa_lon, cpa_lat, _ = GEOD.fwd(site.longitude, site.latitude, (course + 90.0) % 360.0, offset_m)
        half_path = min(
            math.sqrt(max(self.region_m**2 - offset_m**2, 0.0)) + 5000.0, speed * KNOT_MPS * MAX_TRANSIT_S / 2.0
        )
        start_lon, start_lat, _ = GEOD.fwd(cpa_lon, cpa_lat, (course + 180.0) % 360.0, half_path)
        duration = 2.0 * half_path / (speed * KNOT_MPS)
        # The vessel passes its CPA at a uniformly random moment of its block.
        cpa_time = self.start + block * BLOCK_S + float(rng.uniform(0.0, BLOCK_S))
        mmsi = (366_000_000 if kind.ais_class == "A" else 338_000_000) + (block % 100_000) * 100 + k % 100
        return SimVessel(
            mmsi=mmsi,
            name=f"{_NAME_A[int(rng.integers(len(_NAME_A)))]} {_NAME_B[int(rng.integers(len(_NAME_B)))]}",
            call_sign="W" + "".join(chr(65 + int(c)) for c in rng.integers(0, 26, 3)) + str(int(rng.integers(10))),
            imo=int(9_000_000 + rng.integers(0, 999_999)) if kind.ais_class == "A" and length > 60 else None,
            kind=kind.name,
            ship_type=ship_type,
            ais_class=kind.ais_class,
            length_m=round(length, 1),
            beam_m=round(length * float(rng.uniform(0.13, 0.18)), 1),
            draught_m=round(min(16.0, 0.8 + length * float(rng.uniform(0.035, 0.05))), 1),
            speed_knots=round(speed, 1),
            course_deg=course,
            start_lat=float(start_lat),
            start_lon=float(start_lon),
            start_time=cpa_time - duration / 2.0,
            duration_s=duration,
            nav_status=kind.nav_status,
            destination=("OAKLAND", "LONG BEACH", "MONTEREY", "SAN FRANCISCO", "MOSS LANDING")[int(rng.integers(5))],
        )


def scenario_from_settings(settings: Settings) -> Scenario:
    """The seeded traffic the simulators share, centred on the HYDROPHONE_* position whichever sites
    exist: the AIS simulator reports the very ships every simulated site hears."""
    return Scenario(
        seed=settings.simulator.seed,
        vessels_per_hour=settings.simulator.vessels_per_hour,
        sites=(Site(settings.hydrophone.id, settings.hydrophone.lat, settings.hydrophone.lon),),
    )
