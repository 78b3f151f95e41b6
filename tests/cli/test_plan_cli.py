"""`dronectl plan survey` end to end through the CLI: outputs, sorties, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from dronectl.cli import cli
from dronectl.formats import plan as planfmt
from dronectl.mission import CMD_DO_SET_CAM_TRIGG_DIST, CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_TAKEOFF

ABBAYE = "abbaye-saint-jean-des-vignes"


def run(*args, cwd=None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_survey_writes_a_flyable_plan_and_a_summary(tmp_path):
    out = tmp_path / "abbaye.plan"
    r = run("plan", "survey", "--zone", ABBAYE, "--altitude", "50", "-o", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    for key in ("area_m2", "transects", "length_m", "duration_s", "photos", "gsd_cm", "line_spacing_m",
                "trigger_distance_m", "footprint_side_m", "footprint_front_m", "sorties", "coverage", "warnings"):
        assert key in s
    assert s["coverage"] >= 0.995 and s["sorties"] == 1
    m = planfmt.read(out)
    assert m.items[0].command == CMD_NAV_TAKEOFF and m.items[-1].command == CMD_NAV_RETURN_TO_LAUNCH
    triggers = [i for i in m.items if i.command == CMD_DO_SET_CAM_TRIGG_DIST]
    assert len(triggers) == 2 * s["transects"]  # on at each transect start, off at its end
    assert [t.param1 > 0 for t in triggers] == [True, False] * s["transects"]
    assert all(i.alt_m == pytest.approx(50.0) for i in m.items if i.has_position)
    doc = json.loads(out.read_text())
    assert doc["fileType"] == "Plan" and {i["type"] for i in doc["mission"]["items"]} == {"SimpleItem"}


def test_long_survey_is_split_into_complete_sorties(tmp_path):
    out = tmp_path / "centre.plan"
    r = run("plan", "survey", "--zone", "centre-ville", "--battery-min", "12", "-o", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["sorties"] >= 2
    files = sorted(tmp_path.glob("centre-*.plan"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    assert len(files) == s["sorties"] and not out.exists()
    total_photos = 0
    for k, f in enumerate(files, start=1):
        m = planfmt.read(f)
        assert m.items[0].command == CMD_NAV_TAKEOFF and m.items[-1].command == CMD_NAV_RETURN_TO_LAUNCH
        assert m.plan_data.sortie == k and m.plan_data.duration_s <= 12 * 60 * 0.75
        total_photos += m.plan_data.photos
    assert total_photos == s["photos"]


def test_gsd_sets_the_altitude(tmp_path):
    r = run("plan", "survey", "--zone", ABBAYE, "--camera", "p4rtk", "--gsd", "2", "-o", str(tmp_path / "a.plan"), "--json")
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["gsd_cm"] == pytest.approx(2.0, abs=1e-3)
    assert s["altitude_m"] == pytest.approx(2.0 / 2.7412 * 100, abs=0.05)


def test_terrain_following_keeps_height_above_ground(tmp_path):
    # a DEM in Lambert-93 rising 1 m per 10 m towards the east, around the abbaye
    dem = tmp_path / "dem.tif"
    x0, y0, res, n = 722000.0, 6921000.0, 5.0, 500
    cols = np.arange(n, dtype="float32")
    z = np.tile(50.0 + cols * res / 10.0, (n, 1)).astype("float32")
    with rasterio.open(dem, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:2154",
                       transform=from_origin(x0, y0, res, res), nodata=-9999) as ds:
        ds.write(z, 1)
    out = tmp_path / "t.plan"
    r = run("plan", "survey", "--zone", ABBAYE, "--altitude", "40", "--terrain", str(dem), "-o", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    m = planfmt.read(out)
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, 2154, always_xy=True)
    hx, _ = tr.transform(m.home.lon_deg, m.home.lat_deg)
    ground_home = 50.0 + (hx - x0) / 10.0
    for it in m.items:
        if it.has_position and it.command != CMD_NAV_TAKEOFF:
            x, _ = tr.transform(it.lon_deg, it.lat_deg)
            height = it.alt_m + ground_home - (50.0 + (x - x0) / 10.0)
            assert height == pytest.approx(40.0, abs=3.0)
    alts = {round(i.alt_m) for i in m.items if i.has_position}
    assert len(alts) > 3  # the altitude really follows the slope


def _no_traceback(r):
    assert r.exit_code != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("dronectl: error:") or lines[0].startswith("Error:")
    assert "Traceback" not in r.stderr


def _bad_inputs(tmp_path):
    bad_json = tmp_path / "broken.geojson"
    bad_json.write_text('{"type": "FeatureCollection", "features": [')
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    bowtie = tmp_path / "bowtie.geojson"
    bowtie.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                      "geometry": {"type": "Polygon", "coordinates": [[[3.32, 49.38], [3.33, 49.39], [3.33, 49.38],
                                                                       [3.32, 49.39], [3.32, 49.38]]]}}]}))
    text = tmp_path / "notes.txt"
    text.write_text("zones: centre-ville, abbaye\n")
    far_dem = tmp_path / "far.tif"
    with rasterio.open(far_dem, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32", crs="EPSG:2154",
                       transform=from_origin(650000, 6860000, 10, 10)) as ds:
        ds.write(np.zeros((10, 10), dtype="float32"), 1)
    return {
        "malformed GeoJSON": (["--polygon", str(bad_json)], "not valid JSON"),
        "empty GeoJSON": (["--polygon", str(empty)], "no features"),
        "self-intersecting polygon": (["--polygon", str(bowtie)], "not a valid polygon"),
        "unknown zone": (["--zone", "nowhere"], "unknown zone 'nowhere'"),
        "unknown camera": (["--zone", ABBAYE, "--camera", "hasselblad"], "unknown camera"),
        "altitude over 120 m": (["--zone", ABBAYE, "--altitude", "130"], "--altitude 130: must be between 10 and 120 m"),
        "altitude over the airspace ceiling": (["--zone", "zone-activites-sud", "--altitude", "50"], "30 m ceiling"),
        "overlap of 100 %": (["--zone", ABBAYE, "--front-overlap", "100"], "--front-overlap 100: must be between 0 and 95 %"),
        "DEM not covering the zone": (["--zone", ABBAYE, "--terrain", str(far_dem)], "does not cover"),
        "GSD needing more than 120 m": (["--zone", ABBAYE, "--gsd", "9"], "--gsd 9: needs 336.6 m above ground with camera 'mavic3e', outside 10 to 120 m"),
        "missing polygon file": (["--polygon", str(tmp_path / "nope.geojson")], "not found"),
        "zone file that is not a vector file": (["--zone", ABBAYE, "--zones", str(text)],
                                                "not a vector format GDAL reads; give a GeoJSON or GeoPackage"),
        "DEM that is not a raster": (["--zone", ABBAYE, "--terrain", str(text)], "not a raster GDAL reads"),
        "battery too small for one leg": (["--zone", ABBAYE, "--battery-min", "1"], "not even one photo leg fits"),
    }


@pytest.mark.parametrize("case", ["malformed GeoJSON", "empty GeoJSON", "self-intersecting polygon", "unknown zone",
                                  "unknown camera", "altitude over 120 m", "altitude over the airspace ceiling",
                                  "overlap of 100 %", "DEM not covering the zone", "GSD needing more than 120 m",
                                  "missing polygon file", "zone file that is not a vector file",
                                  "DEM that is not a raster", "battery too small for one leg"])
def test_bad_input_is_one_clear_line_and_writes_nothing(tmp_path, case):
    args, expected = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out" / "x.plan"
    before = set(tmp_path.rglob("*"))
    r = run("plan", "survey", *args, "-o", str(out), "--preview", str(tmp_path / "out" / "x.png"))
    _no_traceback(r)
    assert expected in r.stderr
    assert set(tmp_path.rglob("*")) == before  # no output, no temporary file left


@pytest.mark.parametrize("where", ["plan", "preview", "export"])
def test_an_output_path_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path, where):
    src = tmp_path / "src.plan"
    run("plan", "survey", "--zone", ABBAYE, "-o", str(src))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    bad = blocker / "sub"  # under a regular file: no folder can be made there
    args = {"plan": ["plan", "survey", "--zone", ABBAYE, "-o", str(bad / "x.plan")],
            "preview": ["plan", "survey", "--zone", ABBAYE, "-o", str(tmp_path / "ok.plan"),
                        "--preview", str(bad / "x.png")],
            "export": ["plan", "export", str(src), "--format", "kml", "-o", str(bad / "x.kml")]}[where]
    before = set(tmp_path.rglob("*"))
    r = run(*args)
    _no_traceback(r)
    assert r.exit_code == 3  # I/O (README, "Exit codes")
    assert f"{blocker} is a file, not a folder" in r.stderr and "a-file/sub" in r.stderr
    assert set(tmp_path.rglob("*")) == before  # the .plan written before the failed preview is gone too


def test_zones_and_cameras_list_as_json():
    r = run("zones", "list", "--json")
    names = {z["name"] for z in json.loads(r.stdout)}
    assert {"centre-ville", ABBAYE, "aisne-berges", "quartier-presles"} <= names
    cams = json.loads(run("cameras", "list", "--json").stdout)
    for c in cams:
        assert {"id", "sensor_width_mm", "sensor_height_mm", "focal_length_mm", "image_width_px", "image_height_px",
                "source"} <= set(c)
        assert c["source"]


def test_check_lists_each_violation_and_exits_1(tmp_path):
    from dataclasses import replace

    good = tmp_path / "good.plan"
    assert run("plan", "survey", "--zone", ABBAYE, "-o", str(good)).exit_code == 0
    r = run("plan", "check", str(good))
    assert r.exit_code == 0 and "passed" in r.stdout
    m = planfmt.read(good)
    high = [replace(i, alt_m=130.0) if i.has_position else i for i in m.items]
    bad = tmp_path / "bad.plan"
    planfmt.write(m.with_items(high), bad)
    r = run("plan", "check", str(bad), "--vlos", "50", "--json")
    assert r.exit_code == 1
    rules = {v["rule"] for v in json.loads(r.stdout)["violations"]}
    assert {"altitude", "vlos"} <= rules
    r = run("plan", "check", str(bad), "--vlos", "50")
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 1 and len(lines) == len(rules) and all(ln.startswith(str(bad)) for ln in lines)


@pytest.mark.parametrize("fmt", ["waypoints", "geojson", "kml"])
def test_export_reads_back_to_the_same_mission(tmp_path, fmt):
    from dronectl.formats import read_mission

    src = tmp_path / "a.plan"
    assert run("plan", "survey", "--zone", "chantier-mediatheque", "-o", str(src)).exit_code == 0
    out = tmp_path / f"a.{fmt}"
    r = run("plan", "export", str(src), "--format", fmt, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    a, b = planfmt.read(src), read_mission(out)
    assert a.same_as(b) and a.home == b.home


def test_export_png_draws_a_picture(tmp_path):
    from PIL import Image

    src = tmp_path / "a.plan"
    assert run("plan", "survey", "--zone", ABBAYE, "-o", str(src)).exit_code == 0
    r = run("plan", "export", str(src), "--format", "png", "-o", str(tmp_path / "a.png"))
    assert r.exit_code == 0
    assert Image.open(tmp_path / "a.png").size[0] >= 800


def test_export_of_a_broken_plan_is_one_line(tmp_path):
    bad = tmp_path / "x.plan"
    bad.write_text('{"fileType": "Plan", "mission": {"items": [{"type": "ComplexItem"}]}}')
    r = run("plan", "export", str(bad), "--format", "kml", "-o", str(tmp_path / "x.kml"))
    _no_traceback(r)
    assert "SimpleItem" in r.stderr and not (tmp_path / "x.kml").exists()


def test_every_pattern_reports_its_take_off_point_and_no_reused_key(tmp_path):
    """orbit and structure --json carry homes/sortie_homes as survey does; no grid key means a ring or a layer."""
    from tests.conftest import console_script
    import subprocess

    def plan(*args):
        r = subprocess.run([console_script(), "plan", *args, "--json"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    orbit = plan("orbit", "--center", "49.3817,3.3236", "--radius", "40", "--altitudes", "30,50", "-o", "o.plan")
    structure = plan("structure", "--zone", "abbaye-facade", "--distance", "15", "-o", "s.plan")
    for s in (orbit, structure):
        m = planfmt.read(tmp_path / s["files"][0])
        assert s["homes"][0]["home"] == 1 and s["homes"][0]["sorties"] == list(range(1, s["sorties"] + 1))
        assert (s["homes"][0]["lat"], s["homes"][0]["lon"]) == (m.home.lat_deg, m.home.lon_deg)
        assert s["sortie_homes"] == [1] * s["sorties"]
        assert not {"transects", "passes", "area_m2", "line_spacing_m", "angle_deg"} & set(s)
    assert orbit["rings"] == 2 and orbit["coverage"] is None
    assert structure["layers"] == len(structure["altitudes_m"]) and structure["coverage"] == structure[
        "facade_coverage"]
