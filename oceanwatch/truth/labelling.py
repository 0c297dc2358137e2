"""Truth geometry, as pure functions: how close each vessel came to a hydrophone during a window.

AIS fixes arrive every few seconds to minutes, so a window's truth needs the track between
fixes: positions are interpolated between the fixes that bracket a moment, dead-reckoned
from speed and course past the last (or before the first) fix, and unknown further than
`max_gap_s` from any fix - a vessel that stopped reporting is not assumed to stay put.
Classes are not decided here: which vessels were inside R or in the buffer is geometry and
never changes when the ship-class mapping does, so relabelling only re-derives classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oceanwatch.geo import GEOD, KNOT_MPS, Site

METRES_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class Track:
    """One vessel's fixes, sorted by time (epoch seconds); sog/cog are NaN where not reported."""

    t: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    sog_kn: np.ndarray
    cog_deg: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[tuple[float, float, float, float | None, float | None]]) -> Track:
        """Build from (time_s, lat, lon, sog, cog) rows in any order; repeated times keep the first."""
        arr = np.array(
            [(t, la, lo, np.nan if s is None else s, np.nan if c is None else c) for t, la, lo, s, c in rows],
            dtype=float,
        ).reshape(-1, 5)
        arr = arr[np.argsort(arr[:, 0], kind="stable")]
        keep = np.concatenate(([True], np.diff(arr[:, 0]) > 0)) if len(arr) else np.zeros(0, bool)
        arr = arr[keep]
        return cls(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4])


def _dead_reckon(
    lat: np.ndarray, lon: np.ndarray, sog_kn: np.ndarray, cog_deg: np.ndarray, dt_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move from a fix along its course for dt_s (negative = backwards); no speed means no motion.

    A flat-earth step is within metres of the geodesic over the few minutes `max_gap_s` allows.
    """
    speed = np.where(np.isnan(sog_kn), 0.0, sog_kn) * KNOT_MPS
    course = np.radians(np.where(np.isnan(cog_deg), 0.0, cog_deg))
    north, east = speed * dt_s * np.cos(course), speed * dt_s * np.sin(course)
    new_lat = lat + north / METRES_PER_DEG_LAT
    new_lon = lon + east / (METRES_PER_DEG_LAT * np.cos(np.radians(lat)))
    return new_lat, new_lon


def positions_at(track: Track, times: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latitudes, longitudes and a known-mask of the track at `times` (epoch seconds)."""
    times = np.asarray(times, dtype=float)
    n = len(track.t)
    lat, lon = np.full(times.shape, np.nan), np.full(times.shape, np.nan)
    if n == 0:
        return lat, lon, np.zeros(times.shape, bool)
    after = np.searchsorted(track.t, times, side="left")  # first fix at or after each time
    before = np.clip(after - 1, 0, n - 1)
    after_c = np.clip(after, 0, n - 1)
    exact = (after < n) & (track.t[after_c] == times)
    has_before = after > 0
    has_after = after < n
    gap_before = np.where(has_before, times - track.t[before], np.inf)
    gap_after = np.where(has_after, track.t[after_c] - times, np.inf)

    bracket = has_before & has_after & ~exact & (gap_before <= max_gap_s) & (gap_after <= max_gap_s)
    frac = np.divide(gap_before, gap_before + gap_after, out=np.zeros(times.shape), where=bracket)
    lat = np.where(bracket, track.lat[before] + frac * (track.lat[after_c] - track.lat[before]), lat)
    lon = np.where(bracket, track.lon[before] + frac * (track.lon[after_c] - track.lon[before]), lon)

    lat = np.where(exact, track.lat[after_c], lat)
    lon = np.where(exact, track.lon[after_c], lon)

    # Outside a bracket: reckon from the nearer fix still within the gap.
    use_before = ~bracket & ~exact & (gap_before <= max_gap_s) & (gap_before <= gap_after)
    use_after = ~bracket & ~exact & ~use_before & (gap_after <= max_gap_s)
    for mask, idx, dt_s in ((use_before, before, gap_before), (use_after, after_c, -gap_after)):
        if mask.any():
            rl, ro = _dead_reckon(
                track.lat[idx], track.lon[idx], track.sog_kn[idx], track.cog_deg[idx], np.where(mask, dt_s, 0.0)
            )
            lat, lon = np.where(mask, rl, lat), np.where(mask, ro, lon)
    return lat, lon, ~np.isnan(lat)


def closest_approach_m(
    track: Track, site: Site, start_s: float, end_s: float, max_gap_s: float, step_s: float = 5.0
) -> float | None:
    """Smallest geodesic distance from the site during [start_s, end_s], or None if the track is unknown then.

    Sampled every `step_s` and at every fix inside the window: at 30 kn a 5 s step moves
    77 m, far below any truth radius.
    """
    grid = np.arange(start_s, end_s, step_s)
    inside = track.t[(track.t >= start_s) & (track.t <= end_s)]
    times = np.unique(np.concatenate((grid, inside, [end_s])))
    lat, lon, known = positions_at(track, times, max_gap_s)
    if not known.any():
        return None
    lat, lon = lat[known], lon[known]
    _, _, dist = GEOD.inv(np.full(lat.size, site.longitude), np.full(lat.size, site.latitude), lon, lat)
    return float(np.min(dist))


def split_by_radius(closest_m: dict[int, float], radius_m: float, buffer_m: float) -> tuple[list[int], list[int]]:
    """(vessels inside R, vessels in the buffer R < d <= R + buffer), each sorted by MMSI."""
    inside = sorted(m for m, d in closest_m.items() if d <= radius_m)
    buffer = sorted(m for m, d in closest_m.items() if radius_m < d <= radius_m + buffer_m)
    return inside, buffer
