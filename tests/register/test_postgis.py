"""The register on PostgreSQL + PostGIS: the same store, the same chain; ``archive migrate`` carries it."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from tests.conftest import console_script, require

from .test_cli import flown_entries  # noqa: F401  (fixture)

pytestmark = pytest.mark.postgis
PG_DSN = os.environ.get("DRONECTL_PG_DSN")


@pytest.fixture
def schema():
    require("PostGIS", bool(PG_DSN), "set DRONECTL_PG_DSN to a database with the postgis extension (see .ci/run)")
    from dronectl.archive.catalog_postgis import PostgisCatalog

    name = "r_" + uuid.uuid4().hex[:12]
    yield name
    cat = PostgisCatalog(PG_DSN, schema=name)
    cat.drop_schema()
    cat.close()


def _dronectl(tmp_path, *args):
    env = {**os.environ, "CI": "true", "DRONECTL_ARCHIVE": str(tmp_path / "archive")}
    env.pop("DRONECTL_CATALOG_URL", None)
    return subprocess.run([console_script(), *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def test_archive_migrate_carries_the_register_and_its_chain(tmp_path, schema, flown_entries):  # noqa: F811
    assert _dronectl(tmp_path, "pilots", "add", "dupont", "--competence", "A2", "FRA-A2-77", "2030-01-01").returncode == 0
    assert _dronectl(tmp_path, "aircraft", "add", "F-DRNE", "--class", "C2", "--operator", "FRA-OP-0042",
                     "--autopilot", "sysid:1").returncode == 0
    flown_entries(tmp_path / "archive", n=3)
    before = [_dronectl(tmp_path, *c, "--json").stdout for c in (("logbook", "list"), ("pilots", "list"),
                                                                 ("aircraft", "list"))]
    p = _dronectl(tmp_path, "archive", "migrate", "--to", PG_DSN, "--schema", schema, "--json")
    assert p.returncode == 0, p.stderr
    copied = json.loads(p.stdout)["register"]
    assert copied["register_logbook"] == 3 and copied["register_pilots"] == 1 and copied["register_aircraft"] == 1
    assert "postgres" in (tmp_path / "archive" / "config.toml").read_text() or "host=" in \
        (tmp_path / "archive" / "config.toml").read_text()
    after = [_dronectl(tmp_path, *c, "--json").stdout for c in (("logbook", "list"), ("pilots", "list"),
                                                                ("aircraft", "list"))]
    assert after == before  # now read from PostGIS
    p = _dronectl(tmp_path, "logbook", "verify")
    assert p.returncode == 0 and "3 entries: chain intact" in p.stdout
    flown_entries(tmp_path / "archive", n=1)  # appends continue the chain on PostGIS
    assert "4 entries: chain intact" in _dronectl(tmp_path, "logbook", "verify").stdout

    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as db:  # an edit made behind dronectl's back
        db.execute(f"UPDATE {schema}.register_logbook SET body = replace(body, '\"photos\":12', '\"photos\":2') "
                   "WHERE seq = 2")
        db.execute(f"DELETE FROM {schema}.register_logbook WHERE seq = 3")
    p = _dronectl(tmp_path, "logbook", "verify")
    assert p.returncode == 1 and "entry 2: edited" in p.stdout and "entry 3 deleted" in p.stdout
