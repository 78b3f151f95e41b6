"""Numbers at and past their limits, through the installed console script: every option of `plan survey` and
`plan check`, and every number read from a file (camera, airspace, DEM, plan), is refused in one line naming
the option, the value and the range (exit 2, no traceback, no file left), and no NaN reaches a file or --json."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.conftest import console_script

ABBAYE = "abbaye-saint-jean-des-vignes"


def dronectl(*args, cwd):
    return subprocess.run([console_script(), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


def one_line_refusal(r, expected: str, code: int = 2):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines == [lines[0]] and lines[0].startswith("dronectl: error: "), r.stderr  # one line: no warnings either
    assert "Traceback" not in r.stderr and "RuntimeWarning" not in r.stderr
    assert expected in lines[0], lines[0]


SURVEY_CASES = {
    "altitude nan": (["--altitude", "nan"], "--altitude nan: must be between 10 and 120 m"),
    "altitude inf": (["--altitude", "inf"], "--altitude inf: must be between 10 and 120 m"),
    "altitude 0": (["--altitude", "0"], "--altitude 0: must be between 10 and 120 m"),
    "gsd nan": (["--gsd", "nan"], "--gsd nan: must be between"),
    "gsd giving 0.4 m": (["--gsd", "0.1"], "--gsd 0.1: needs 3.7 m above ground with camera 'mavic3e', outside 10 to 120 m"),
    "turnaround nan": (["--turnaround", "nan"], "--turnaround nan: must be between 0 and 100 m"),
    "angle nan": (["--angle", "nan"], "--angle nan: must be between -360 and 360 degrees"),
    "speed nan": (["--speed", "nan"], "--speed nan: must be between 1 and 20 m/s"),
    "speed huge": (["--speed", "1e9"], "--speed 1e+09: must be between 1 and 20 m/s"),
    "speed negative": (["--speed", "-5"], "--speed -5: must be between 1 and 20 m/s"),
    "battery nan": (["--battery-min", "nan"], "--battery-min nan: must be between 1 and 180 min"),
    "battery -inf": (["--battery-min", "-inf"], "--battery-min -inf: must be between 1 and 180 min"),
    "front overlap 99.99": (["--front-overlap", "99.99"], "--front-overlap 99.99: must be between 0 and 95 %"),
    "side overlap -1": (["--side-overlap", "-1"], "--side-overlap -1: must be between 0 and 95 %"),
    "reserve 100": (["--reserve", "100"], "--reserve 100: must be between 0 and 80 %"),
    "terrain tolerance -1": (["--terrain-tolerance", "-1"], "--terrain-tolerance -1: must be between 0.5 and 10 m"),
    "capacity 0": (["--capacity", "0"], "--capacity 0: must be between 10 and 65535 items"),
    "vlos 0": (["--vlos", "0"], "--vlos 0: must be between 1 and 10000 m"),
    # a trigger distance the camera cannot keep up with at any speed the vehicle surveys at
    "photos too close for the camera": (["--altitude", "10", "--front-overlap", "95"],
                                        "--front-overlap 95: photos every 0.53 m, but camera 'mavic3e' needs 0.7 s"),
}


@pytest.mark.parametrize("case", sorted(SURVEY_CASES))
def test_survey_option_out_of_range_is_one_line_and_writes_nothing(tmp_path, case):
    args, expected = SURVEY_CASES[case]
    r = dronectl("plan", "survey", "--zone", ABBAYE, *args, "-o", "x.plan", "--preview", "x.png", "--json", cwd=tmp_path)
    one_line_refusal(r, expected)
    assert r.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def good_plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    r = dronectl("plan", "survey", "--zone", ABBAYE, "-o", "good.plan", cwd=d)
    assert r.returncode == 0, r.stderr
    return d / "good.plan"


@pytest.mark.parametrize("args, expected", [
    (["--vlos", "0"], "--vlos 0: must be between 1 and 10000 m"),
    (["--vlos", "-1"], "--vlos -1: must be between 1 and 10000 m"),
    (["--vlos", "nan"], "--vlos nan: must be between 1 and 10000 m"),
    (["--capacity", "0"], "--capacity 0: must be between 10 and 65535 items"),
    (["--battery-min", "inf"], "--battery-min inf: must be between 1 and 180 min"),
    (["--reserve", "nan"], "--reserve nan: must be between 0 and 80 %"),
])
def test_check_option_out_of_range_is_one_line(good_plan, tmp_path, args, expected):
    r = dronectl("plan", "check", good_plan, *args, cwd=tmp_path)
    one_line_refusal(r, expected)


def _edit_plan(src, dst, edit):
    doc = json.loads(src.read_text())
    edit(doc)
    dst.write_text(json.dumps(doc))  # json.dumps writes NaN/Infinity, as a careless tool would
    return dst


@pytest.mark.parametrize("what, edit, expected", [
    ("NaN latitude", lambda d: d["mission"]["items"][2]["params"].__setitem__(4, math.nan),
     "item 3: position: latitude/longitude nan"),
    ("infinite altitude", lambda d: d["mission"]["items"][2]["params"].__setitem__(6, math.inf),
     "item 3: position: altitude inf m out of range"),
    ("infinite param", lambda d: d["mission"]["items"][1]["params"].__setitem__(1, math.inf),
     "item 2: param inf is not a finite number"),
    ("NaN cruise speed", lambda d: d["mission"].__setitem__("cruiseSpeed", math.nan), "cruiseSpeed nan m/s out of range"),
    ("NaN battery in the plan's data", lambda d: d["dronectl"].__setitem__("battery_min", math.nan),
     "dronectl data 'battery_min' nan: must be between 1 and 180 min"),
])
def test_numbers_in_a_plan_file_are_checked(good_plan, tmp_path, what, edit, expected):
    bad = _edit_plan(good_plan, tmp_path / "bad.plan", edit)
    r = dronectl("plan", "check", bad, cwd=tmp_path)
    one_line_refusal(r, expected)


def test_camera_file_figures_are_checked(tmp_path):
    cams = tmp_path / "cams.toml"
    cams.write_text('[[camera]]\nid = "bad"\nsensor_width_mm = nan\nsensor_height_mm = 13.0\nfocal_length_mm = 12.0\n'
                    'image_width_px = 5000\nimage_height_px = 4000\n')
    r = dronectl("plan", "survey", "--zone", ABBAYE, "--camera", "bad", "--cameras", cams, "-o", "x.plan", cwd=tmp_path)
    one_line_refusal(r, "camera 'bad': sensor_width_mm nan: must be between 1 and 100 mm")
    cams.write_text('[[camera]]\nid = "bad"\nsensor_width_mm = 13.2\nsensor_height_mm = 8.8\nfocal_length_mm = 8.8\n'
                    'image_width_px = 5472\nimage_height_px = 3648\nmin_trigger_interval_s = 0\n')
    r = dronectl("cameras", "list", "--cameras", cams, cwd=tmp_path)
    one_line_refusal(r, "camera 'bad': min_trigger_interval_s 0: must be between 0.1 and 60 s")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cams.toml"]


def test_airspace_ceiling_is_checked(tmp_path):
    air = tmp_path / "air.geojson"
    air.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "ctr", "ceiling_m": -30},
        "geometry": {"type": "Polygon", "coordinates": [[[3.3, 49.3], [3.4, 49.3], [3.4, 49.4], [3.3, 49.3]]]}}]}))
    r = dronectl("plan", "survey", "--zone", ABBAYE, "--airspace", air, "-o", "x.plan", cwd=tmp_path)
    one_line_refusal(r, f"airspace zone 'ctr' in {air}: ceiling_m -30: must be between 0 and 10000 m")


def test_dem_with_undeclared_nodata_is_refused(tmp_path):
    dem = tmp_path / "dem.tif"
    z = np.full((400, 400), 60.0, dtype="float32")
    z[230:270, 220:260] = -3.4028235e38  # a nodata value nobody declared, under the zone
    with rasterio.open(dem, "w", driver="GTiff", width=400, height=400, count=1, dtype="float32", crs="EPSG:2154",
                       transform=from_origin(722000.0, 6921000.0, 5.0, 5.0)) as ds:
        ds.write(z, 1)
    r = dronectl("plan", "survey", "--zone", ABBAYE, "--terrain", dem, "-o", "x.plan", cwd=tmp_path)
    one_line_refusal(r, "outside -500 to 9000 m: is its nodata value declared")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dem.tif"]


def test_swapped_lat_lon_get_a_warning(tmp_path):
    from dronectl.geo import DEFAULT_ZONES

    doc = json.loads(DEFAULT_ZONES.read_text())
    f = next(f for f in doc["features"] if f["properties"]["name"] == ABBAYE)
    f["geometry"]["coordinates"] = [[[lat, lon] for lon, lat in ring] for ring in f["geometry"]["coordinates"]]
    swapped = tmp_path / "swapped.geojson"
    swapped.write_text(json.dumps({"type": "FeatureCollection", "features": [f]}))
    r = dronectl("zones", "list", "--zones", swapped, "--json", cwd=tmp_path)
    assert r.returncode == 0
    assert "outside France; with the two swapped it would be in France" in r.stderr
    assert "outside France" in json.loads(r.stdout)[0]["warnings"][0]
    r = dronectl("zones", "list", cwd=tmp_path)  # the shipped zones are the right way round
    assert r.returncode == 0 and "warning" not in r.stderr


def test_json_is_never_written_with_nan():
    from click.testing import CliRunner

    import click

    from dronectl.cli._common import emit_json
    from dronectl.formats import plan as planfmt
    from dronectl.mission import Mission, MissionItem

    @click.command()
    def cmd():
        emit_json({"length_m": math.nan})

    r = CliRunner().invoke(cmd)
    assert isinstance(r.exception, ValueError) and "NaN" not in r.output
    with pytest.raises(ValueError):
        planfmt.dumps(Mission(items=(MissionItem(16, 3, math.inf, 0, 0, 0, 49.38, 3.32, 50.0),)))
    # unset params (NaN in MAVLink) are written as null, as QGroundControl does
    text = planfmt.dumps(Mission(items=(MissionItem(16, 3, math.nan, 0, 0, 0, 49.38, 3.32, 50.0),)))
    assert json.loads(text)["mission"]["items"][0]["params"][0] is None
