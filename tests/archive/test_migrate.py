"""``archive migrate``: a SQLite archive moves into PostGIS and answers every search the same way, a migration
killed with kill -9 finishes on the re-run, and bad input leaves config.toml as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from datetime import datetime, timezone

import pytest
from shapely.geometry import Polygon, box

from dronectl.archive import open_archive
from dronectl.archive.archive import Archive
from dronectl.archive.catalog_sqlite import SqliteCatalog
from dronectl.archive.store import BlobStore
from tests.archive.conftest import LAT0, LON0, PG_DSN, random_records
from tests.conftest import console_script, require

pytestmark = pytest.mark.postgis
N = 3000


def _dronectl(*args, env=None, **kw):
    return subprocess.run([console_script(), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=env, **kw)


@pytest.fixture
def pg_schema():
    require("PostGIS", bool(PG_DSN), "set DRONECTL_PG_DSN to a database with the postgis extension")
    from dronectl.archive.catalog_postgis import PostgisCatalog

    name = "m_" + uuid.uuid4().hex[:12]
    yield name
    cat = PostgisCatalog(PG_DSN, schema=name)
    cat.drop_schema()
    cat.close()


def _pg(schema):
    from dronectl.archive.catalog_postgis import PostgisCatalog

    return PostgisCatalog(PG_DSN, schema=schema)


@pytest.fixture
def stocked(tmp_path):
    """A SQLite archive of N rows over three services, with holds (some several), users and audit entries."""
    root = tmp_path / "arch"
    with open_archive(root) as a:
        a.catalog.add_many(random_records(N, seed=7))
        for i in range(1, N, 97):
            a.hold(i, f"PV {i}", actor="police")
        for i in range(1, N, 291):
            a.hold(i, f"réquisition {i}", actor="police")
        a.release(98, "PV 98")
        tokens = {name: a.add_user(name, svc)[1] for name, svc in (("paula", "police"), ("tess", "technical"))}
        a.revoke_user("tess")
        a.search("police")  # an audit entry per police image
        assert len(a.audit_log()) > 1000
    return root, tokens


QUERIES = [
    {},
    {"geometry": box(LON0 - 0.005, LAT0 - 0.004, LON0 + 0.006, LAT0 + 0.003)},
    {"geometry": Polygon([(LON0 - 0.015, LAT0), (LON0, LAT0 + 0.012), (LON0 + 0.01, LAT0 - 0.01)]),
     "since": datetime(2026, 11, 5, tzinfo=timezone.utc)},
    {"mission": "m-2", "until": datetime(2026, 11, 12, tzinfo=timezone.utc), "limit": 50, "offset": 20},
    {"camera": "mavic3e", "geometry": box(LON0 - 0.02, LAT0 - 0.02, LON0, LAT0), "limit": 30},
]


def _answers(a: Archive) -> dict:
    out = {}
    for asker in ("police", "communication", "technical"):
        for k, q in enumerate(QUERIES):
            out[asker, k, "ids"] = [r.id for r in a.search(asker, **q)]
            out[asker, k, "features"] = [h.feature for h in a.search_features(asker, **q)]
    out["records"] = [r.to_dict() for r in a.catalog.iter_all()]
    out["audit"] = [e.to_dict() for e in a.audit_log()]
    out["users"] = [u.to_dict() for u in a.users()]
    return out


def _sqlite_side(root, services) -> Archive:
    return Archive(root, services, SqliteCatalog(root / "catalogue.sqlite"), BlobStore(root))


def test_migrates_everything_and_searches_identically(stocked, pg_schema):
    root, tokens = stocked
    with open_archive(root) as a:
        before = _answers(a)
        services = a.services
    r = _dronectl("archive", "migrate", "--to", PG_DSN, "--schema", pg_schema, "--archive", root, "--json",
                  "--batch-size", 700)
    assert r.returncode == 0, r.stderr
    import json

    rep = json.loads(r.stdout)
    assert rep["switched"] and {t: d["target"] for t, d in rep["tables"].items()} == {
        "images": N, "audit": len(before["audit"]), "users": 2}
    with open_archive(root) as pg:
        assert pg.catalog.backend == "postgis"
        after = _answers(pg)
        assert after["audit"][:len(before["audit"])] == before["audit"]
        for key in before:
            if key != "audit":
                assert after[key] == before[key], key
        assert any(rec["holds"] and len(rec["holds"]) == 2 for rec in after["records"])
        # tokens made on SQLite still log in (paula) or stay revoked (tess)
        assert pg.authenticate(tokens["paula"]).name == "paula" and pg.authenticate(tokens["tess"]) is None
        # and the catalogue goes on: new rows get new ids
        new = random_records(1, seed=99)[0]
        new.sha256 = "f" * 64
        assert pg.catalog.add(new) == N + 1
    with _sqlite_side(root, services) as sq:  # left in place, untouched by the searches on PostGIS
        assert [r.id for r in sq.search("technical", **QUERIES[1])] == before["technical", 1, "ids"]
        assert sq.catalog.count() == N
    again = _dronectl("archive", "migrate", "--to", PG_DSN, "--schema", pg_schema, "--archive", root)
    assert again.returncode == 2 and again.stderr.strip().count("\n") == 0 and "already on PostgreSQL" in again.stderr


@pytest.mark.parametrize("pause_after", [2, 7])  # killed among the images, then among the audit entries
def test_kill_9_mid_migration_then_rerun_completes(stocked, pg_schema, pause_after):
    root, _ = stocked
    config = (root / "config.toml").read_bytes()
    with open_archive(root) as a:
        ids = [r.id for r in a.search("police")]
        n_audit = len(a.audit_log())
    env = {**os.environ, "CI": "true", "DRONECTL_MIGRATE_PAUSE_AFTER": str(pause_after)}
    p = subprocess.Popen([console_script(), "archive", "migrate", "--to", PG_DSN, "--schema", pg_schema,
                          "--archive", str(root), "--batch-size", "500"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in p.stderr:  # the progress lines; the process sleeps after its pause_after-th batch
        seen.append(line)
        if "paused" in line:
            break
    assert p.poll() is None and "paused" in seen[-1], seen
    cat = _pg(pg_schema)
    copied = cat.count(), len(cat.audit_entries())
    cat.close()
    assert copied == ((1000, 0) if pause_after == 2 else (N, 500))  # whole batches, nothing more
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert (root / "config.toml").read_bytes() == config  # still on SQLite
    r = _dronectl("archive", "migrate", "--to", PG_DSN, "--schema", pg_schema, "--archive", root,
                  env={**os.environ, "CI": "true"})
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr
    with open_archive(root) as pg:
        assert pg.catalog.backend == "postgis"
        assert pg.catalog.count() == N and len({r.id for r in pg.catalog.iter_all()}) == N
        assert len(pg.audit_log()) == n_audit
        assert [r.id for r in pg.search("police")] == ids


def test_bad_input_leaves_config_untouched(stocked, pg_schema, tmp_path):
    root, _ = stocked
    config = (root / "config.toml").read_bytes()
    other = tmp_path / "other"
    with open_archive(other) as a:
        a.catalog.add_many(random_records(5, seed=3))
    assert _dronectl("archive", "migrate", "--to", PG_DSN, "--schema", pg_schema, "--archive", other).returncode == 0
    cases = [
        (("--to", "sqlite:///tmp/x.sqlite"), 2, "is not a PostgreSQL URL"),
        (("--to", "postgresql://nobody:secret@127.0.0.1:1/none"), 2, "cannot connect to the PostGIS catalogue"),
        (("--to", PG_DSN, "--schema", pg_schema), 2, "already holds another archive's catalogue (5 rows)"),
        (("--to", PG_DSN, "--schema", "Bad-Name"), 2, "bad catalogue schema name"),
        (("--to", PG_DSN, "--archive", tmp_path / "nothing"), 2, "no archive in"),
    ]
    for args, code, said in cases:
        where = () if "--archive" in args else ("--archive", root)
        r = _dronectl("archive", "migrate", *args, *where)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == code and len(lines) == 1 and said in lines[0], (args, r.stderr)
        assert "secret" not in r.stderr and "Traceback" not in r.stderr
        assert (root / "config.toml").read_bytes() == config
    with open_archive(root) as a:
        assert a.catalog.backend == "sqlite" and a.catalog.count() == N
