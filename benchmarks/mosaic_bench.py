"""Mission mosaic: time and peak memory for 100 and 400 photos, at full and reduced photo size.

Photos are rendered by the synthetic camera (the `sim` camera, 1600x1200 full size, or 400x300) over a
generated city, on a grid at 40 m with 80/70 % overlap, ingested into a fresh archive, then mosaicked at the
photos' own ground resolution. Each mosaic runs in a child process so that its peak resident memory (ru_maxrss)
is its own: it must stay bounded (tiles and a capped photo cache, not one mosaic-sized array).

    .venv/bin/python benchmarks/mosaic_bench.py [--sizes 100,400] [--scales 1,0.25]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

from dronectl.archive import open_archive
from dronectl.geo import LAMBERT93, Projector
from dronectl.sim.camera import CameraEvent, render_photos, sim_camera

LAT0, LON0, ALT = 49.3790, 3.3300, 40.0


def grid(n: int, cam) -> list[CameraEvent]:
    proj = Projector.for_crs(LAMBERT93)
    cx, cy = proj.xy(LON0, LAT0)
    across = 0.3 * ALT * cam.sensor_width_mm / cam.focal_length_mm
    along = 0.2 * ALT * cam.sensor_height_mm / cam.focal_length_mm
    lines = max(1, round((n / 2.0) ** 0.5 * (along / across) ** 0.5))
    per = -(-n // lines)
    out = []
    for k in range(n):
        line, j = divmod(k, per)
        lon, lat = proj.lonlat(cx + line * across, cy + (j if line % 2 == 0 else per - 1 - j) * along)
        out.append(CameraEvent(lat, lon, ALT, k, 2.0 * k))
    return out


def _mosaic(archive_path: str, out: str, q) -> None:
    t0 = time.perf_counter()
    with open_archive(archive_path) as a:
        rep = a.mosaic("technical", "bench", out)
    q.put((time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rep.width_px,
           rep.height_px))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,400")
    ap.add_argument("--scales", default="1,0.25")
    args = ap.parse_args()
    print(f"# mosaic_bench  {date.today()}  {platform.machine()}  {os.cpu_count()} cores  Python {platform.python_version()}")
    print("photos | photo px | render s | ingest s | mosaic s | mosaic px | peak RSS MB (mosaic process)")
    ctx = mp.get_context("spawn")
    for scale in (float(s) for s in args.scales.split(",")):
        cam = sim_camera(round(1600 * scale), round(1200 * scale))
        for n in (int(s) for s in args.sizes.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                t0 = time.perf_counter()
                photos = render_photos(grid(n, cam), cam, tmp / "photos", embed_thumbnail=True)
                t1 = time.perf_counter()
                with open_archive(tmp / "archive") as a:
                    a.ingest(photos, "technical", mission="bench", workers=2)
                t2 = time.perf_counter()
                q = ctx.Queue()
                p = ctx.Process(target=_mosaic, args=(str(tmp / "archive"), str(tmp / "m.tif"), q))
                p.start()
                secs, rss_mb, w, h = q.get()
                p.join()
                print(f"{n} | {cam.image_width_px}x{cam.image_height_px} | {t1 - t0:.1f} | {t2 - t1:.1f} | {secs:.1f} "
                      f"| {w}x{h} | {rss_mb:.0f}", flush=True)


if __name__ == "__main__":
    main()
