"""`dronectl demo`: the whole chain a tester runs first — plan, fly on the built-in vehicle, photos, archive."""

import json

from click.testing import CliRunner

from dronectl.archive import open_archive
from dronectl.cli import cli


def test_demo_plans_flies_and_archives(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", "--out", str(out), "--speedup", "60", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["photos_taken"] > 10
    assert abs(s["photos_taken"] - s["planned_photos"]) <= 0.1 * s["planned_photos"] + 2
    assert s["ingest"]["ingested"] == s["photos_taken"] and s["ingest"]["skipped"] == 0
    assert (out / "flight.tlog").stat().st_size > 0 and (out / "chantier-mediatheque.png").exists()
    with open_archive(s["archive"]) as a:
        hits = a.search("technical", mission=s["mission_id"])
        assert len(hits) == s["photos_taken"]
        from dronectl.geo import find_zone

        cov = a.coverage("technical", s["mission_id"], find_zone("chantier-mediatheque").geometry)
        assert cov.covered_fraction > 0.99  # the photos the flight took cover the zone on the ground
