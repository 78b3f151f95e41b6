"""`dronectl demo` (what `make demo` runs): the whole chain a tester runs first, through the console script —
plan, fly on the built-in vehicle, photos, archive, coverage, mosaic."""

import json
import subprocess

from dronectl.archive import open_archive
from dronectl.geo import find_zone
from tests.conftest import console_script


def test_demo_plans_flies_archives_and_says_where_to_look(tmp_path):
    out = tmp_path / "demo"
    p = subprocess.run([console_script(), "demo", "--out", str(out), "--speedup", "60", "--json"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    s = json.loads(p.stdout)
    assert s["photos_taken"] > 10 and abs(s["photos_taken"] - s["photos_planned"]) <= 2
    assert s["ingest"]["ingested"] == s["photos_taken"] and s["ingest"]["skipped"] == 0
    assert s["coverage"] >= 0.99
    assert (out / "sortie-1.tlog").stat().st_size > 0 and (out / "chantier-mediatheque.png").exists()
    assert (out / "mosaic.tif").is_file() and (out / "mosaic.png").is_file()
    with open_archive(s["archive"]) as a:
        assert len(a.search("technical", mission=s["mission_id"])) == s["photos_taken"]
        cov = a.coverage("technical", s["mission_id"], find_zone("chantier-mediatheque").geometry)
        assert cov.covered_fraction == s["coverage"] or abs(cov.covered_fraction - s["coverage"]) < 1e-4
    assert any(line.startswith("dronectl serve --archive") for line in s["next"])
    # every command it suggests works as printed
    for line in s["next"]:
        argv = line.split("#")[0].split()
        if argv[1] == "serve":
            continue  # runs until Ctrl-C: tests/web/test_demo_serve.py
        if argv[1] == "users":
            argv += ["--json"]
        r = subprocess.run([console_script(), *argv[1:]], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (line, r.stderr)
