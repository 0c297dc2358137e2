"""The shoreline read from the packaged GSHHG data lies where the charts put Monterey Bay."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from oceanwatch.coastline import shores
from oceanwatch.geo import GEOD

MONTEREY_BOX = (36.4, -122.3, 37.0, -121.7)  # south, west, north, east
POINT_PINOS = (36.6364, -121.9359)  # lat, lon of the lighthouse point, from the USGS GNIS


def _land(box: tuple[float, float, float, float], tolerance_deg: float = 0.0) -> shapely.MultiPolygon:
    return shapely.MultiPolygon(
        [shapely.Polygon(np.column_stack([s.lon, s.lat])) for s in shores(*box, tolerance_deg) if s.is_land]
    )


def test_point_pinos_lies_on_the_coastline_within_a_kilometre() -> None:
    land = _land(MONTEREY_BOX)
    lat, lon = POINT_PINOS
    (shore_lon, shore_lat), _ = shapely.shortest_line(land.boundary, shapely.Point(lon, lat)).coords
    _, _, metres = GEOD.inv(lon, lat, shore_lon, shore_lat)
    assert metres < 1000.0


def test_the_town_is_land_and_the_bay_and_the_open_sea_are_water() -> None:
    land = _land(MONTEREY_BOX)
    assert land.contains(shapely.Point(-121.80, 36.60))  # Seaside, inland of the bay's south shore
    assert not land.contains(shapely.Point(-121.95, 36.80))  # the middle of Monterey Bay
    assert not land.contains(shapely.Point(-122.20, 36.60))  # offshore, west of the Monterey peninsula


def test_there_is_no_land_west_of_122_3_south_of_37_north() -> None:
    # Ano Nuevo Island, the nearest land out there, lies at 37.108 N: north of this box.
    assert not [s for s in shores(36.0, -123.5, 37.0, -122.3) if s.is_land]


def test_outlines_are_clipped_to_the_box_and_simplified_on_request() -> None:
    full = shores(*MONTEREY_BOX)
    simple = shores(*MONTEREY_BOX, 0.001)
    south, west, north, east = MONTEREY_BOX
    for shore in full + simple:
        assert west - 1e-9 <= shore.lon.min() and shore.lon.max() <= east + 1e-9
        assert south - 1e-9 <= shore.lat.min() and shore.lat.max() <= north + 1e-9
    assert sum(len(s.lon) for s in simple) < sum(len(s.lon) for s in full)
    assert abs(_land(MONTEREY_BOX, 0.001).area - _land(MONTEREY_BOX).area) < 0.01 * _land(MONTEREY_BOX).area


def test_an_empty_box_is_refused() -> None:
    with pytest.raises(ValueError, match="empty box"):
        shores(37.0, -122.0, 36.0, -121.0)
