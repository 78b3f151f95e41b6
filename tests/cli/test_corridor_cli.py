"""`dronectl plan corridor` and several take-off points, end to end through the CLI."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from PIL import Image

from dronectl.cli import cli
from dronectl.formats import plan as planfmt
from dronectl.formats import read_mission
from dronectl.geo import haversine_m
from dronectl.mission import CMD_DO_SET_CAM_TRIGG_DIST, CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_TAKEOFF
from tests.cli.test_plan_cli import _no_traceback

BOULEVARD = "boulevard-jeanne-d-arc"
BANK = "aisne-rive-gauche"
# two take-off points on the bank of aisne-berges, a quarter and three quarters along it
BERGES_HOMES = ("49.3866,3.3213", "49.3866,3.3337")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _sorties(out, n):
    return [out] if n == 1 else [out.with_name(f"{out.stem}-{k}.plan") for k in range(1, n + 1)]


def test_corridor_along_a_shipped_line_writes_a_flyable_plan(tmp_path):
    out = tmp_path / "bd.plan"
    r = run("plan", "corridor", "--zone-line", BOULEVARD, "--width", "50", "--altitude", "50", "-o", str(out),
            "--preview", str(tmp_path / "bd.png"), "--json")
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    for key in ("area_m2", "transects", "length_m", "duration_s", "photos", "gsd_cm", "line_spacing_m",
                "trigger_distance_m", "footprint_side_m", "footprint_front_m", "sorties", "coverage", "warnings",
                "corridor_length_m", "homes"):
        assert key in s
    assert s["pattern"] == "corridor" and s["sorties"] == 1 and s["coverage"] >= 0.995
    assert 700 < s["corridor_length_m"] < 850 and s["lines"] == math.ceil(50 / s["line_spacing_m"]) == 3
    assert s["homes"][0]["sorties"] == [1]
    m = planfmt.read(out)
    assert m.items[0].command == CMD_NAV_TAKEOFF and m.items[-1].command == CMD_NAV_RETURN_TO_LAUNCH
    triggers = [i for i in m.items if i.command == CMD_DO_SET_CAM_TRIGG_DIST]
    assert [t.param1 > 0 for t in triggers] == [True, False] * s["transects"]  # on at each line's start, off at its end
    doc = json.loads(out.read_text())
    assert {i["type"] for i in doc["mission"]["items"]} == {"SimpleItem"}
    assert m.plan_data.pattern == "corridor" and m.plan_data.part.width_m == 50
    assert Image.open(tmp_path / "bd.png").size[0] >= 800
    r = run("plan", "check", str(out))
    assert r.exit_code == 0, r.stderr
    for fmt in ("waypoints", "geojson", "kml", "png"):
        r = run("plan", "export", str(out), "--format", fmt, "-o", str(tmp_path / f"bd.{fmt}"))
        assert r.exit_code == 0, r.stderr
        if fmt != "png":
            assert read_mission(tmp_path / f"bd.{fmt}").same_as(m)


def test_a_line_file_in_lambert93_and_geopackage_gives_the_same_corridor(tmp_path):
    import geopandas as gpd
    from shapely.geometry import LineString

    line = LineString([(3.3190, 49.3800), (3.3240, 49.3797), (3.3275, 49.3825)])
    frame = gpd.GeoDataFrame({"name": ["rue"]}, geometry=[line], crs=4326)
    frame.to_crs(2154).to_file(tmp_path / "rue.geojson", driver="GeoJSON")
    frame.to_file(tmp_path / "rue.gpkg", driver="GPKG")
    a = json.loads(run("plan", "corridor", "--line", str(tmp_path / "rue.geojson"), "--width", "30",
                       "-o", str(tmp_path / "a.plan"), "--json").stdout)
    b = json.loads(run("plan", "corridor", "--line", str(tmp_path / "rue.gpkg"), "--width", "30",
                       "-o", str(tmp_path / "b.plan"), "--json").stdout)
    assert a["zone"] == "rue" and a["corridor_length_m"] == pytest.approx(b["corridor_length_m"], abs=0.1)
    assert a["photos"] == b["photos"] and a["coverage"] >= 0.995


def test_a_line_is_listed_as_a_line_and_not_surveyed_as_an_area(tmp_path):
    zones = {z["name"]: z for z in json.loads(run("zones", "list", "--json").stdout)}
    assert zones[BANK]["kind"] == "line" and zones[BOULEVARD]["kind"] == "line"
    assert 1900 < zones[BANK]["length_m"] < 2100 and zones[BANK]["service"] == "technical" and zones[BANK]["notes"]
    assert zones["aisne-berges"]["kind"] == "polygon"
    r = run("plan", "survey", "--zone", BANK, "-o", str(tmp_path / "x.plan"))
    _no_traceback(r)
    assert r.exit_code == 2 and "plan corridor --zone-line aisne-rive-gauche" in r.stderr
    assert not list(tmp_path.iterdir())


def _bad(tmp_path):
    def fc(*geoms):
        return json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": g} for g in geoms]})
    one = tmp_path / "one.geojson"
    one.write_text(fc({"type": "LineString", "coordinates": [[3.32, 49.38]]}))
    same = tmp_path / "same.geojson"
    same.write_text(fc({"type": "LineString", "coordinates": [[3.32, 49.38], [3.32, 49.38]]}))
    area = tmp_path / "area.geojson"
    area.write_text(fc({"type": "Polygon", "coordinates": [[[3.32, 49.38], [3.33, 49.38], [3.33, 49.39],
                                                            [3.32, 49.38]]]}))
    line = tmp_path / "line.geojson"
    line.write_text(fc({"type": "LineString", "coordinates": [[3.32, 49.38], [3.325, 49.38]]}))
    south = tmp_path / "south.geojson"  # through zone-activites-sud, under the aerodrome's 30 m ceiling
    south.write_text(fc({"type": "LineString", "coordinates": [[3.2995, 49.3620], [3.3008, 49.3622]]}))
    return {
        "line of one point": (["--line", str(one), "--width", "30"], "fewer than two points"),
        "line of one point twice": (["--line", str(same), "--width", "30"], "fewer than two distinct points"),
        "width 0": (["--line", str(line), "--width", "0"], "--width 0: must be between 1 and 1000 m"),
        "negative width": (["--line", str(line), "--width", "-20"], "--width -20: must be between"),
        "width NaN": (["--line", str(line), "--width", "nan"], "--width nan: must be between"),
        "file with no line": (["--line", str(area), "--width", "30"], "has no line"),
        "line and zone line": (["--line", str(line), "--zone-line", BOULEVARD, "--width", "30"],
                               "--line FILE or --zone-line NAME (one of them)"),
        "neither": (["--width", "30"], "--line FILE or --zone-line NAME (one of them)"),
        "an area as a line": (["--zone-line", "aisne-berges", "--width", "30"], "plan survey --zone aisne-berges"),
        "altitude over the airspace ceiling": (["--line", str(south), "--width", "30", "--altitude", "50"],
                                               "30 m ceiling"),
    }


@pytest.mark.parametrize("case", ["line of one point", "line of one point twice", "width 0", "negative width",
                                  "width NaN", "file with no line", "line and zone line", "neither",
                                  "an area as a line", "altitude over the airspace ceiling"])
def test_bad_corridor_input_is_one_clear_line_and_writes_nothing(tmp_path, case):
    args, expected = _bad(tmp_path)[case]
    out = tmp_path / "out" / "x.plan"
    before = set(tmp_path.rglob("*"))
    r = run("plan", "corridor", *args, "-o", str(out), "--preview", str(tmp_path / "out" / "x.png"))
    _no_traceback(r)
    assert r.exit_code == 2
    assert expected in r.stderr
    assert set(tmp_path.rglob("*")) == before


def test_aisne_berges_from_two_take_off_points_stays_in_sight(tmp_path):
    # from one take-off point the zone is out of sight: refused by the preflight rule
    r = run("plan", "survey", "--zone", "aisne-berges", "-o", str(tmp_path / "one.plan"))
    assert r.exit_code == 2 and "visual line of sight" in r.stderr
    out = tmp_path / "two.plan"
    r = run("plan", "survey", "--zone", "aisne-berges", "--home", BERGES_HOMES[0], "--home", BERGES_HOMES[1],
            "-o", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    assert not [w for w in s["warnings"] if "sight" in w and "beyond" in w]
    assert [h["home"] for h in s["homes"]] == [1, 2] and len(s["sortie_homes"]) == s["sorties"]
    assert s["coverage"] >= 0.995
    homes = [tuple(float(v) for v in h.split(",")) for h in BERGES_HOMES]
    for k, f in enumerate(_sorties(out, s["sorties"])):
        m = planfmt.read(f)
        lat, lon = homes[s["sortie_homes"][k] - 1]
        assert (m.home.lat_deg, m.home.lon_deg) == pytest.approx((lat, lon), abs=1e-6)
        far = max(haversine_m(lat, lon, i.lat_deg, i.lon_deg) for i in m.items if i.has_position)
        assert far <= 500.0  # every sortie within VLOS of its own take-off point
        assert run("plan", "check", str(f)).exit_code == 0
    # one take-off point with the sight rule lifted flies farther
    r = run("plan", "survey", "--zone", "aisne-berges", "--vlos", "5000", "-o", str(tmp_path / "far.plan"), "--json")
    assert r.exit_code == 0, r.stderr
    assert s["length_m"] < json.loads(r.stdout)["length_m"]
    text = run("plan", "survey", "--zone", "aisne-berges", "--home", BERGES_HOMES[0], "--home", BERGES_HOMES[1],
               "-o", str(tmp_path / "text.plan")).stdout
    assert "take-off 1" in text and "take-off 2" in text


def test_homes_from_a_file_and_a_zone_no_home_can_see(tmp_path):
    pts = tmp_path / "homes.geojson"
    pts.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [lon, lat]}}
        for lat, lon in ((49.3866, 3.3213), (49.3866, 3.3337))]}))
    r = run("plan", "survey", "--zone", "aisne-berges", "--homes", str(pts), "-o", str(tmp_path / "f.plan"), "--json")
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)["homes"]) == 2
    before = set(tmp_path.rglob("*"))
    # both at the west end: the east end of the zone is out of everybody's sight
    r = run("plan", "survey", "--zone", "aisne-berges", "--home", "49.3866,3.3160", "--home", "49.3860,3.3190",
            "-o", str(tmp_path / "x.plan"))
    _no_traceback(r)
    assert r.exit_code == 2 and "m beyond the 500 m visual line of sight" in r.stderr
    assert set(tmp_path.rglob("*")) == before


def test_corridor_along_the_bank_from_three_take_off_points(tmp_path):
    out = tmp_path / "bank.plan"
    r = run("plan", "corridor", "--zone-line", BANK, "--width", "40", "--home", "49.3855,3.3165",
            "--home", "49.3862,3.3265", "--home", "49.3855,3.3365", "-o", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    assert sorted({h for h in s["sortie_homes"]}) == [1, 2, 3] and s["coverage"] >= 0.995
    for f in _sorties(out, s["sorties"]):
        assert run("plan", "check", str(f)).exit_code == 0


def test_corridor_follows_the_terrain(tmp_path):
    import numpy as np
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    # a DEM in Lambert-93 rising 1 m per 20 m towards the north, under the boulevard
    dem, (x0, y0, res, n) = tmp_path / "dem.tif", (722000.0, 6922000.0, 5.0, 600)
    z = np.repeat((80.0 - np.arange(n, dtype="float32") * res / 20.0)[:, None], n, axis=1)
    with rasterio.open(dem, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:2154",
                       transform=from_origin(x0, y0, res, res), nodata=-9999) as ds:
        ds.write(z, 1)
    out = tmp_path / "t.plan"
    r = run("plan", "corridor", "--zone-line", BOULEVARD, "--width", "30", "--altitude", "40", "--terrain", str(dem),
            "-o", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    m = planfmt.read(out)
    tr = Transformer.from_crs(4326, 2154, always_xy=True)

    def ground(lon, lat):
        return 80.0 - (y0 - tr.transform(lon, lat)[1]) / 20.0
    for it in m.items:
        if it.has_position and it.command != CMD_NAV_TAKEOFF:
            height = it.alt_m + ground(m.home.lon_deg, m.home.lat_deg) - ground(it.lon_deg, it.lat_deg)
            assert height == pytest.approx(40.0, abs=3.0)
    assert len({round(i.alt_m) for i in m.items if i.has_position}) > 3


def test_the_api_plans_from_several_take_off_points():
    from dronectl import api

    homes = [tuple(float(v) for v in h.split(",")) for h in BERGES_HOMES]
    p = api.plan_survey(zone="aisne-berges", homes=homes)
    assert sorted(set(p.summary.sortie_homes)) == [1, 2]
    c = api.plan_corridor(zone_line=BANK, width_m=40, homes=[(49.3855, 3.3165), (49.3862, 3.3265), (49.3855, 3.3365)])
    assert c.summary.pattern == "corridor" and len(c.summary.homes) == 3
    near = (49.3773, 3.3270)  # one take-off point in a list: the plain plan
    one = api.plan_survey(zone="chantier-mediatheque", homes=[near])
    assert one.summary == api.plan_survey(zone="chantier-mediatheque", home_latlon=near).summary
