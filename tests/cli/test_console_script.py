"""The installed console script, run as a user runs it: every help screen and bare group exits 0.

In-process CliRunner tests cannot see a fault at start-up (an import that only works because the test
runner imported something first); these run ``.venv/bin/dronectl`` as a subprocess.
"""

from __future__ import annotations

import subprocess

import click

from dronectl.cli import cli
from tests.conftest import console_script


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([console_script(), *args], capture_output=True, text=True, timeout=60)


def every_command_path() -> list[tuple[str, ...]]:
    """Every group and command the CLI lists, as argument tuples: (), ("plan",), ("plan", "survey")..."""
    out: list[tuple[str, ...]] = [()]

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd, info_name=path[-1] if path else "dronectl")
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                out.append((*path, name))
                walk(sub, (*path, name))

    walk(cli, ())
    return out


def test_every_help_screen_and_bare_group_works():
    paths = every_command_path()
    assert ("plan", "survey") in paths and ("mission", "upload") in paths  # the walk reached the leaves
    for path in paths:
        p = run(*path, "--help")
        assert p.returncode == 0 and "Traceback" not in p.stderr, (path, p.stderr)
        assert "Usage: dronectl" in p.stdout, (path, p.stdout)
        if not path or isinstance(_resolve(path), click.Group):
            bare = run(*path)
            assert bare.returncode == 0 and "Traceback" not in bare.stderr, (path, bare.stderr)
            assert "Commands:" in bare.stdout, (path, bare.stdout)


def test_only_built_commands_are_listed():
    p = run("--help")
    listed = [ln.split()[0] for ln in p.stdout.split("Commands:")[1].strip().splitlines()]
    for name in listed:
        assert run(name, "--help").returncode == 0, name
    assert run("no-such-command").returncode == 2


def test_version():
    from dronectl import __version__

    p = run("--version")
    assert p.returncode == 0 and __version__ in p.stdout


def _resolve(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = cli
    for name in path:
        cmd = cmd.get_command(click.Context(cmd), name)
    return cmd


# --- the field cases of issue 19 (and 21, item 11): run as a user runs them --------------------------------------
import json  # noqa: E402
import os  # noqa: E402

import pytest  # noqa: E402

CHANTIER = "chantier-mediatheque"


def in_dir(tmp_path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([console_script(), *map(str, args)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, **(env or {})})


def one_error_line(p: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dronectl: error: "), p.stderr
    return lines[0]


def zone_file(path, features, crs: str | None = None):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features]}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(doc))
    return path


def square(lon, lat, d=0.001):
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d],
                                                [lon, lat]]]}


@pytest.mark.parametrize("args, code", [
    (("zones", "list", "--zones", "missing.geojson", "--json"), 2),
    (("plan", "survey", "--zone", "nowhere", "-o", "x.plan", "--json"), 2),
    (("plan", "survey", "--zone", CHANTIER, "--speed", "fast", "--json"), 2),  # a usage error too
    (("archive", "search", "--as", "technical", "--archive", "none", "--format", "json"), 2),
])
def test_every_json_command_prints_one_json_error_object(tmp_path, args, code):
    p = in_dir(tmp_path, *args)
    assert p.returncode == code
    line = one_error_line(p) if "--speed" not in args else p.stderr.strip().splitlines()[-1]
    err = json.loads(p.stdout)
    assert err["exit_code"] == code and err["error"] and err["error"] in line
    assert list(tmp_path.iterdir()) == []


def test_a_home_typed_lon_lat_is_refused_with_the_distance_and_the_swap(tmp_path):
    p = in_dir(tmp_path, "plan", "survey", "--zone", CHANTIER, "--home", "3.32705,49.37735", "-o", "x.plan")
    line = one_error_line(p)
    assert p.returncode == 2
    assert "--home 3.32705,49.37735 is 6," in line and "km from the nearest point of zone 'chantier-mediatheque'" in line
    assert "swapped (49.37735,3.32705) it would be 0 m from it" in line and "LAT,LON" in line
    far = in_dir(tmp_path, "plan", "survey", "--zone", CHANTIER, "--home", "48.8566,2.3522", "-o", "x.plan")
    assert "is 91" in one_error_line(far) and "km from" in far.stderr and "swapped" not in far.stderr  # Paris
    line = in_dir(tmp_path, "plan", "corridor", "--zone-line", "aisne-rive-gauche", "--width", "20", "--home",
                  "3.3265,49.3858", "-o", "c.plan")
    assert "swapped (49.3858,3.3265)" in one_error_line(line)
    assert list(tmp_path.iterdir()) == []


def test_an_orbit_centre_typed_lon_lat_is_warned(tmp_path):
    p = in_dir(tmp_path, "plan", "orbit", "--center", "3.3236,49.3817", "--radius", "30", "--altitude", "40",
               "-o", "o.plan", "--json")
    assert p.returncode == 0 and "Traceback" not in p.stderr
    assert "dronectl: warning: --center 3.3236,49.3817 lies at latitude 3.3236, longitude 49.3817, outside France; " \
           "swapped (49.3817,3.3236) it would be in France" in p.stderr
    ok = in_dir(tmp_path, "plan", "orbit", "--center", "49.3817,3.3236", "--radius", "30", "--altitude", "40",
                "-o", "o2.plan")
    assert ok.returncode == 0 and "warning" not in ok.stderr


LONG = "abbaye-saint-jean-des-vignes-facade-ouest-et-cloitre"


@pytest.mark.parametrize("env", [{"COLUMNS": "80", "TTY_COMPATIBLE": "1", "FORCE_COLOR": "1"}, {"COLUMNS": "80"}],
                         ids=["terminal-80", "piped"])
def test_zones_list_never_cuts_a_name(tmp_path, env):
    zones = zone_file(tmp_path / "z.geojson", [
        ({"name": LONG, "service": "communication", "kind": "structure", "height_m": 20}, square(3.3190, 49.3768)),
        ({"name": "evil\x1b]52;c;SGVsbG8=\x07\x1b[2Jname\nnext", "service": "technical"}, square(3.32, 49.38))])
    p = in_dir(tmp_path, "zones", "list", "--zones", zones, env=env)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert LONG in p.stdout and "communication" in p.stdout and "…" not in p.stdout
    listed = json.loads(in_dir(tmp_path, "zones", "list", "--zones", zones, "--json", env=env).stdout)
    assert listed[0]["kind"] == "structure"  # kind: structure is listed as such
    # control characters in names are shown escaped, never sent to the terminal
    assert "\x07" not in p.stdout and "]52;" not in p.stdout.replace("\\x1b]52;", "") and "\x1b[2J" not in p.stdout
    assert "evil\\x1b]52;c;SGVsbG8=\\x07\\x1b[2Jname\\nnext" in p.stdout


def test_a_zone_in_degrees_declared_in_lambert93_and_a_1_cm_zone_say_why(tmp_path):
    l93 = zone_file(tmp_path / "l93.geojson", [({"name": "z"}, square(3.3190, 49.3768))], crs="EPSG:2154")
    p = in_dir(tmp_path, "plan", "survey", "--zone", "z", "--zones", l93, "-o", "x.plan")
    line = one_error_line(p)
    assert "declared in EPSG:2154 (metres) but its coordinates look like degrees" in line and "EPSG:4326" in line
    tiny = zone_file(tmp_path / "tiny.geojson", [({"name": "t"}, square(3.3190, 49.3768, d=1e-7))])
    p = in_dir(tmp_path, "plan", "survey", "--zone", "t", "--zones", tiny, "-o", "x.plan")
    line = one_error_line(p)
    assert "zone 't'" in line and "m², under 1 m²" in line and "exclusion" not in line
    assert sorted(f.name for f in tmp_path.iterdir()) == ["l93.geojson", "tiny.geojson"]


def _frame(names_lonlat):
    import geopandas as gpd
    from shapely.geometry import shape

    return gpd.GeoDataFrame({"name": [n for n, _ in names_lonlat]},
                            geometry=[shape(square(lon, lat, 0.0008)) for _, (lon, lat) in names_lonlat],
                            crs="EPSG:4326")


@pytest.mark.parametrize("driver, ext", [("GPKG", "gpkg"), ("KML", "kml"), ("ESRI Shapefile", "shp"),
                                         ("GML", "gml"), ("GeoJSON", "geojson")])
def test_every_zone_format_plans_with_its_names(tmp_path, driver, ext):
    path = tmp_path / f"zones.{ext}"
    _frame([("parvis-ouest", (3.3195, 49.3770))]).to_crs(2154 if driver in ("GPKG", "ESRI Shapefile") else 4326) \
        .to_file(path, driver=driver)
    listed = in_dir(tmp_path, "zones", "list", "--zones", path, "--json")
    assert listed.returncode == 0 and "warning" not in listed.stderr, listed.stderr
    assert [z["name"] for z in json.loads(listed.stdout)] == ["parvis-ouest"]  # the KML <name> too, not zone-1
    p = in_dir(tmp_path, "plan", "survey", "--zones", path, "--zone", "parvis-ouest", "-o", "p.plan", "--json")
    assert p.returncode == 0 and "Traceback" not in p.stderr and "warning" not in p.stderr.lower(), p.stderr
    assert (tmp_path / "p.plan").is_file()


def test_a_multi_layer_file_needs_layer(tmp_path):
    path = tmp_path / "two.gpkg"
    _frame([("nord", (3.3195, 49.3790))]).to_file(path, layer="nord", driver="GPKG")
    _frame([("sud", (3.3195, 49.3770))]).to_file(path, layer="sud", driver="GPKG")
    p = in_dir(tmp_path, "zones", "list", "--zones", path)
    assert p.returncode == 2
    assert "has 2 layers ('nord', 'sud'): choose one with --layer NAME" in one_error_line(p)
    p = in_dir(tmp_path, "zones", "list", "--zones", path, "--layer", "sud", "--json")
    assert p.returncode == 0 and p.stderr == "" and [z["name"] for z in json.loads(p.stdout)] == ["sud"]
    p = in_dir(tmp_path, "plan", "survey", "--zones", path, "--layer", "sud", "--zone", "sud", "-o", "s.plan")
    assert p.returncode == 0 and p.stderr.count("warning") == 0, p.stderr
    bad = in_dir(tmp_path, "zones", "list", "--zones", path, "--layer", "est")
    assert "has no layer 'est'; its layers are 'nord', 'sud'" in one_error_line(bad)


def test_a_png_given_as_dem_is_one_line_in_dronectl_words(tmp_path):
    from PIL import Image

    Image.new("L", (50, 50)).save(tmp_path / "dem.png")
    p = in_dir(tmp_path, "plan", "survey", "--zone", CHANTIER, "--terrain", "dem.png", "-o", "x.plan")
    assert p.returncode == 2 and "has no CRS" in one_error_line(p)
    assert "site-packages" not in p.stderr and "Warning" not in p.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["dem.png"]


def test_a_refusal_shows_every_item_it_summarises(tmp_path):
    """"(and 3 more)" names the others: on stderr under the line, and as "details" in the JSON error object."""
    assert in_dir(tmp_path, "plan", "survey", "--zone", CHANTIER, "-o", "ok.plan").returncode == 0
    doc = json.loads((tmp_path / "ok.plan").read_text())
    waypoints = [it for it in doc["mission"]["items"] if it.get("command") == 16]
    waypoints[0]["params"][6] = 150  # above 120 m
    waypoints[1]["params"][4] += 0.02  # 2 km away: outside the fence and the line of sight
    (tmp_path / "bad.plan").write_text(json.dumps(doc))
    before = sorted(f.name for f in tmp_path.iterdir())
    p = in_dir(tmp_path, "fly", "bad.plan", "--connect", "tcp:127.0.0.1:1", "--json",
               env={"DRONECTL_FLIGHT_LOG": str(tmp_path / "log.jsonl")})
    assert p.returncode == 1 and "Traceback" not in p.stderr
    err = json.loads(p.stdout)
    assert "more)" in err["error"] and len(err["details"]) >= 3 and err["exit_code"] == 1
    lines = p.stderr.strip().splitlines()
    assert lines[0] == f"dronectl: error: {err['error']}"
    assert lines[1:] == [f"  - {d}" for d in err["details"]]
    assert any("visual line of sight" in d for d in err["details"]) and any("120 m" in d for d in err["details"])
    assert sorted(f.name for f in tmp_path.iterdir()) == before  # nothing written, not even the flight log


def test_a_homes_file_written_lat_lon_is_refused_with_the_swap(tmp_path):
    points = [[49.3866, 3.3213], [3.3337, 49.3866]]  # the first one written lat,lon
    (tmp_path / "homes.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": c}} for c in points]}))
    p = in_dir(tmp_path, "plan", "survey", "--zone", "aisne-berges", "--homes", "homes.geojson", "-o", "h.plan")
    line = one_error_line(p)
    assert p.returncode == 2 and "point 1 of homes.geojson (lat 3.3213, lon 49.3866) is 6," in line
    assert "swapped (49.3866,3.3213) it would be 0 m from it: a GeoJSON point is [longitude, latitude]" in line
    assert sorted(f.name for f in tmp_path.iterdir()) == ["homes.geojson"]
