"""Several ``archive ingest`` processes at once over overlapping folders into one catalogue and one blob store:
no duplicate row, no lost row, no half-written blob, every police image's ``ingest`` audit entry there once."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections import Counter

import pytest

from dronectl.archive import open_archive
from dronectl.archive.migrate import set_catalog_url
from tests.archive.conftest import PG_DSN, line_events
from tests.conftest import console_script, require

PHOTOS = 48
# (service, photo indices): two police ingests overlap on 12..23; the technical and communication ones share
# blobs on 30..35 (a police blob is never shared with another service)
RUNS = [("police", range(0, 24)), ("police", range(12, 24)), ("technical", range(24, 36)),
        ("communication", range(30, 48))]


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory, base_raster):
    from dronectl.sim.camera import render_photos
    from tests.archive.conftest import SMALL_CAM

    out = tmp_path_factory.mktemp("photos")
    return render_photos(line_events(PHOTOS, step_deg=0.0002), out_dir=out, camera=SMALL_CAM, base_raster=base_raster)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_ingests_into_one_catalogue(tmp_path, photo_set, backend, round_):
    root = tmp_path / "arch"
    schema = None
    with open_archive(root):
        pass
    if backend == "postgis":
        require("PostGIS", bool(PG_DSN), "set DRONECTL_PG_DSN to a database with the postgis extension")
        schema = "c_" + uuid.uuid4().hex[:12]
        set_catalog_url(root / "config.toml", PG_DSN, schema)
    folders = []
    for k, (_, idx) in enumerate(RUNS):
        d = tmp_path / f"card{k}"
        d.mkdir()
        for i in idx:
            shutil.copy(photo_set[i], d / photo_set[i].name)
        folders.append(d)
    procs = [subprocess.Popen([console_script(), "archive", "ingest", str(d), "--service", svc, "--archive", str(root),
                               "--workers", "2", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for d, (svc, _) in zip(folders, RUNS)]
    outs = [p.communicate(timeout=240) for p in procs]
    try:
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err
        reports = [json.loads(out) for out, _ in outs]
        for rep, (_, idx) in zip(reports, RUNS):
            assert rep["counts"]["skipped"] == 0 and rep["counts"]["ingested"] + rep["counts"]["duplicates"] == len(idx)
        pairs = {(svc, i) for svc, idx in RUNS for i in idx}
        with open_archive(root) as a:
            recs = list(a.catalog.iter_all())
            assert len(recs) == len(pairs) == sum(r["counts"]["ingested"] for r in reports)
            assert len({(r.service, r.sha256) for r in recs}) == len(recs)
            assert Counter(r.service for r in recs) == Counter(svc for svc, _ in pairs)
            ingested = Counter(e.image_id for e in a.audit_log() if e.action == "ingest")
            police = {r.id for r in recs if r.service == "police"}
            assert set(ingested) == police and set(ingested.values()) == {1}  # each once, none for technical
            assert {d["id"] for rep in reports for d in rep["ingested"]} == {r.id for r in recs}
        v = subprocess.run([console_script(), "archive", "verify", "--archive", str(root), "--json"],
                           capture_output=True, text=True, timeout=120)
        assert v.returncode == 0, v.stdout + v.stderr
        rep = json.loads(v.stdout)
        assert rep["clean"], rep
        assert rep["blobs"] == len({i for _, idx in RUNS for i in idx})
    finally:
        if schema:
            from dronectl.archive.catalog_postgis import PostgisCatalog

            cat = PostgisCatalog(PG_DSN, schema=schema)
            cat.drop_schema()
            cat.close()
