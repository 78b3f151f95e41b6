"""``dronectl sim run``: a whole simulated mission in one command, run as a user runs it (the console script)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from dronectl.archive import open_archive
from dronectl.geo import find_zone
from tests.conftest import console_script

ZONE = "chantier-mediatheque"
FAST = ["--zone", ZONE, "--altitude", "40", "--image-scale", "0.15", "--speedup", "60"]


def sim_run(*args, timeout=300):
    return subprocess.run([console_script(), "sim", "run", *args], capture_output=True, text=True, timeout=timeout)


def test_sim_run_end_to_end(tmp_path):
    out = tmp_path / "run"
    p = sim_run(*FAST, "--out", str(out), "--json")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    s = json.loads(p.stdout)
    assert s["coverage"] >= 0.99 and s["interrupted"] is False
    assert abs(s["photos_taken"] - s["photos_planned"]) <= 2
    assert s["ingest"]["ingested"] == s["photos_taken"]
    assert (out / "mosaic.tif").is_file() and (out / "mosaic.png").is_file() and (out / "sortie-1.tlog").is_file()
    assert json.loads((out / "summary.json").read_text())["mission_id"] == s["mission_id"]
    with open_archive(out / "archive") as a:
        assert len(a.search("technical", mission=s["mission_id"])) == s["photos_taken"]
        assert a.verify().ok
    # every file it wrote is under --out
    assert {p.name for p in tmp_path.iterdir()} == {"run"}


def test_an_induced_gap_is_found_and_closed_by_refly(tmp_path):
    first = tmp_path / "first"
    p = sim_run(*FAST, "--out", str(first), "--no-mosaic", "--json")
    assert p.returncode == 0, p.stderr
    photos = sorted((first / "photos").glob("*.JPG"))
    kept = photos[:12] + photos[40:]  # a run of photos lost, as from a bad SD card
    archive = tmp_path / "archive"
    with open_archive(archive) as a:
        a.ingest(kept, "technical", mission="partial")
        gaps = a.coverage("technical", "partial", find_zone(ZONE).geometry)
    assert gaps.covered_fraction < 0.99 and not gaps.gaps.is_empty

    again = sim_run(*FAST, "--refly", "partial", "--archive", str(archive), "--out", str(tmp_path / "refly"),
                    "--json")
    assert again.returncode == 0, again.stderr
    s = json.loads(again.stdout)
    assert s["refly_of"] == "partial" and s["photos_taken"] < len(photos)
    with open_archive(archive) as a:  # the re-fly's photos cover what the first flight left
        cov = a.coverage("technical", s["mission_id"], gaps.gaps)
        assert cov.covered_fraction >= 0.99


def test_refly_of_a_complete_mission_and_bad_inputs_are_one_line(tmp_path):
    first = tmp_path / "first"
    s = json.loads(sim_run(*FAST, "--out", str(first), "--no-mosaic", "--json").stdout)
    cases = [
        ([*FAST, "--refly", s["mission_id"], "--archive", str(first / "archive")], "nothing to re-fly"),
        ([*FAST, "--image-scale", "nan"], "--image-scale nan"),
        ([*FAST, "--speedup", "0"], "--speedup 0"),
        ([*FAST, "--service", "nobody"], "nobody"),
        (["--zone", "nowhere"], "nowhere"),
        ([*FAST, "--sitl", str(tmp_path / "no-such-arducopter")], "SITL binary not found"),
    ]
    for args, words in cases:
        p = sim_run(*args, "--out", str(tmp_path / "bad"))
        assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_imagery_that_misses_the_zone_is_refused(tmp_path):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    ortho = tmp_path / "elsewhere.tif"  # an orthophoto of another part of town
    with rasterio.open(ortho, "w", driver="GTiff", width=200, height=200, count=3, dtype="uint8", crs="EPSG:2154",
                       transform=from_origin(700000, 6900000, 0.5, 0.5)) as ds:
        ds.write(np.full((3, 200, 200), 128, dtype=np.uint8))
    p = sim_run(*FAST, "--imagery", str(ortho), "--out", str(tmp_path / "x"))
    assert p.returncode == 2 and "not inside the imagery" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_ctrl_c_lands_ingests_what_was_taken_and_a_rerun_works(tmp_path):
    out = tmp_path / "int"
    env = {**os.environ, "CI": "true"}
    proc = subprocess.Popen([console_script(), "sim", "run", "--zone", ZONE, "--altitude", "40", "--image-scale", "0.15",
                             "--speedup", "10", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    # wait until the flight has started taking photos (the progress line names them), then Ctrl-C
    deadline = time.monotonic() + 120
    seen = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if line.startswith("flight:") and " photos" in line and not line.split(" m, ")[1].startswith("0 photos"):
            break
    else:
        proc.kill()
        pytest.fail(f"the flight never started: {seen}")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130 and "Traceback" not in stderr, (proc.returncode, stdout, stderr)
    assert "interrupted: landed early" in stdout
    assert "dronectl: return to launch commanded; waiting for the landing — Ctrl-C again to stop watching" in stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"] and 0 < s["photos_taken"] < s["photos_planned"]
    assert s["ingest"]["ingested"] == s["photos_taken"]
    with open_archive(out / "archive") as a:
        assert a.verify().ok and len(a.search("technical", mission=s["mission_id"])) == s["photos_taken"]
    again = sim_run(*FAST, "--out", str(out), "--json")  # at once: nothing left in use
    assert again.returncode == 0, again.stderr


@pytest.mark.vehicle
@pytest.mark.sitl
def test_sim_run_on_ardupilot_sitl(tmp_path):
    binary = os.environ.get("DRONECTL_SITL_BIN")
    if not binary:
        pytest.skip("ArduPilot SITL not configured: set DRONECTL_SITL_BIN to an arducopter binary (make test-sitl)")
    out = tmp_path / "sitl"
    p = sim_run("--zone", ZONE, "--altitude", "40", "--image-scale", "0.15", "--speedup", "10", "--sitl", binary,
                "--out", str(out), "--json", timeout=900)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["vehicle"] == "ArduPilot SITL" and abs(s["photos_taken"] - s["photos_planned"]) <= 2
    assert s["coverage"] >= 0.99 and (out / "mosaic.tif").is_file()


@pytest.mark.vehicle
def test_fly_with_the_synthetic_camera_on_a_vehicle_started_elsewhere(tmp_path):
    """`fly --camera-sim --ingest` on any vehicle: here the built-in one, started by someone else."""
    from tests.mavlink.conftest import HOME, start_builtin

    plan = tmp_path / "m.plan"
    p = subprocess.run([console_script(), "plan", "survey", "--zone", ZONE, "--camera", "sim", "--altitude", "40",
                        "--home", f"{HOME[0]},{HOME[1]},{HOME[2]}", "-o", str(plan), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    planned = json.loads(p.stdout)["photos"]
    h = start_builtin()
    try:
        base = [console_script(), "fly", str(plan), "--connect", h.connection_string]
        bad = subprocess.run(base + ["--ingest", "--service", "technical"], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and "--camera-sim" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        r = subprocess.run(base + ["--camera-sim", str(tmp_path / "photos"), "--image-scale", "0.15", "--ingest",
                                   "--service", "technical", "--archive", str(tmp_path / "archive"), "--mission", "f-1",
                                   "--json"], capture_output=True, text=True, timeout=600)
    finally:
        h.stop()
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    d = json.loads(r.stdout)
    assert abs(d["photos"] - planned) <= 2 and d["camera_sim"]["photos"] == d["photos"]
    assert d["camera_sim"]["ingest"]["ingested"] == d["photos"]
    with open_archive(tmp_path / "archive") as a:
        cov = a.coverage("technical", "f-1", find_zone(ZONE).geometry)
        assert cov.covered_fraction >= 0.99
