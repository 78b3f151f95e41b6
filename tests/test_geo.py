"""Zone files in any CRS and format read to the same lon/lat polygons; a broken file is one clear error."""

from __future__ import annotations

import json

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
