"""Zone files in any CRS and format read to the same lon/lat polygons; a broken file is one clear error."""

from __future__ import annotations

import json
import math

import shapely
from hypothesis import given, settings, strategies as st

import pytest

from dronectl.errors import InputError
from dronectl.geo import DEFAULT_ZONES, load_polygon, load_zones


def test_the_same_zones_from_lambert93_geojson_and_geopackage(tmp_path):
    import geopandas as gpd

    shipped = load_zones()
    frame = gpd.read_file(DEFAULT_ZONES).to_crs(2154)
    frame.to_file(tmp_path / "l93.geojson", driver="GeoJSON")
    frame.to_file(tmp_path / "zones.gpkg", driver="GPKG")
    assert "2154" in json.loads((tmp_path / "l93.geojson").read_text())["crs"]["properties"]["name"]
    for other in (load_zones(tmp_path / "l93.geojson"), load_zones(tmp_path / "zones.gpkg")):
        assert [z.name for z in other] == [z.name for z in shipped]
        assert [z.service for z in other] == [z.service for z in shipped]
        for a, b in zip(shipped, other):
            assert a.geometry.symmetric_difference(b.geometry).area < 1e-12  # degrees²: well under a cm²
            assert a.geometry.hausdorff_distance(b.geometry) < 1e-7


@pytest.mark.parametrize("doc, words", [
    ({"type": "FeatureCollection", "features": []}, "no features"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                 "geometry": {"type": "Polygon", "coordinates": [[1, 2]]}}]},
     "malformed geometry"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": None}]},
     "has no geometry"),
    ({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                 "geometry": {"type": "Point", "coordinates": [3.3, 49.4]}}]},
     "not a polygon"),
])
def test_bad_geojson_is_one_clear_error(tmp_path, doc, words):
    p = tmp_path / "bad.geojson"
    p.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=words):
        load_polygon(p)


def _star(spikes, seed):
    import random
    from shapely.geometry import Polygon
    rnd = random.Random(seed)
    pts = []
    for k in range(spikes):
        a = 2 * math.pi * k / spikes
        r = rnd.uniform(20, 400)
        pts.append((r * math.cos(a), r * math.sin(a)))
    return Polygon(pts)


@given(st.integers(3, 400), st.integers(0, 10_000), st.integers(0, 30))
@settings(max_examples=60, deadline=None)
def test_a_planned_fence_fits_arducopter_and_covers_what_it_stands_for(spikes, seed, n_excl):
    """Any inclusion polygon and any number of exclusions: the fence fits ArduCopter's 560 bytes, the inclusion
    polygon is within its vertex budget and covers the original, each exclusion kept lies inside its own (a fence
    tighter than the zone would trigger a return on a legal path)."""
    from shapely.geometry import Point
    from dronectl.geo import (FENCE_EXCLUSION_VERTICES, FENCE_INCLUSION_VERTICES, FENCE_STORAGE_BYTES, Projector,
                              fence_bytes, fence_polygons)
    from shapely.geometry import Polygon as P

    proj = Projector.around(Point(3.3236, 49.3817))
    inc = _star(spikes, seed)
    excl = shapely.union_all([Point(-300 + 20 * i, (i % 5) * 30 - 60).buffer(6, quad_segs=8) for i in range(n_excl)]) \
        if n_excl else None
    fence = fence_polygons(proj, inc, excl)
    assert fence_bytes(fence) <= FENCE_STORAGE_BYTES
    assert fence[0].inclusion and len(fence[0].vertices) <= FENCE_INCLUSION_VERTICES
    back = proj.to_metric(P([(lon, lat) for lat, lon in fence[0].vertices]))
    assert back.buffer(0.05).covers(inc)  # lat/lon kept to 1e-7 degree (about 1 cm)
    for f in fence[1:]:
        assert not f.inclusion and len(f.vertices) <= FENCE_EXCLUSION_VERTICES
        ex = proj.to_metric(P([(lon, lat) for lat, lon in f.vertices]))
        assert any(part.buffer(0.05).covers(ex) for part in getattr(excl, "geoms", [excl]))


@settings(max_examples=80, deadline=None)
@given(st.floats(43.0, 50.5), st.floats(-1.0, 7.5))
def test_a_take_off_point_typed_lon_lat_is_refused_with_the_swap(lat, lon):
    """Any French point typed LON,LAT is thousands of km from a zone round it, and the refusal names the swap;
    typed the right way round it passes."""
    from shapely.geometry import Point

    from dronectl.geo import Projector, check_point_reach

    proj = Projector.around(Point(lon, lat))
    zone = proj.to_lonlat(proj.to_metric(Point(lon, lat)).buffer(100))
    check_point_reach(lat, lon, zone, "--home", "the zone", 600.0, "the line of sight")
    with pytest.raises(InputError) as err:
        check_point_reach(lon, lat, zone, f"--home {lon:.8g},{lat:.8g}", "the zone", 600.0, "the line of sight")
    msg = str(err.value)
    assert " km from the nearest point of the zone" in msg and f"swapped ({lat:.8g},{lon:.8g}) it would be 0 m" in msg


def test_swapped_point_warning_only_for_a_point_that_swapped_lands_in_france():
    from dronectl.geo import swapped_point_warning

    assert swapped_point_warning(49.3817, 3.3236, "--center") is None  # Soissons, as typed
    assert "swapped (49.3817,3.3236) it would be in France" in swapped_point_warning(3.3236, 49.3817, "--center")
    assert swapped_point_warning(-33.86, 151.2, "--center") is None  # Sydney: far, but not a swap of France
