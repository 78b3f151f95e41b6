"""Numbers at and past their limits, through the installed console script: every option of `plan survey` and
`plan check`, and every number read from a file (camera, airspace, DEM, plan), is refused in one line naming
the option, the value and the range (exit 2, no traceback, no file left), and no NaN reaches a file or --json."""

from __future__ import annotations

import json
import math
import subprocess

from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
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
    "battery nan": (["--battery-min", "nan"], "--battery-min nan: must be between 1 and 600 min"),
    "battery -inf": (["--battery-min", "-inf"], "--battery-min -inf: must be between 1 and 600 min"),
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
    # --json: the one JSON error object on stdout, the same sentence as stderr's line
    assert json.loads(r.stdout) == {"error": r.stderr.strip().removeprefix("dronectl: error: "), "exit_code": 2}
    assert list(tmp_path.iterdir()) == []


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
    (["--battery-min", "inf"], "--battery-min inf: must be between 1 and 600 min"),
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
     "dronectl data 'battery_min' nan: must be between 1 and 600 min"),
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
    r = dronectl("plan", "survey", "--polygon", swapped, "-o", "s.plan", "--json", "--no-airspace", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert any("with the two swapped it would be in France" in w for w in json.loads(r.stdout)["warnings"])
    r = dronectl("zones", "list", cwd=tmp_path)  # the shipped zones are the right way round
    assert r.returncode == 0 and "warning" not in r.stderr
    r = dronectl("plan", "survey", "--zone", ABBAYE, "-o", "a.plan", "--json", cwd=tmp_path)
    assert not any("swapped" in w for w in json.loads(r.stdout)["warnings"])


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


NASTY = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e9, -1e9, 1e-9, 1e308]),
                  st.floats(allow_nan=True, allow_infinity=True))
SURVEY_OPTIONS = {  # option: (the range it takes, values a little outside it)
    "--altitude": (st.floats(10, 120), st.floats(0, 200)), "--gsd": (st.floats(0.3, 3), st.floats(0, 10)),
    "--front-overlap": (st.floats(0, 95), st.floats(90, 100)), "--side-overlap": (st.floats(0, 95), st.floats(90, 100)),
    "--angle": (st.floats(-360, 360), st.floats(-1000, 1000)), "--speed": (st.floats(1, 20), st.floats(0, 30)),
    "--turnaround": (st.floats(0, 100), st.floats(-10, 200)), "--terrain-tolerance": (st.floats(0.5, 5), st.floats(-1, 20)),
    "--battery-min": (st.floats(5, 60), st.floats(0, 1000)), "--reserve": (st.floats(0, 80), st.floats(-10, 100)),
    "--capacity": (st.integers(10, 2000), st.integers(-5, 70000)), "--vlos": (st.floats(300, 2000), st.floats(-10, 20000)),
}


@st.composite
def survey_options(draw):
    names = draw(st.lists(st.sampled_from(sorted(SURVEY_OPTIONS)), min_size=1, max_size=2, unique=True))
    if "--altitude" in names and "--gsd" in names:
        names.remove("--gsd")
    args = []
    for n in names:
        meant, edge = SURVEY_OPTIONS[n]
        v = draw(st.one_of(meant, meant, edge) if n == "--capacity" else st.one_of(meant, meant, edge, NASTY))
        args += [n, repr(v) if isinstance(v, float) else str(v)]
    return args


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(args=survey_options())
def test_any_option_values_are_refused_cleanly_or_planned_to_pass_check(tmp_path_factory, args):
    from click.testing import CliRunner

    from dronectl.api import check_plan_file
    from dronectl.cli import cli

    d = tmp_path_factory.mktemp("h")
    r = CliRunner().invoke(cli, ["plan", "survey", "--zone", ABBAYE, *args, "-o", str(d / "x.plan"), "--json"])
    assert not isinstance(r.exception, Exception) or isinstance(r.exception, SystemExit), repr(r.exception)
    if r.exit_code != 0:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("dronectl: error: "), (args, r.stderr)
        assert list(d.iterdir()) == []
        event("refused")
        return
    event("planned")
    summary = json.loads(r.stdout, parse_constant=_no_constant)
    assert summary["files"] and sorted(str(p) for p in d.iterdir()) == sorted(summary["files"])
    for f in summary["files"]:
        json.loads(Path(f).read_text(), parse_constant=_no_constant)
        assert check_plan_file(f) == [], (args, f)


def _no_constant(name):
    raise AssertionError(f"{name} in JSON output")


def test_terrain_over_a_cliff_is_refused_at_planning_time(tmp_path):
    """A 240 m step under the zone: terrain following would fly from far below to far above the take-off point,
    which `plan check` refuses; the planner refuses it first, and writes nothing."""
    dem = tmp_path / "cliff.tif"
    z = np.full((500, 500), 50.0, dtype="float32")
    z[:, 236:] = 290.0  # the step runs north-south through the abbaye
    with rasterio.open(dem, "w", driver="GTiff", width=500, height=500, count=1, dtype="float32", crs="EPSG:2154",
                       transform=from_origin(722000.0, 6921000.0, 5.0, 5.0)) as ds:
        ds.write(z, 1)
    r = dronectl("plan", "survey", "--zone", ABBAYE, "--terrain", dem, "-o", "c.plan", "--preview", "c.png",
                 cwd=tmp_path)
    one_line_refusal(r, "the plan would fail its preflight checks: ")
    assert "following the terrain gives heights from" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cliff.tif"]


def test_beyond_line_of_sight_is_refused_at_planning_time_as_check_would(tmp_path):
    r = dronectl("plan", "survey", "--zone", "aisne-berges", "-o", "a.plan", cwd=tmp_path)
    one_line_refusal(r, "beyond the 500 m visual line of sight")
    assert list(tmp_path.iterdir()) == []
    r = dronectl("plan", "survey", "--zone", "aisne-berges", "--vlos", "1200", "-o", "a.plan", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    files = json.loads(r.stdout)["files"]
    # plan check takes the plan's own radius; a stricter one given at check time is still applied
    assert dronectl("plan", "check", *files[:1], cwd=tmp_path).returncode == 0
    r = dronectl("plan", "check", files[0], "--vlos", "300", cwd=tmp_path)
    assert r.returncode == 1 and "beyond the 300 m visual line of sight" in r.stderr


def test_replanning_removes_the_stale_sorties_of_an_earlier_split_and_says_so(tmp_path):
    r = dronectl("plan", "survey", "--zone", "centre-ville", "--battery-min", "10", "-o", "c.plan", "--json",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)["files"]
    assert len(first) >= 4
    last = first[-1]
    assert dronectl("plan", "export", last, "--format", "png", cwd=tmp_path).returncode == 0  # its preview
    (tmp_path / "c-99.plan").write_text("my own notes, not a dronectl plan\n")  # not ours: left alone
    r = dronectl("plan", "survey", "--zone", "centre-ville", "--battery-min", "25", "-o", "c.plan", "--json",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    now = out["files"]
    assert 1 < len(now) < len(first)
    stale = first[len(now):] + [last.replace(".plan", ".png")]
    assert sorted(out["removed"]) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(now + ["c-99.plan"])
    line = [ln for ln in r.stderr.splitlines() if "stale" in ln]
    assert len(line) == 1 and all(s in line[0] for s in stale)
    # one sortie now: every NAME-k.plan goes, NAME.plan stays
    r = dronectl("plan", "survey", "--zone", "centre-ville", "--battery-min", "120", "-o", "c.plan", "--json",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(r.stdout)["removed"]) == sorted(now)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c-99.plan", "c.plan"]


@pytest.mark.parametrize("items", [[], [{"type": "SimpleItem", "autoContinue": True, "command": 178, "doJumpId": 1,
                                         "frame": 2, "params": [1, 5, -1, 0, 0, 0, 0]}]])
def test_an_empty_plan_is_refused_by_check_in_one_line(good_plan, tmp_path, items):
    empty = _edit_plan(good_plan, tmp_path / "empty.plan", lambda d: d["mission"].__setitem__("items", items))
    r = dronectl("plan", "check", empty, cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "there is nothing to fly" in lines[0], r.stderr
    r = dronectl("plan", "check", empty, "--json", cwd=tmp_path)
    assert r.returncode == 1 and [v["rule"] for v in json.loads(r.stdout)["violations"]] == ["empty"]


def test_summary_metres_are_rounded_to_a_decimetre(tmp_path):
    r = dronectl("plan", "survey", "--zone", ABBAYE, "--camera", "p4rtk", "--gsd", "1.7", "-o", "x.plan", "--json",
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    metres = {k: v for k, v in s.items() if k.endswith("_m")}
    assert set(metres) >= {"altitude_m", "length_m", "line_spacing_m", "trigger_distance_m", "footprint_side_m",
                           "footprint_front_m"}
    for k, v in metres.items():
        assert v == round(v, 1) and len(repr(v).split(".")[-1]) <= 1, (k, v)
    # the figures are the planner's, rounded: the altitude the GSD asks for, to 0.1 m
    assert s["altitude_m"] == round(1.7 / 2.7412 * 100, 1)


@pytest.mark.parametrize("command", ["plan survey -o", "plan survey --preview", "plan export -o", "archive --archive"])
def test_an_unwritable_output_path_is_exit_3_and_says_why(good_plan, tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = {"plan survey -o": ["plan", "survey", "--zone", ABBAYE, "-o", blocker / "x.plan"],
            "plan survey --preview": ["plan", "survey", "--zone", ABBAYE, "-o", "ok.plan", "--preview",
                                      blocker / "x.png"],
            "plan export -o": ["plan", "export", good_plan, "--format", "geojson", "-o", blocker / "x.geojson"],
            "archive --archive": ["archive", "ingest", good_plan, "--service", "technical", "--archive", blocker]}[command]
    r = dronectl(*args, cwd=tmp_path)
    one_line_refusal(r, f"{blocker} is a file, not a folder", code=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"] and blocker.read_text() == ""


@pytest.mark.parametrize("option", ["--polygon", "--exclude", "--zones"])
def test_a_nan_coordinate_in_a_zone_file_is_one_line(tmp_path, option):
    bad = tmp_path / "nan.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "z"}, '
                   '"geometry": {"type": "Polygon", "coordinates": [[[3.32, 49.38], [3.33, NaN], [3.33, 49.39], '
                   '[3.32, 49.38]]]}}]}')
    args = {"--polygon": ["--polygon", bad], "--exclude": ["--zone", ABBAYE, "--exclude", bad],
            "--zones": ["--zone", "z", "--zones", bad]}[option]
    r = dronectl("plan", "survey", *args, "-o", "x.plan", cwd=tmp_path)
    one_line_refusal(r, "has a coordinate that is not a finite number (NaN or infinity)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.geojson"]
