"""Every walk-through in examples/ runs unattended, as a new user would run it, and does what it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dronectl.formats import read_mission

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "CI": "true"}
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "Traceback" not in p.stderr, (argv, p.stdout[-2000:], p.stderr[-2000:])
    return p


def test_plan_and_check(tmp_path):
    p = run(["bash", str(EXAMPLES / "plan_and_check.sh"), "out"], tmp_path)
    out = tmp_path / "out"
    assert "all preflight checks passed" in p.stdout
    m = read_mission(out / "abbaye.plan")
    assert read_mission(out / "abbaye.waypoints").items == m.items  # the export flies the same items
    assert (out / "abbaye.kml").read_text().lstrip().startswith("<?xml")
    assert (out / "abbaye.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "abbaye-summary.json").read_text())["coverage"] >= 0.995


def test_fly_on_the_simulator(tmp_path):
    p = run([sys.executable, str(EXAMPLES / "fly_on_the_simulator.py"), "out"], tmp_path)
    rec = json.loads((tmp_path / "out" / "flight.json").read_text())
    assert rec["landed"] and rec["items_reached"] >= rec["items_total"] - 1
    planned = int(p.stdout.split("planned ")[1].split()[0])
    assert abs(rec["photos"] - planned) <= 2, (rec["photos"], planned)
    assert "hop: reached 1" in p.stdout and "hop: landed" in p.stdout
    assert (tmp_path / "out" / "flight.tlog").stat().st_size > 0


def test_archive_a_flight(tmp_path):
    p = run([sys.executable, str(EXAMPLES / "archive_a_flight.py"), "--out", "out"], tmp_path)
    out = tmp_path / "out"
    ingested = json.loads(p.stdout.split("ingest: ")[1].splitlines()[0].replace("'", '"'))["ingested"]
    assert ingested > 20 and f"search: {ingested} images" in p.stdout
    gaps = json.loads((out / "refly.geojson").read_text())
    assert gaps["features"], "the photos lost on purpose leave a gap to fly again"
    assert read_mission(out / "refly.plan").items  # and the re-fly is planned
    # run again on the same photos: nothing new, the same search
    again = run([sys.executable, str(EXAMPLES / "archive_a_flight.py"), str(out / "photos"), "--out", "out"], tmp_path)
    assert "'ingested': 0" in again.stdout and f"search: {ingested} images" in again.stdout


def test_my_city(tmp_path):
    p = run(["bash", str(EXAMPLES / "my_city" / "run.sh"), "out"], tmp_path)
    assert "parvis-cathedrale" in p.stdout and "mini4pro" in p.stdout
    assert "all preflight checks passed" in p.stdout
    m = read_mission(tmp_path / "out" / "voirie.plan")
    lats = [i.lat_deg for i in m.items if i.lat_deg]
    assert lats and all(49.55 < lat < 49.57 for lat in lats)  # the other town's street, not Soissons
