"""Geodesy on the WGS84 ellipsoid: hydrophone sites and distances to them.

Truth (who was within range of a hydrophone), AIS storage (each position's range to every site)
and the simulators all measure the same way, so they share this one module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")
KNOT_MPS = 1852.0 / 3600.0


@dataclass(frozen=True)
class Site:
    """A hydrophone position."""

    id: str
    latitude: float
    longitude: float


def distance_m(site: Site, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Geodesic distance (WGS84) from a site to each point, in metres."""
    lats = np.asarray(lats, dtype=float)
    lons = np.asarray(lons, dtype=float)
    _, _, dist = GEOD.inv(
        np.full(lats.size, site.longitude), np.full(lats.size, site.latitude), lons.ravel(), lats.ravel()
    )
    return np.asarray(dist).reshape(lats.shape)


def box_around(lat: float, lon: float, radius_m: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The [[south, west], [north, east]] corners of the box reaching `radius_m` from a point each way."""
    _, north, _ = GEOD.fwd(lon, lat, 0.0, radius_m)
    _, south, _ = GEOD.fwd(lon, lat, 180.0, radius_m)
    east, _, _ = GEOD.fwd(lon, lat, 90.0, radius_m)
    west, _, _ = GEOD.fwd(lon, lat, 270.0, radius_m)
    return (float(south), float(west)), (float(north), float(east))
