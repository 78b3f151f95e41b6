"""plan structure: layers and photos against a hand computation, every photo facing the wall from the distance
(hypothesis over convex and concave outlines), facade coverage, plan check, exports, bad input via the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from PIL import Image
from shapely import affinity
from shapely.geometry import MultiPoint, Point, Polygon, box

from dronectl.camera import find_camera
from dronectl.checks import check_mission
from dronectl.errors import InputError
from dronectl.formats import plan as planfmt
from dronectl.geo import Projector, Structure
from dronectl.mission import (CMD_DO_DIGICAM_CONTROL, CMD_DO_SET_ROI_LOCATION, CMD_DO_SET_ROI_NONE,
                              CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_TAKEOFF, CMD_NAV_WAYPOINT)
from dronectl.survey.structure import StructureParams, facade_coverage, half_tangents, plan_structure
from tests.conftest import console_script

LAT0, LON0 = 49.3769, 3.3191
CAM = find_camera("mavic3e")


def lonlat(poly_m: Polygon) -> Polygon:
    """A polygon drawn in metres east/north of (LON0, LAT0), in lon/lat."""
    return Polygon([(LON0 + x / (111_320.0 * math.cos(math.radians(LAT0))), LAT0 + y / 111_200.0)
                    for x, y in poly_m.exterior.coords])


def shots(m):
    """(photo waypoint, ROI in force) for each DO_DIGICAM_CONTROL of a mission."""
    out, wp, roi = [], None, None
    for it in m.items:
        if it.command == CMD_NAV_WAYPOINT:
            wp = it
        elif it.command == CMD_DO_SET_ROI_LOCATION:
            roi = it
        elif it.command == CMD_DO_DIGICAM_CONTROL:
            out.append((wp, roi))
    return out


def test_layers_and_photo_spacing_match_a_hand_computation():
    # mavic3e: half tangents 17.3/24.58 = 0.7038 across, 13/24.58 = 0.5289 up. From 10 m the frame on the wall is
    # 14.08 m wide and 10.58 m high; at 70 % overlap layers 3.173 m apart from 30 - 5.289 = 24.71 m (frame top on the
    # roof line) down to 5.289 m (frame bottom on the ground): ceil(19.42 / 3.173) + 1 = 8 layers.
    outline = lonlat(box(0, 0, 40, 20))
    p = plan_structure(outline, CAM, StructureParams(distance_m=10.0, height_m=30.0))
    s = p.summary.to_dict()
    assert s["layers"] == 8 and s["altitudes_m"][0] == pytest.approx(24.71, abs=0.01)
    assert s["altitudes_m"][-1] == pytest.approx(5.29, abs=0.01)
    assert np.diff(s["altitudes_m"]) == pytest.approx([-19.42 / 7] * 7, abs=0.01)
    # the path: 2 x (40 + 20) + 2 pi 10 = 182.8 m; photos every <= 0.3 x 14.08 = 4.22 m: 44 per layer
    assert s["path_length_m"] == pytest.approx(120 + 2 * math.pi * 10, rel=0.005)
    assert s["photos_per_layer"] == 44 and s["photos"] == 8 * 44
    assert s["trigger_distance_m"] == pytest.approx(s["path_length_m"] / 44, abs=0.1)
    assert s["safe_altitude_m"] == 40.0 and s["facade_coverage"] >= 0.99
    assert s["facade_area_m2"] == pytest.approx(120 * 30, rel=0.005)  # the test draws in approximate metres
    bottom_up = plan_structure(outline, CAM, StructureParams(distance_m=10.0, height_m=30.0, bottom_up=True))
    assert list(bottom_up.summary.figures.altitudes_m) == s["altitudes_m"][::-1]


def test_a_sortie_enters_and_leaves_above_the_top_and_releases_the_roi():
    p = plan_structure(lonlat(box(0, 0, 20, 12)), CAM, StructureParams(distance_m=8.0, height_m=12.0))
    for m in p.missions:
        items = list(m.items)
        assert items[0].command == CMD_NAV_TAKEOFF and items[0].alt_m == 20.0
        assert items[2].command == CMD_NAV_WAYPOINT and items[2].alt_m == 20.0  # above the first layer's start
        assert items[-1].command == CMD_NAV_RETURN_TO_LAUNCH
        assert [i.alt_m for i in items[-3:-1]] == [20.0, 20.0]  # above the last layer's end, then above home
        assert items[-4].command == CMD_DO_SET_ROI_NONE
        assert check_mission(m) == []


def test_pitch_puts_the_roi_below_the_layer():
    p = plan_structure(lonlat(box(0, 0, 30, 15)), CAM, StructureParams(distance_m=10.0, height_m=20.0, pitch_deg=-20))
    for wp, roi in shots(p.missions[0]):
        drop = wp.alt_m - roi.alt_m
        assert drop == pytest.approx(10.0 * math.tan(math.radians(20)), abs=0.3) or drop > 3.6  # corner shots: farther


def outline_m(draw) -> Polygon:
    if draw(st.booleans()):  # convex: the hull of random points
        pts = draw(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 40)), min_size=4, max_size=9))
        poly = MultiPoint(pts).convex_hull
    else:  # concave: an L or T of two rectangles
        w1, h1 = draw(st.floats(12, 50)), draw(st.floats(6, 20))
        w2, h2 = draw(st.floats(6, 20)), draw(st.floats(10, 35))
        x2 = draw(st.floats(min(0.0, w1 - w2), max(0.0, w1 - w2)))
        poly = box(0, 0, w1, h1).union(box(x2, 0, x2 + w2, h1 + h2))
    return affinity.rotate(poly, draw(st.floats(0, 180)), origin="centroid")


@st.composite
def structures(draw):
    poly = outline_m(draw)
    assume(isinstance(poly, Polygon) and poly.area > 60 and poly.minimum_rotated_rectangle.area > 0)
    assume(min(poly.minimum_rotated_rectangle.exterior.length / 4, math.sqrt(poly.area)) > 4)
    d = draw(st.floats(5, 20))
    height = draw(st.floats(8, 40))
    bottom = draw(st.sampled_from([0.0, 3.0]))
    pitch = draw(st.sampled_from([0.0, -15.0]))
    return poly, d, height, bottom, pitch


@settings(max_examples=50, deadline=None)
@given(structures())
def test_every_photo_faces_the_wall_from_the_distance_and_the_facade_is_covered(case):
    poly, d, height, bottom, pitch = case
    outline = lonlat(poly)
    p = plan_structure(outline, CAM, StructureParams(distance_m=d, height_m=height, bottom_m=bottom,
                                                     pitch_deg=pitch, capacity=65535, battery_min=600))
    proj = Projector.around(outline)
    wall = proj.to_metric(outline)
    n = 0
    for m in p.missions:
        assert all(a.alt_m >= bottom for a in m.items if a.command == CMD_NAV_WAYPOINT)
        for wp, roi in shots(m):
            n += 1
            x, y = proj.xy(wp.lon_deg, wp.lat_deg)
            at = Point(x, y)
            assert not wall.contains(at)
            assert wall.exterior.distance(at) == pytest.approx(d, rel=0.10)
            rx, ry = proj.xy(roi.lon_deg, roi.lat_deg)
            assert wall.exterior.distance(Point(rx, ry)) < 0.05  # the ROI is on the wall
            assert roi.alt_m == pytest.approx(wp.alt_m + math.hypot(rx - x, ry - y) * math.tan(math.radians(pitch)),
                                              abs=0.02)
        assert check_mission(m, capacity=None) == []
    assert n == p.summary.photos
    assert p.summary.figures.facade_coverage >= 0.99


def test_coverage_is_measured_not_assumed():
    poly = box(0, 0, 40, 20)
    p = plan_structure(lonlat(poly), CAM, StructureParams(distance_m=10.0, height_m=30.0))
    th, tv = half_tangents(CAM)
    proj = Projector.around(lonlat(poly))
    wall = proj.to_metric(lonlat(poly))
    pts = np.array([(*proj.xy(lon, lat), alt, h) for m in p.missions for lon, lat, h, alt in (p.to_list() for p in m.plan_data.photo_points)])
    assert facade_coverage(wall, pts, 0.0, th, tv, 0.0, 30.0, 15.0) >= 0.99
    # every fourth layer (24.7 and 13.6 m, frames 10.6 m high): gaps between them and under the lower one
    alts = sorted(set(pts[:, 2]), reverse=True)
    thin = pts[np.isin(pts[:, 2], alts[::4])]
    assert facade_coverage(wall, thin, 0.0, th, tv, 0.0, 30.0, 15.0) < 0.9
    # every fourth photo along the layers (16.6 m apart, frames 14.1 m wide): vertical strips unseen
    assert facade_coverage(wall, pts[::4], 0.0, th, tv, 0.0, 30.0, 15.0) < 0.95
    # turned away from the wall: nothing seen
    away = pts.copy()
    away[:, 3] = (away[:, 3] + 180) % 360
    assert facade_coverage(wall, away, 0.0, th, tv, 0.0, 30.0, 15.0) == 0.0


def test_the_far_side_of_an_l_is_hidden_from_a_photo():
    # a camera east of an L's short leg, looking west: the long leg's wall behind the short leg is not seen
    ell = box(0, 0, 40, 10).union(box(0, 0, 10, 30))
    th, tv = half_tangents(CAM)
    cam = np.array([[25.0, 20.0, 5.0, 270.0]])  # looking west at the short leg's east wall (x = 10)
    seen = facade_coverage(ell, cam, 0.0, th, tv, 0.0, 10.0, 30.0)
    only_front = facade_coverage(box(0, 10, 10, 30), cam, 0.0, th, tv, 0.0, 10.0, 30.0)
    assert 0 < seen < only_front


def test_plan_check_refuses_a_waypoint_moved_into_the_structure():
    p = plan_structure(lonlat(box(0, 0, 20, 12)), CAM, StructureParams(distance_m=8.0, height_m=12.0, bottom_m=2.0))
    m = p.missions[0]
    items = list(m.items)
    k = [i for i, it in enumerate(items) if it.command == CMD_NAV_WAYPOINT][4]
    inside = lonlat(box(9, 5, 11, 7)).centroid
    moved = dataclasses.replace(m, items=tuple(items[:k] + [dataclasses.replace(items[k], lat_deg=inside.y,
                                                                              lon_deg=inside.x)] + items[k + 1:]))
    vs = [v for v in check_mission(moved) if v.rule == "structure"]
    assert len(vs) == 1 and vs[0].item == k + 1 and "nearer than 90 % of the scan's 8 m distance" in vs[0].message
    low = dataclasses.replace(m, items=tuple(items[:k] + [dataclasses.replace(items[k], alt_m=1.0)] + items[k + 1:]))
    vs = [v for v in check_mission(low) if v.rule == "structure"]
    assert len(vs) == 1 and "under the 2 m bottom" in vs[0].message


def test_another_structure_in_the_way_is_refused_with_the_distance_to_fly_at():
    outline = lonlat(box(0, 0, 20, 12))
    shed = Structure("hangar", lonlat(box(26, 0, 36, 10)), 8.0)  # 6 m east of the wall
    with pytest.raises(InputError, match=r"passes through 'hangar', 6 m from it: fly closer \(--distance 5 or less\)"):
        plan_structure(outline, CAM, StructureParams(distance_m=10.0, height_m=15.0), obstacles=[shed])
    assert plan_structure(outline, CAM, StructureParams(distance_m=5.0, height_m=15.0), obstacles=[shed]).missions
    low = Structure("wall", lonlat(box(26, 0, 36, 10)), 1.0)  # lower than every layer: flown over
    assert plan_structure(outline, CAM, StructureParams(distance_m=10.0, height_m=15.0), obstacles=[low]).missions


@pytest.mark.parametrize("kw, words", [
    (dict(distance_m=2.0, height_m=10.0), "--distance 2: must be between 3 and 200 m"),
    (dict(distance_m=10.0, height_m=10.0, bottom_m=10.0), "--height 10 is not above --bottom 10"),
    (dict(distance_m=10.0, height_m=10.0, pitch_deg=10.0), "--pitch 10: must be between -60 and 0 degrees"),
    (dict(distance_m=10.0, height_m=10.0, side_overlap=0.99), "--side-overlap 99: must be between 0 and 95 %"),
])
def test_bad_values_are_refused_in_the_core(kw, words):
    with pytest.raises(InputError, match=re.escape(words)):
        StructureParams(**kw)


def run(*args, cwd):
    return subprocess.run([console_script(), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_console_script_scans_the_abbey_with_its_height_and_the_plan_passes_check(tmp_path):
    r = run("plan", "structure", "--zone", "abbaye-facade", "--distance", "15", "--preview", "a.png", "--json",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    for key in ("zone", "camera", "altitude_m", "length_m", "duration_s", "photos", "gsd_cm", "trigger_distance_m",
                "speed_mps", "sorties", "items", "coverage", "warnings", "files", "layers", "facade_coverage"):
        assert key in s
    assert s["height_m"] == 70 and s["safe_altitude_m"] == 85 and s["facade_coverage"] >= 0.99
    assert s["sorties"] > 1 and all(n + 1 <= 650 for n in s["items"])
    plans = [f for f in s["files"] if f.endswith(".plan")]
    assert len(plans) == s["sorties"]
    for f in plans:
        doc = json.loads((tmp_path / f).read_text())
        assert {i["type"] for i in doc["mission"]["items"]} == {"SimpleItem"}
        meta = doc["dronectl"]
        assert meta["pattern"] == "structure" and meta["height_m"] == 70 and meta["distance_m"] == 15
        assert meta["outline"]["type"] == "Polygon" and meta["bottom_m"] == 0
        c = run("plan", "check", f, cwd=tmp_path)
        assert c.returncode == 0, c.stderr
    assert sum(len(shots(planfmt.read(tmp_path / f))) for f in plans) == s["photos"]
    for fmt in ("waypoints", "geojson", "kml", "png", "plan"):
        e = run("plan", "export", plans[0], "--format", fmt, "-o", f"x.{fmt}", cwd=tmp_path)
        assert e.returncode == 0, e.stderr
    feats = json.loads((tmp_path / "x.geojson").read_text())["features"]
    assert any(f["properties"].get("kind") == "structure" for f in feats)
    # the preview: the building in grey, camera ticks in crimson
    img = np.asarray(Image.open(tmp_path / "a.png").convert("RGB")).reshape(-1, 3)
    from dronectl.formats.png import STRUCTURE_FILL, TICK
    assert (img == STRUCTURE_FILL).all(axis=1).sum() > 1000
    assert (img == TICK).all(axis=1).sum() > 50


def write(path, geometry):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": geometry}]}))
    return path.name


def lonlat_coords(*xy):
    return [[LON0 + x / (111_320.0 * math.cos(math.radians(LAT0))), LAT0 + y / 111_200.0] for x, y in xy]


@pytest.fixture
def files(tmp_path):
    write(tmp_path / "bowtie.geojson", {"type": "Polygon", "coordinates": [lonlat_coords(
        (0, 0), (20, 10), (20, 0), (0, 10), (0, 0))]})
    write(tmp_path / "house.geojson", {"type": "Polygon", "coordinates": [lonlat_coords(
        (0, 0), (20, 0), (20, 10), (0, 10), (0, 0))]})
    zones = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "maison", "kind": "structure", "height_m": 9},
         "geometry": {"type": "Polygon", "coordinates": [lonlat_coords((0, 0), (20, 0), (20, 10), (0, 10), (0, 0))]}},
        {"type": "Feature", "properties": {"name": "grange", "kind": "structure", "height_m": 12},
         "geometry": {"type": "Polygon", "coordinates": [lonlat_coords((28, 0), (40, 0), (40, 10), (28, 10),
                                                                       (28, 0))]}}]}
    (tmp_path / "zones.geojson").write_text(json.dumps(zones))
    return tmp_path


@pytest.mark.parametrize("args, words", [
    (["--polygon", "house.geojson", "--distance", "1.5", "--height", "10"], "--distance 1.5: must be between 3 and"),
    (["--zone", "maison", "--zones", "zones.geojson", "--distance", "12"],
     "the path around 'maison' passes through 'grange', 8 m from it: fly closer (--distance 7 or less)"),
    (["--polygon", "house.geojson", "--distance", "10", "--height", "115"],
     "--height 115: the scan climbs to 125 m (the top plus --distance, to enter and leave above the structure), "
     "above the 100 m ceiling of airspace 'LFJS Soissons-Courmelles 100 m'"),
    (["--polygon", "house.geojson", "--distance", "10", "--height", "115", "--no-airspace"],
     "above the 120 m limit: scan a lower part (--height 110 or less)"),
    (["--polygon", "bowtie.geojson", "--distance", "10", "--height", "10"], "is not a valid polygon (Self-intersection"),
    (["--polygon", "house.geojson", "--distance", "10", "--height", "5", "--bottom", "5"],
     "--height 5 is not above --bottom 5"),
    (["--polygon", "house.geojson", "--distance", "10"], "give the height of 'house' with --height M"),
    (["--polygon", "house.geojson", "--distance", "10", "--height", "8", "--home", f"{LAT0 + 5 / 111_200.0},"
      f"{LON0 + 10 / (111_320.0 * math.cos(math.radians(LAT0)))}"], "the take-off point is on or next to 'house'"),
    (["--zone", "maison", "--polygon", "house.geojson", "--distance", "10"], "give the structure with --zone NAME or"),
])
def test_console_script_bad_input_is_one_line_and_no_file(files, args, words):
    before = set(files.iterdir())
    r = run("plan", "structure", *args, "-o", "s.plan", "--preview", "s.png", cwd=files)
    assert r.returncode == 2, r.stderr
    assert sum(words in line for line in r.stderr.splitlines()) == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert set(files.iterdir()) == before

