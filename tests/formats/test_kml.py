"""KML export: Google Earth structure, the zone outline, round trip through ExtendedData, unsafe XML refused."""

from __future__ import annotations

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import given, settings
from shapely.geometry import box

from dronectl.errors import InputError
from dronectl.formats import kml
from dronectl.mission import Home, Mission, MissionItem
from tests.formats.strategies import assert_same_items, missions

NS = {"k": "http://www.opengis.net/kml/2.2"}
ZONE = box(3.320, 49.380, 3.324, 49.383).difference(box(3.321, 49.381, 3.322, 49.382))
M = Mission(items=(MissionItem(22, 3, 0, 0, 0, 0, 49.3805, 3.3205, 40),
                   MissionItem(206, 2, 12.0, 0, 1, 0),
                   MissionItem(16, 3, 0, 0, 0, 0, 49.3805, 3.3235, 40),
                   MissionItem(16, 0, 0, 0, 0, 0, 49.3825, 3.3235, 95.5),
                   MissionItem(20, 2)),
            home=Home(49.3804, 3.3204, 48.0), meta={"zone": "test-zone"})


@settings(max_examples=60, deadline=None)
@given(missions)
def test_kml_round_trips_items_and_home(m):
    back = kml.loads(kml.dumps(m), "x.kml")
    assert_same_items(m, back)
    assert back.home == m.home


def test_structure_google_earth_reads(tmp_path):
    path = tmp_path / "m.kml"
    kml.write(M, path, {"zone": ZONE, "photos": [(3.321, 49.3805)]})
    root = fromstring(path.read_bytes())
    assert root.tag == "{http://www.opengis.net/kml/2.2}kml"
    line = root.find(".//k:LineString", NS)
    # the take-off point is at 48 m above sea level: every height is placed above the sea, as the drone flies it
    assert line.find("k:altitudeMode", NS).text == "absolute"
    coords = [tuple(map(float, c.split(","))) for c in line.find("k:coordinates", NS).text.split()]
    assert coords == [(3.3205, 49.3805, 88.0), (3.3235, 49.3805, 88.0), (3.3235, 49.3825, 95.5)]
    names = [pm.find("k:name", NS).text for pm in root.iterfind(".//k:Folder/k:Placemark", NS)]
    assert names[:5] == ["1 TAKEOFF", "2 DO_SET_CAM_TRIGG_DIST", "3 WAYPOINT", "4 WAYPOINT", "5 RETURN_TO_LAUNCH"]
    # the zone outline, with its courtyard hole
    poly = root.find(".//k:Polygon", NS)
    assert poly.find(".//k:outerBoundaryIs", NS) is not None and len(poly.findall("k:innerBoundaryIs", NS)) == 1
    # an absolute-altitude item is drawn at its sea-level height
    items = root.find(".//k:Folder", NS)
    assert items.find("k:name", NS).text == "Mission items"
    modes = [p.find("k:altitudeMode", NS).text for p in items.iterfind("k:Placemark/k:Point", NS)]
    assert modes == ["absolute", "absolute", "absolute"]
    back = kml.read(path)
    assert_same_items(M, back)
    assert back.home == M.home


def test_altitudes_relative_to_the_ground_only_when_the_home_altitude_is_unknown():
    from dataclasses import replace

    unknown = replace(M, home=Home(49.3804, 3.3204, 0.0))
    root = fromstring(kml.dumps(unknown).encode())
    line = root.find(".//k:LineString", NS)
    assert line.find("k:altitudeMode", NS).text == "relativeToGround"
    coords = [tuple(map(float, c.split(","))) for c in line.find("k:coordinates", NS).text.split()]
    assert coords == [(3.3205, 49.3805, 40.0), (3.3235, 49.3805, 40.0), (3.3235, 49.3825, 95.5)]
    # a terrain plan knows its take-off point's altitude even at 0 m (a coast)
    terrain = replace(unknown, meta={"terrain": True})
    assert fromstring(kml.dumps(terrain).encode()).find(".//k:LineString/k:altitudeMode", NS).text == "absolute"


GE_KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>pin</name>
<Point><coordinates>3.32,49.38,0</coordinates></Point></Placemark></Document></kml>"""

BOMB = """<?xml version="1.0"?>
<!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>&b;</name></Document></kml>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>&x;</name></Document></kml>"""


@pytest.mark.parametrize("text, expected", [
    ("<kml><Document>", "not well-formed XML"),
    ("<gpx version='1.1'></gpx>", "not a KML document"),
    (GE_KML, "no mission items found"),
    (BOMB, "refused unsafe XML"),
    (XXE, "refused unsafe XML"),
    (kml.dumps(M).replace('<Data name="frame">', '<Data name="framework">', 1), "missing frame"),
    (kml.dumps(M).replace("<value>3</value>", "<value>three</value>", 1), "bad mission data"),
])
def test_bad_kml_is_an_input_error(text, expected):
    with pytest.raises(InputError) as err:
        kml.loads(text, "bad.kml")
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_plan_over_a_dem_exports_absolute_altitudes(tmp_path):
    """``plan survey --terrain`` then ``plan export --format kml``, as a user runs them: the path is placed above
    the sea (home altitude from the DEM + height above the take-off point), so Google Earth draws it where the
    drone flies over the slope."""
    import subprocess

    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from dronectl.geo import find_zone, Projector
    from tests.conftest import console_script

    zone = find_zone("chantier-mediatheque").geometry
    proj = Projector.around(zone)
    x0, y0 = proj.xy(zone.centroid.x, zone.centroid.y)
    n, res = 200, 2.0
    ground = 50.0 + np.tile(np.arange(n, dtype="float32") * 0.05, (n, 1))  # a 20 m rise west to east
    with rasterio.open(tmp_path / "dem.tif", "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs="EPSG:2154", transform=from_origin(x0 - n, y0 + n, res, res), nodata=-9999) as ds:
        ds.write(ground, 1)
    run = lambda *a: subprocess.run([console_script(), *map(str, a)], capture_output=True, text=True, timeout=120,
                                    cwd=tmp_path)
    p = run("plan", "survey", "--zone", "chantier-mediatheque", "--terrain", "dem.tif", "--altitude", "40",
            "-o", "t.plan")
    assert p.returncode == 0, p.stderr
    p = run("plan", "export", "t.plan", "--format", "kml", "-o", "t.kml")
    assert p.returncode == 0, p.stderr
    m = kml.read(tmp_path / "t.kml")
    root = fromstring((tmp_path / "t.kml").read_bytes())
    line = root.find(".//k:LineString", NS)
    assert line.find("k:altitudeMode", NS).text == "absolute"
    alts = [float(c.split(",")[2]) for c in line.find("k:coordinates", NS).text.split()]
    rel = [it.alt_m for it in m.items if it.has_position]
    assert alts == pytest.approx([m.home.alt_m + a for a in rel], abs=0.01)
    assert min(alts) > 80  # above sea level: ground 50-70 m + 40 m, not 40 m over whatever Google Earth has
