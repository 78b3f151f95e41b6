"""Catalogue benchmark, SQLite + R*Tree against PostgreSQL + PostGIS in the same run: insert rate, bbox and
polygon search p50/p95, concurrent search throughput.

Run (after ``make venv``; PostGIS from ``$DRONECTL_PG_DSN``, e.g. ``source /work/notes/pg.sh``)::

    .venv/bin/python benchmarks/catalog_bench.py                          # 100k and 1M rows, ~30 min on 2 cores
    .venv/bin/python benchmarks/catalog_bench.py --sizes 20000 --clients 1,4   # a quick look

Each catalogue is filled in bulk (SQLite: plain inserts into the tables and the R*Tree; PostGIS: COPY), then
the insert rate is measured at that size through the real write paths: ``Catalog.add_many`` (row, spatial
index, stored Feature texts; 5,000 a transaction) on 20,000 more rows, and single-row ``Catalog.add`` (one
transaction per row, what an ingest does) on 2,000 more. Footprints are rotated rectangles of about 85 x 64 m
(the sim camera at 60 m) over a 20 km square around Soissons, over two years, three services. Searches go
through ``Archive.search`` as the technical service (which sees technical and communication images: two
thirds of the rows): 300 m boxes, and concave 12-point stars of 1 km across. Throughput: N client processes,
each with its own connection, asking bbox searches for ``--seconds`` once all are connected; the figure is
searches per second over all clients.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dronectl.archive.archive import Archive  # noqa: E402
from dronectl.archive.catalog import ImageRecord  # noqa: E402
from dronectl.archive.services import default_services  # noqa: E402
from dronectl.archive.store import BlobStore  # noqa: E402

LAT0, LON0 = 49.3817, 3.3236
M_LAT, M_LON = 111_200.0, 111_200.0 * np.cos(np.radians(LAT0))
SERVICES = ("police", "communication", "technical")


def _footprints(k: int, rng, side_km: float):
    import shapely

    cx = LON0 + rng.uniform(-0.5, 0.5, k) * side_km * 1000 / M_LON
    cy = LAT0 + rng.uniform(-0.5, 0.5, k) * side_km * 1000 / M_LAT
    hw, hh = rng.uniform(20, 60, k), rng.uniform(15, 45, k)
    ang = rng.uniform(0, np.pi, k)
    ca, sa = np.cos(ang), np.sin(ang)
    corners = np.empty((k, 5, 2))
    for j, (sx, sy) in enumerate(((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))):
        dx, dy = sx * hw, sy * hh
        corners[:, j, 0] = cx + (dx * ca - dy * sa) / M_LON
        corners[:, j, 1] = cy + (dx * sa + dy * ca) / M_LAT
    return shapely.polygons(corners), cx, cy


T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
INGESTED = datetime(2026, 11, 22, tzinfo=timezone.utc)


def records(start: int, k: int, rng, side_km: float) -> list[ImageRecord]:
    polys, cx, cy = _footprints(k, rng, side_km)
    secs = rng.uniform(0, 2 * 365 * 86400, k)
    svc = rng.integers(0, 3, k)
    return [ImageRecord(sha256=f"{start + i:064x}", service=SERVICES[svc[i]], format="jpeg", footprint=polys[i],
                        ingested_at=INGESTED, captured_at=T0 + timedelta(seconds=float(secs[i])),
                        mission=f"m-{(start + i) // 500}", lon_deg=float(cx[i]), lat_deg=float(cy[i]), height_m=60.0,
                        size_bytes=4_300_000, width_px=4000, height_px=3000)
            for i in range(k)]


def bulk_fill(cat, n: int, side_km: float, chunk: int = 100_000) -> float:
    """n rows straight into the tables (no Feature texts); seconds spent."""
    import shapely

    from dronectl.archive.catalog import iso

    rng = np.random.default_rng(1)
    t = time.perf_counter()
    cols = "id, sha256, service, format, footprint, ingested_at, captured_at, mission, lon_deg, lat_deg, height_m"
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        polys, cx, cy = _footprints(k, rng, side_km)
        secs = rng.uniform(0, 2 * 365 * 86400, k)
        svc = rng.integers(0, 3, k)
        if cat.backend == "sqlite":
            wkb, b = shapely.to_wkb(polys), shapely.bounds(polys)
            rows = [(start + i + 1, f"{start + i:064x}", SERVICES[svc[i]], "jpeg", wkb[i], iso(INGESTED),
                     iso(T0 + timedelta(seconds=float(secs[i]))), f"m-{(start + i) // 500}", float(cx[i]),
                     float(cy[i]), 60.0) for i in range(k)]
            with cat._transaction():
                cat.db.executemany(f"INSERT INTO images ({cols}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
                cat.db.executemany("INSERT INTO images_rtree VALUES (?,?,?,?,?)",
                                   [(start + i + 1, b[i, 0], b[i, 2], b[i, 1], b[i, 3]) for i in range(k)])
        else:
            ewkb = shapely.to_wkb(shapely.set_srid(polys, 4326), hex=True, include_srid=True)
            with cat._transaction(), cat.db.cursor().copy(f"COPY images ({cols}) FROM STDIN") as cp:
                for i in range(k):
                    cp.write_row((start + i + 1, f"{start + i:064x}", SERVICES[svc[i]], "jpeg", ewkb[i], INGESTED,
                                  T0 + timedelta(seconds=float(secs[i])), f"m-{(start + i) // 500}", float(cx[i]),
                                  float(cy[i]), 60.0))
    if cat.backend == "postgis":
        cat.db.execute("SELECT setval(pg_get_serial_sequence('images', 'id'), %s)", (n,))
        cat.db.execute("ANALYZE images")
    return time.perf_counter() - t


def open_backend(backend: str, root: Path, dsn: str | None, schema: str):
    if backend == "sqlite":
        from dronectl.archive.catalog_sqlite import SqliteCatalog

        return SqliteCatalog(root / "catalogue.sqlite")
    from dronectl.archive.catalog_postgis import PostgisCatalog

    return PostgisCatalog(dsn, schema=schema)


def many_adds(cat, n: int, start: int, side_km: float, chunk: int = 5000) -> float:
    """Rows per second through add_many."""
    rng = np.random.default_rng(5)
    spent = 0.0
    for k in range(0, n, chunk):
        recs = records(start + k, min(chunk, n - k), rng, side_km)
        t = time.perf_counter()
        cat.add_many(recs)
        spent += time.perf_counter() - t
    return n / spent


def single_adds(cat, n: int, start: int, side_km: float) -> float:
    recs = records(start, n, np.random.default_rng(2), side_km)
    t = time.perf_counter()
    for r in recs:
        cat.add(r)
    return n / (time.perf_counter() - t)


def boxes(count: int, box_m: float, side_km: float, seed: int = 3):
    from shapely.geometry import box

    rnd = random.Random(seed)
    lat_d, lon_d = box_m / M_LAT, box_m / M_LON
    lat_s, lon_s = side_km * 500 / M_LAT, side_km * 500 / M_LON
    out = []
    for _ in range(count):
        lon, lat = LON0 + rnd.uniform(-lon_s, lon_s), LAT0 + rnd.uniform(-lat_s, lat_s)
        out.append(box(lon - lon_d / 2, lat - lat_d / 2, lon + lon_d / 2, lat + lat_d / 2))
    return out


def stars(count: int, radius_m: float, side_km: float, seed: int = 4):
    from shapely.geometry import Polygon

    rnd = random.Random(seed)
    lat_s, lon_s = side_km * 500 / M_LAT, side_km * 500 / M_LON
    out = []
    for _ in range(count):
        lon, lat = LON0 + rnd.uniform(-lon_s, lon_s), LAT0 + rnd.uniform(-lat_s, lat_s)
        pts = []
        for k in range(24):
            r = radius_m * (1.0 if k % 2 == 0 else 0.45)
            a = 2 * np.pi * k / 24
            pts.append((lon + r * np.cos(a) / M_LON, lat + r * np.sin(a) / M_LAT))
        out.append(Polygon(pts))
    return out


def timed(a: Archive, geoms) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, mean hits) of Archive.search over geoms (the first 20 warm the caches)."""
    for g in geoms[:20]:
        a.search("technical", geometry=g)
    ms, hits = [], []
    for g in geoms[20:]:
        t = time.perf_counter()
        res = a.search("technical", geometry=g)
        ms.append((time.perf_counter() - t) * 1000)
        hits.append(len(res))
    return statistics.median(ms), statistics.quantiles(ms, n=100)[94], statistics.mean(hits)


_ready = None


def _init(barrier):
    global _ready
    _ready = barrier


def _client(args) -> int:
    backend, root, dsn, schema, seconds, box_m, side_km, seed = args
    cat = open_backend(backend, Path(root), dsn, schema)
    a = Archive(Path(root), default_services(), cat, BlobStore(root))
    geoms = boxes(2000, box_m, side_km, seed)
    a.search("technical", geometry=geoms[-1])
    _ready.wait()  # every client connected and warm before the clock starts
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        a.search("technical", geometry=geoms[n % len(geoms)])
        n += 1
    cat.close()
    return n


def throughput(backend, root, dsn, schema, clients: int, seconds: float, box_m, side_km) -> float:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(clients)
    jobs = [(backend, str(root), dsn, schema, seconds, box_m, side_km, 100 + c) for c in range(clients)]
    with ctx.Pool(clients, initializer=_init, initargs=(barrier,)) as pool:
        counts = pool.map(_client, jobs, chunksize=1)
    return sum(counts) / seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="catalogue sizes, comma-separated")
    ap.add_argument("--backends", default="sqlite,postgis")
    ap.add_argument("--dsn", default=os.environ.get("DRONECTL_PG_DSN"), help="PostGIS (default $DRONECTL_PG_DSN)")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--box-m", type=float, default=300.0)
    ap.add_argument("--star-m", type=float, default=500.0, help="outer radius of the star polygons (m)")
    ap.add_argument("--side-km", type=float, default=20.0)
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "dronectl-catalog-bench")
    args = ap.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    if "postgis" in backends and not args.dsn:
        ap.error("PostGIS: give --dsn or set DRONECTL_PG_DSN (or --backends sqlite)")
    load = os.getloadavg()[0]
    print(f"# catalog_bench  {datetime.now():%Y-%m-%d %H:%M}  {platform.machine()}  {os.cpu_count()} cores  "
          f"Python {platform.python_version()}  load {load:.1f}")
    if "postgis" in backends:
        import psycopg

        with psycopg.connect(args.dsn) as c:
            print("# " + c.execute("SELECT version()").fetchone()[0].split(",")[0] + ", PostGIS "
                  + c.execute("SELECT postgis_lib_version()").fetchone()[0])
    clients = [int(c) for c in args.clients.split(",") if c]
    for n in (int(x) for x in args.sizes.split(",") if x):
        bx = boxes(args.queries + 20, args.box_m, args.side_km)
        st = stars(args.queries // 2 + 20, args.star_m, args.side_km)
        for backend in backends:
            root = args.workdir / f"{backend}-{n}"
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            cat = open_backend(backend, root, args.dsn, schema)
            try:
                built = bulk_fill(cat, n, args.side_km)
                rate = many_adds(cat, 20_000, n, args.side_km)
                one = single_adds(cat, 2000, n + 20_000, args.side_km)
                a = Archive(root, default_services(), cat, BlobStore(root))
                b50, b95, bh = timed(a, bx)
                p50, p95, ph = timed(a, st)
                tp = {c: throughput(backend, root, args.dsn, schema, c, args.seconds, args.box_m, args.side_km)
                      for c in clients}
                print(f"{backend:<7} {n:>9,} rows (bulk-filled in {built:.0f} s): insert {rate:,.0f} rows/s (add_many), {one:,.0f} rows/s (add, "
                      f"1 a transaction) | bbox {args.box_m:.0f} m p50 {b50:.2f} ms p95 {b95:.2f} ms ({bh:.0f} hits) | "
                      f"polygon p50 {p50:.2f} ms p95 {p95:.2f} ms ({ph:.0f} hits) | searches/s "
                      + "  ".join(f"{c} clients {v:,.0f}" for c, v in tp.items()), flush=True)
            finally:
                if backend == "postgis":
                    cat.drop_schema()
                cat.close()
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
