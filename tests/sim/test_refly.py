"""Re-flying gaps with ``dronectl sim run``: the refly it proposes pastes and runs, the original and its refly are
measured together (``archive coverage --mission A --mission B``), and once the gaps left are smaller than one photo
no refly is proposed any more (it would loop). Run as a user runs it: the console script, a real SIGINT."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time

import pytest

from tests.conftest import console_script

ZONE = "chantier-mediatheque"


def dronectl(*args, timeout=300):
    return subprocess.run([console_script(), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def interrupted_run(out):
    """A sim run stopped by Ctrl-C once it has taken a few photos: a large part of the zone is left to re-fly."""
    proc = subprocess.Popen([console_script(), "sim", "run", "--zone", ZONE, "--altitude", "40", "--image-scale",
                             "0.15", "--speedup", "10", "--no-mosaic", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "CI": "true"})
    deadline, seen = time.monotonic() + 120, ""
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
    assert proc.returncode == 130, (stdout, stderr)
    return json.loads((out / "summary.json").read_text())


def test_the_proposed_refly_pastes_runs_closes_the_gaps_and_proposes_no_other(tmp_path):
    first = interrupted_run(tmp_path / "first")
    assert first["coverage"] < 0.9 and first["gaps_to_refly"] >= 1
    refly = [line for line in first["next"] if line.startswith("dronectl sim run")]
    assert len(refly) == 1 and "..." not in refly[0]
    argv = shlex.split(refly[0], comments=True)  # as a shell reads the pasted line
    p = subprocess.run([console_script(), *argv[1:]], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0 and "Traceback" not in p.stderr, (refly[0], p.stderr)
    second = json.loads((tmp_path / "first-refly" / "summary.json").read_text())
    assert second["refly_of"] == first["mission_id"]
    assert second["coverage_with_refly_of"] >= 0.99  # the zone, by the original and its refly together
    # what is left (if anything) fits in one photo: no further refly is proposed
    assert second["gaps_to_refly"] == 0
    assert not [line for line in second["next"] if line.startswith("dronectl sim run")]

    # the same measure from the archive: both missions at once, and the zone over a date range
    archive = first["archive"]
    both = dronectl("archive", "coverage", "--mission", first["mission_id"], "--mission", second["mission_id"],
                    "--zone", ZONE, "--as", "technical", "--archive", archive, "--json")
    assert both.returncode == 0, both.stderr
    cov = json.loads(both.stdout)
    assert cov["covered_fraction"] >= 0.99 and cov["missions"] == [first["mission_id"], second["mission_id"]]
    one = json.loads(dronectl("archive", "coverage", "--mission", first["mission_id"], "--zone", ZONE, "--as",
                              "technical", "--archive", archive, "--json").stdout)
    assert one["covered_fraction"] < 0.9
    dated = json.loads(dronectl("archive", "coverage", "--zone", ZONE, "--since", "2000-01-01", "--as", "technical",
                                "--archive", archive, "--json").stdout)
    assert dated["covered_fraction"] == cov["covered_fraction"] and dated["mission"] == "all missions"
    none = dronectl("archive", "coverage", "--zone", ZONE, "--until", "2000-01-01", "--as", "technical",
                    "--archive", archive)
    assert none.returncode == 2 and none.stderr.count("\n") == 1 and "in that date range" in none.stderr


def test_a_refused_refly_creates_nothing(tmp_path):
    from dronectl.sim.camera import CameraEvent, render_photos, sim_camera

    p = dronectl("sim", "run", "--zone", ZONE, "--refly", "nope", "--out", tmp_path / "o")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "no archive in" in p.stderr
    assert list(tmp_path.iterdir()) == []  # neither the output folder nor OUT/archive/catalogue.sqlite
    photo = render_photos([CameraEvent(49.3773, 3.3270, 40.0, 1, 0.0)], sim_camera(320, 240), tmp_path / "dcim")
    assert dronectl("archive", "ingest", *photo, "--service", "technical", "--archive", tmp_path / "arch").returncode == 0
    p = dronectl("sim", "run", "--zone", ZONE, "--refly", "nope", "--archive", tmp_path / "arch", "--out", tmp_path / "o")
    assert p.returncode == 2 and "no image of mission 'nope'" in p.stderr and p.stderr.strip().count("\n") == 0
    assert sorted(f.name for f in tmp_path.iterdir()) == ["arch", "dcim"]
