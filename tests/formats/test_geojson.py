"""GeoJSON export: what QGIS shows (path, items, photos, footprints, zone) and the round trip of items."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from shapely.geometry import box, shape

from dronectl.errors import InputError
from dronectl.formats import geojson
from dronectl.mission import FenceCircle, FencePolygon, Home, Mission, MissionItem, RallyPoint
from tests.formats.strategies import assert_same_items, missions, plan_data_of

ZONE = box(3.320, 49.380, 3.324, 49.383).difference(box(3.321, 49.381, 3.322, 49.382))
M = Mission(items=(MissionItem(22, 3, 0, 0, 0, 0, 49.3805, 3.3205, 40),
                   MissionItem(206, 2, 12.0, 0, 1, 0),
                   MissionItem(16, 3, 0, 0, 0, 0, 49.3805, 3.3235, 40),
                   MissionItem(16, 3, 0, 0, 0, 0, 49.3825, 3.3235, 45),
                   MissionItem(20, 2)),
            home=Home(49.3804, 3.3204, 48.0),
            fence_polygons=(FencePolygon(((49.379, 3.319), (49.384, 3.319), (49.384, 3.325), (49.379, 3.325))),
                            FencePolygon(((49.3812, 3.3212), (49.3818, 3.3212), (49.3818, 3.3218)), False)),
            fence_circles=(FenceCircle(49.381, 3.322, 400.0),), rally=(RallyPoint(49.3806, 3.3206, 30.0),),
            cruise_speed_mps=7.5, plan_data=plan_data_of("test-zone"))


def _kinds(doc):
    out = {}
    for f in doc["features"]:
        out.setdefault(f["properties"]["kind"], []).append(f)
    return out


@settings(max_examples=60, deadline=None)
@given(missions)
def test_geojson_round_trips_items_and_home(m):
    back = geojson.loads(geojson.dumps(m), "x.geojson")
    assert_same_items(m, back)
    assert back.home == m.home


def test_fence_rally_and_speeds_survive_too(tmp_path):
    path = tmp_path / "m.geojson"
    geojson.write(M, path)
    back = geojson.read(path)
    assert back.fence_polygons == M.fence_polygons and back.fence_circles == M.fence_circles
    assert back.rally == M.rally and back.cruise_speed_mps == 7.5


def test_features_a_map_shows():
    photos = [(3.3210, 49.3805), (3.3220, 49.3805)]
    footprints = [box(3.3205, 49.3800, 3.3215, 49.3810), box(3.3215, 49.3800, 3.3225, 49.3810)]
    doc = json.loads(geojson.dumps(M, {"zone": ZONE, "photos": photos, "footprints": footprints}))
    k = _kinds(doc)
    path = k["path"][0]["geometry"]
    assert path["type"] == "LineString"
    assert path["coordinates"] == [[3.3205, 49.3805, 40], [3.3235, 49.3805, 40], [3.3235, 49.3825, 45]]
    items = k["item"]
    assert [f["properties"]["seq"] for f in items] == [1, 2, 3, 4, 5]
    assert items[1]["geometry"] is None and items[1]["properties"]["command_name"] == "DO_SET_CAM_TRIGG_DIST"
    assert items[1]["properties"]["params"] == [12.0, 0, 1, 0]
    assert items[2]["geometry"]["coordinates"] == [3.3235, 49.3805, 40]
    assert [f["geometry"]["coordinates"] for f in k["photo"]] == [list(p) for p in photos]
    assert len(k["footprint"]) == 2
    zone = shape(k["zone"][0]["geometry"])
    assert zone.equals(ZONE) and len(zone.interiors) == 1
    assert k["zone"][0]["properties"]["name"] == "test-zone"
    assert k["home"][0]["properties"]["alt_amsl_m"] == 48.0


def test_no_extras_no_survey_features():
    k = _kinds(geojson.to_geojson(M))
    assert not {"zone", "photo", "footprint", "exclusion"} & set(k)


def test_unset_params_are_null_not_nan():
    m = Mission(items=(MissionItem(16, 3, 0, 0, 0, float("nan"), 49.38, 3.32, 30),))
    text = geojson.dumps(m)
    assert "NaN" not in text
    assert json.loads(text)["features"][-1]["properties"]["params"][3] is None


@pytest.mark.parametrize("text, expected", [
    ("{not json", "not valid JSON"),
    ('{"type": "Feature"}', "expected a FeatureCollection"),
    ('{"type": "FeatureCollection", "features": []}', "no 'item' or 'home'"),
    # a plain zone file, not a mission
    (json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "z"}, "geometry": {"type": "Point", "coordinates": [3, 49]}}]}),
     "no 'item' or 'home'"),
    (json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kind": "item", "seq": 1, "command": 16, "frame": 3, "params": [0, 0]},
         "geometry": None}]}), "feature 1 (item)"),
    (json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"kind": "item", "seq": 2, "command": 16, "frame": 3,
                                           "params": [0, 0, 0, 0]}, "geometry": None}]}), "without gaps"),
])
def test_bad_geojson_is_an_input_error(text, expected):
    with pytest.raises(InputError) as err:
        geojson.loads(text, "bad.geojson")
    assert expected in str(err.value) and "\n" not in str(err.value)
