"""Fixtures of the archive tests: generated photos, archives over each catalogue backend."""

from __future__ import annotations

import os
import uuid

import pytest

from dronectl.archive.archive import Archive, open_archive
from dronectl.archive.services import default_services
from dronectl.archive.store import BlobStore
from dronectl.sim.camera import CameraEvent, make_base_raster, render_photos, sim_camera
from tests.conftest import require

# Soissons, centre-ville
LAT0, LON0 = 49.3817, 3.3236
SMALL_CAM = sim_camera(320, 240)  # the sim camera's field of view, few pixels: fast tests

PG_DSN = os.environ.get("DRONECTL_PG_DSN")


@pytest.fixture(scope="session")
def base_raster():
    return make_base_raster((LON0 - 0.006, LAT0 - 0.004, LON0 + 0.006, LAT0 + 0.008), res_m=0.5)


def line_events(n: int, alt_m: float = 60.0, step_deg: float = 0.0004, lat0: float = LAT0, lon0: float = LON0):
    return [CameraEvent(lat0 + i * step_deg, lon0, alt_m, i, 2.0 * i) for i in range(n)]


@pytest.fixture
def make_photos(tmp_path, base_raster):
    """make_photos(events, folder="photos", **kw) -> paths: JPEGs written by the synthetic camera."""
    def make(events, folder: str = "photos", **kw):
        kw.setdefault("camera", SMALL_CAM)
        kw.setdefault("base_raster", base_raster)
        return render_photos(events, out_dir=tmp_path / folder, **kw)
    return make


def _postgis_catalog():
    require("PostGIS", bool(PG_DSN), "set DRONECTL_PG_DSN to a database with the postgis extension (see .ci/run)")
    from dronectl.archive.catalog_postgis import PostgisCatalog

    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        cat = PostgisCatalog(PG_DSN, schema=schema)
    except Exception as exc:  # server down, extension missing
        require("PostGIS", False, f"cannot open {PG_DSN}: {exc}")
    return cat


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def backend(request):
    return request.param


@pytest.fixture
def archive(tmp_path, backend):
    root = tmp_path / "archive"
    if backend == "sqlite":
        a = open_archive(root)
    else:
        cat = _postgis_catalog()
        store = BlobStore(root)
        store.create()
        a = Archive(root, default_services(), cat, store)
    yield a
    if backend == "postgis":
        a.catalog.drop_schema()
    a.close()


def random_records(n: int, seed: int = 1, services=("police", "communication", "technical")):
    """Catalogue rows with random rotated-rectangle footprints around Soissons, random attributes."""
    import random
    from datetime import datetime, timedelta, timezone

    from shapely import affinity
    from shapely.geometry import box

    from dronectl.archive.catalog import ImageRecord

    rnd = random.Random(seed)
    t0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        lon = LON0 + rnd.uniform(-0.02, 0.02)
        lat = LAT0 + rnd.uniform(-0.015, 0.015)
        w, h = rnd.uniform(0.0002, 0.002), rnd.uniform(0.0002, 0.0015)
        geom = affinity.rotate(box(lon - w, lat - h, lon + w, lat + h), rnd.uniform(0, 90))
        out.append(ImageRecord(
            sha256=f"{i:064x}", service=rnd.choice(services), format="jpeg", footprint=geom,
            ingested_at=t0 + timedelta(days=25), captured_at=t0 + timedelta(hours=rnd.uniform(0, 24 * 20)),
            mission=rnd.choice(["m-1", "m-2", "m-3", None]), camera=rnd.choice(["sim", "mavic3e", None]),
            model=rnd.choice(["SimCam", "M3E", "FC6310R"]), lon_deg=lon, lat_deg=lat, height_m=60.0))
    return out
