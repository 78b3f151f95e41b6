"""The ``dronectl archive`` commands: output formats, validation (one line, non-zero, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from dronectl.cli import cli
from tests.archive.badfiles import write_bad_inputs
from tests.archive.conftest import LAT0, LON0, line_events


def run(*args, ok=True):
    res = CliRunner().invoke(cli, list(map(str, args)))
    if ok:
        assert res.exit_code == 0, (res.output, res.stderr, res.exception)
    return res


@pytest.fixture
def filled(tmp_path, make_photos):
    arch = tmp_path / "arch"
    make_photos(line_events(4), folder="tech")
    police = make_photos(line_events(2, lat0=LAT0 + 0.003), folder="police")
    r = run("archive", "ingest", tmp_path / "tech", "--service", "technical", "--mission", "m-1",
            "--archive", arch, "--json", "--workers", "1")
    assert json.loads(r.stdout)["counts"] == {"ingested": 4, "duplicates": 0, "skipped": 0, "thumbnails": 0,
                                              "with_thumbnail": 4}
    run("archive", "ingest", *police, "--service", "police", "--mission", "m-1", "--archive", arch)
    return arch


def test_ingest_summary_json_lists_skips(tmp_path, make_photos, monkeypatch):
    good = make_photos(line_events(1))
    write_bad_inputs(tmp_path / "bad", good[0])
    monkeypatch.setenv("DRONECTL_ARCHIVE", str(tmp_path / "a"))
    r = run("archive", "ingest", good[0], tmp_path / "bad", "--service", "technical", "--json")
    out = json.loads(r.stdout)
    assert out["counts"]["ingested"] == 1 and out["counts"]["skipped"] >= 6
    assert all(s["reason"] for s in out["skipped"])
    assert (tmp_path / "a" / "catalogue.sqlite").is_file()
    again = json.loads(run("archive", "ingest", good[0], "--service", "technical", "--json").stdout)
    assert again["counts"]["duplicates"] == 1 and again["duplicates"][0]["id"] == out["ingested"][0]["id"]


def test_search_formats(filled):
    bbox = f"{LON0 - 0.002},{LAT0 - 0.002},{LON0 + 0.002},{LAT0 + 0.002}"
    base = ["archive", "search", "--archive", filled, "--bbox", bbox]
    table = run(*base, "--as", "technical").stdout
    assert "4 image(s)" in table
    as_json = json.loads(run(*base, "--as", "police", "--format", "json").stdout)
    assert len(as_json) == 4 and as_json[0]["footprint"]["type"] == "Polygon"
    gj = json.loads(run("archive", "search", "--archive", filled, "--as", "police", "--format", "geojson").stdout)
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == 6
    stac = json.loads(run(*base, "--as", "technical", "--format", "stac").stdout)
    assert stac["type"] == "FeatureCollection" and "view" in stac["features"][0]["stac_extensions"][0]
    assert len(json.loads(run("archive", "search", "--archive", filled, "--as", "technical", "--format", "json",
                              "--since", "2026-11-22", "--until", "2026-11-22T10:00:03", "--camera", "sim").stdout)) == 2


@pytest.mark.parametrize("args, message", [
    (["--bbox", "3.3,49.3,3.2"], "bad --bbox '3.3,49.3,3.2': expected W,S,E,N"),
    (["--bbox", "3.4,49.3,3.3,49.4"], "west must be less than east"),
    (["--bbox", "3.3,95,3.4,96"], "latitudes within ±90"),
    (["--bbox", "a,b,c,d"], "bad --bbox"),
    (["--zone", "atlantis"], "unknown zone 'atlantis'"),
    (["--service", "firemen"], "unknown service 'firemen'"),
    (["--as", "mayor"], "unknown service 'mayor'"),
    (["--since", "yesterday"], "bad date 'yesterday'"),
    (["--service", "police", "--as", "technical"], "may not see images of service 'police'"),
    (["--zone", "x", "--bbox", "1,2,3,4"], "at most one of --zone, --bbox, --polygon"),
])
def test_search_input_is_validated(filled, args, message):
    if "--as" not in args:
        args = args + ["--as", "technical"]
    r = run("archive", "search", "--archive", filled, *args, ok=False)
    assert r.exit_code != 0
    err = r.stderr.strip()
    assert err.count("\n") == 0 and message in err and "Traceback" not in r.output + r.stderr


def test_search_without_archive_is_one_line(tmp_path):
    r = run("archive", "search", "--archive", tmp_path / "none", "--as", "police", ok=False)
    assert r.exit_code != 0 and "no archive in" in r.stderr and r.stderr.count("\n") == 1


def test_bad_bbox_in_a_real_process(filled):
    p = subprocess.run([sys.executable, "-m", "dronectl", "archive", "search", "--archive", str(filled), "--as",
                        "police", "--bbox", "10,10,0,0"], capture_output=True, text=True)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert p.stderr.strip().startswith("dronectl: error: bad --bbox") and p.stderr.strip().count("\n") == 0


def test_show_hold_release_purge_audit_verify(filled, tmp_path):
    police = json.loads(run("archive", "search", "--archive", filled, "--as", "police", "--service", "police",
                            "--format", "json").stdout)
    pid = police[0]["id"]
    shown = json.loads(run("archive", "show", pid, "--as", "police", "--archive", filled, "--json").stdout)
    assert shown["service"] == "police" and shown["blob"].endswith(shown["sha256"])
    r = run("archive", "show", pid, "--as", "technical", "--archive", filled, ok=False)
    assert r.exit_code != 0 and f"no image {pid} visible" in r.stderr
    run("archive", "hold", pid, "--reason", "PV 2026-118", "--as", "police", "--archive", filled)
    dry = json.loads(run("archive", "purge", "--dry-run", "--archive", filled, "--json").stdout)
    assert dry["dry_run"] is True  # photos are dated 2026-11-22: police ones may or may not be expired today
    audit = json.loads(run("archive", "audit", "--archive", filled, "--json", "--image", pid).stdout)
    assert [a["action"] for a in audit] == ["ingest", "search", "show", "hold"]
    run("archive", "release", pid, "--reason", "PV 2026-118", "--archive", filled)
    again = run("archive", "release", pid, "--all", "--archive", filled, ok=False)
    assert again.exit_code != 0 and "not under legal hold" in again.stderr
    v = json.loads(run("archive", "verify", "--archive", filled, "--json").stdout)
    assert v["ok"] and v["rows"] == 6
    run("archive", "export", "--stac", tmp_path / "stac", "--as", "technical", "--archive", filled)
    assert (tmp_path / "stac" / "catalog.json").is_file()


def test_coverage_command(filled, tmp_path):
    zone = tmp_path / "zone.geojson"
    d = 0.0003
    zone.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "rue"},
        "geometry": {"type": "Polygon", "coordinates": [[[LON0 - d, LAT0], [LON0 + d, LAT0], [LON0 + d, LAT0 + 0.01],
                                                          [LON0 - d, LAT0 + 0.01], [LON0 - d, LAT0]]]}}]}))
    out = json.loads(run("archive", "coverage", "--mission", "m-1", "--zone", "rue", "--zones", zone, "--as",
                         "technical", "--archive", filled, "--json").stdout)
    assert 0.05 < out["covered_fraction"] < 0.5 and out["images"] == 4
    assert out["gaps"]["features"] and out["gaps"]["type"] == "FeatureCollection"


@pytest.mark.parametrize("command", ["ingest", "coverage --gaps", "export --stac"])
def test_an_output_path_that_cannot_be_written_is_one_line(filled, tmp_path, command):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    dest = blocker / "sub" / "out"  # under a regular file: no folder can be made there
    args = {
        "ingest": ["archive", "ingest", tmp_path / "tech", "--service", "technical", "--archive", dest],
        "coverage --gaps": ["archive", "coverage", "--mission", "m-1", "--zone", "centre-ville", "--as", "technical",
                            "--gaps", dest, "--archive", filled],
        "export --stac": ["archive", "export", "--stac", dest, "--as", "technical", "--archive", filled],
    }[command]
    rows_before = len(json.loads(run("archive", "search", "--archive", filled, "--as", "technical",
                                     "--format", "json").stdout))
    r = run(*args, ok=False)
    assert r.exit_code == 3 and "Traceback" not in r.stderr  # I/O (README, "Exit codes")
    err = r.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("dronectl: error:") and "a-file/sub" in err, err
    assert f"{blocker} is a file, not a folder" in err, err
    assert blocker.read_text() == ""
    assert len(json.loads(run("archive", "search", "--archive", filled, "--as", "technical",
                              "--format", "json").stdout)) == rows_before


def test_an_ingest_that_ingests_nothing_fails(tmp_path, make_photos):
    write_bad_inputs(tmp_path / "bad", make_photos(line_events(1))[0])
    (tmp_path / "empty").mkdir()
    arch = tmp_path / "arch"
    r = run("archive", "ingest", tmp_path / "bad", "--service", "technical", "--archive", arch, ok=False)
    assert r.exit_code != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "dronectl: error: nothing was ingested: no file could be read (see above)"
    assert r.stderr.count("skipped ") >= 3  # each file with its reason
    r = run("archive", "ingest", tmp_path / "empty", "--service", "technical", "--archive", arch, "--json", ok=False)
    assert r.exit_code == 2 and json.loads(r.stdout) == {
        "error": f"nothing to ingest: no JPEG or GeoTIFF file in {tmp_path / 'empty'}", "exit_code": 2}


def test_coverage_of_an_unknown_mission_is_an_error_not_zero_percent(filled):
    r = run("archive", "coverage", "--mission", "m-l", "--zone", "centre-ville", "--as", "technical",
            "--archive", filled, ok=False)
    assert r.exit_code != 0 and r.stderr.strip().count("\n") == 0
    assert "no image of mission 'm-l' is visible to service 'technical'" in r.stderr


# --- issue 19 (field) and issue 21 item 11, run as a user runs them: the console script --------------------------
import os  # noqa: E402
from tests.conftest import console_script  # noqa: E402

TERMINAL_80 = {"COLUMNS": "80", "TTY_COMPATIBLE": "1", "FORCE_COLOR": "1"}
MISSION = "sim-abbaye-saint-jean-des-vignes-20261204T101500"
EVIL_MAKE = b"\x1b]52;c;\x07"  # as long as "dronectl", the sim camera's EXIF Make: an OSC 52 clipboard write
EVIL_MODEL = b"\x1b[2J\nX"  # as long as "SimCam": clear the screen, a newline


def console(*args, env=None, cwd=None):
    return subprocess.run([console_script(), *map(str, args)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def no_escape_reaches_the_terminal(text: str) -> None:
    raw = text.replace("\x1b[", "")  # rich's own colours on a forced terminal start with ESC [ and a digit/m
    assert "\x07" not in text and "\x1b]" not in text and "\x1b[2J" not in text and "\nX" not in raw, text


@pytest.fixture
def named(tmp_path, make_photos):
    """An archive whose photos carry a long mission id, and EXIF Make/Model and a file name with escapes."""
    photos = make_photos(line_events(2), folder="evil", name="x\x1b[2J{index:04d}.JPG")
    for photo in photos:  # EXIF Make/Model with escapes (the first occurrences: the EXIF block, before the XMP)
        data = photo.read_bytes()
        photo.write_bytes(data.replace(b"dronectl\x00", EVIL_MAKE + b"\x00", 1).replace(b"SimCam\x00", EVIL_MODEL + b"\x00", 1))
    arch = tmp_path / "arch"
    p = console("archive", "ingest", *photos, "--service", "police", "--mission", MISSION, "--archive", arch)
    assert p.returncode == 0, p.stderr
    assert "thumbnails  2 of 2" in p.stdout.replace("thumbnails                            ", "thumbnails  ")
    return arch


@pytest.mark.parametrize("env", [TERMINAL_80, {"COLUMNS": "80"}], ids=["terminal-80", "piped"])
def test_search_table_and_show_never_cut_what_is_copied_nor_pass_escapes(named, env):
    p = console("archive", "search", "--archive", named, "--as", "police", "--format", "table", env=env)
    assert p.returncode == 0 and MISSION in p.stdout and "police" in p.stdout and "…" not in p.stdout, p.stdout
    no_escape_reaches_the_terminal(p.stdout)
    image_id = json.loads(console("archive", "search", "--archive", named, "--as", "police", "--json").stdout)[0]["id"]
    shown = console("archive", "show", image_id, "--as", "police", "--archive", named, env=env)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr
    no_escape_reaches_the_terminal(shown.stdout)
    assert "\\x1b]52;c;\\x07" in shown.stdout and "x\\x1b[2J0000.JPG" in shown.stdout
    assert "\\x1b[2J\\nX" in shown.stdout
    blob = json.loads(console("archive", "show", image_id, "--as", "police", "--archive", named, "--json").stdout)["blob"]
    assert blob in shown.stdout.replace("\n", "") or blob in shown.stdout  # the whole path (the terminal wraps it)
    assert "{'" not in shown.stdout and "False" not in shown.stdout and "True" not in shown.stdout
    assert "intrinsics_mm" in shown.stdout and "interior" in shown.stdout and " no" in shown.stdout
    audit = console("archive", "audit", "--archive", named, env=env)
    assert audit.returncode == 0 and "\\x1b[2J" in audit.stdout  # the ingest entries name the files
    no_escape_reaches_the_terminal(audit.stdout)


def test_search_on_a_line_zone_searches_along_it_and_a_lat_lon_bbox_is_warned(filled):
    p = console("archive", "search", "--archive", filled, "--as", "technical", "--zone", "boulevard-jeanne-d-arc",
                "--json")
    assert p.returncode == 0 and "plan corridor" not in p.stderr
    assert "'boulevard-jeanne-d-arc' is a line: images within 30 m of it (--buffer M to change)" in p.stderr
    assert isinstance(json.loads(p.stdout), list)
    swapped = f"{LAT0 - 0.002},{LON0 - 0.002},{LAT0 + 0.002},{LON0 + 0.002}"
    p = console("archive", "search", "--archive", filled, "--as", "technical", "--bbox", swapped, "--json")
    assert p.returncode == 0 and json.loads(p.stdout) == []
    assert p.stderr.startswith(f"dronectl: warning: --bbox {swapped} lies at longitude") and \
        "--bbox is W,S,E,N: longitudes first" in p.stderr and p.stderr.count("\n") == 1
    right = f"{LON0 - 0.002},{LAT0 - 0.002},{LON0 + 0.002},{LAT0 + 0.002}"
    p = console("archive", "search", "--archive", filled, "--as", "technical", "--bbox", right, "--json")
    assert p.stderr == "" and len(json.loads(p.stdout)) == 4
    rev = console("archive", "search", "--archive", filled, "--as", "technical", "--since", "2026-12-01",
                  "--until", "2026-11-01", "--json")
    assert rev.returncode == 2 and json.loads(rev.stdout)["error"] == \
        "--since 2026-12-01 is after --until 2026-11-01: swap them"


def test_export_json(filled, tmp_path):
    p = console("archive", "export", "--stac", tmp_path / "stac", "--as", "technical", "--archive", filled, "--json")
    assert p.returncode == 0 and json.loads(p.stdout) == {"catalog": str(tmp_path / "stac" / "catalog.json"),
                                                          "items": 4}


@pytest.mark.parametrize("what", ["empty", "missing"])
def test_an_ingest_of_nothing_creates_no_archive(tmp_path, what):
    (tmp_path / "empty").mkdir()
    p = console("archive", "ingest", tmp_path / what, "--service", "technical", "--archive", tmp_path / "arch",
                "--json")
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1
    assert json.loads(p.stdout)["exit_code"] == 2
    assert ("no JPEG or GeoTIFF file in" if what == "empty" else "no such file or folder") in p.stderr
    assert not (tmp_path / "arch").exists()
