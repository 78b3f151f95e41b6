"""Web map benchmark: /api/images latency under 20 concurrent clients, SQLite and PostGIS in the same run,
and the time Chromium takes to draw 10,000 footprints.

Run (after ``make venv``; PostGIS when DRONECTL_PG_DSN is set, see .ci/run; Chromium: apt-get install chromium)::

    .venv/bin/python benchmarks/web_bench.py                  # 100,000 images, 20 clients x 20 s per backend
    .venv/bin/python benchmarks/web_bench.py --rows 20000 --seconds 5 --no-browser

Each backend gets an archive of ``--rows`` catalogued images (rotated rectangles of about 85 x 64 m, the sim
camera at 60 m, over a ``--side-km`` square around Soissons, three services), then ``dronectl serve`` is started
as a subprocess on a loopback port and ``--clients`` threads, each with its own keep-alive connection, ask
``GET /api/images?bbox=<a random 1 km box>`` (default limit, 500) as a technical user for ``--seconds``.
Latency is from the request sent to the last byte read; "srv CPU" is the server process's CPU time per
request. ``--against TREE`` serves the same archive from another checkout too, each run on both servers one
after the other: before/after figures of a change from one run. The browser part serves ``--footprints`` images in
one zone and loads the page in headless Chromium: from navigation start to the frame after the footprints
were added to the map (the page's own ``data-since-start-ms``), median of 5 loads.
The tile part publishes a mosaic of 48 photos (timed: publishing draws the map tiles of the zooms that fit the
budget, archive/tiles.py) and asks, with ``--clients`` clients, every tile of its three deepest zooms once (the
first view of a published mosaic: read from the tiles drawn at publication, those that were; ``--undrawn-tiles``:
none, each drawn when first asked, as zooms past the budget are), then random ones of them for ``--seconds`` (the
server keeps tiles in memory).
Aims (PRODUCT §11): /api/images p95 ≤ 100 ms (aim 50) at 20 clients; a map tile p95 ≤ 50 ms at 20 clients;
10,000 footprints usable in ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dronectl.archive import open_archive  # noqa: E402
from dronectl.archive.catalog import ImageRecord  # noqa: E402
from dronectl.archive.services import DEFAULT_CONFIG  # noqa: E402
from tests.web.conftest import start_server, stop_server  # noqa: E402

LAT0, LON0 = 49.3817, 3.3236
M_LAT, M_LON = 111_200.0, 111_200.0 * np.cos(np.radians(LAT0))


def records(n: int, side_km: float, seed: int = 1, services=("police", "communication", "technical")):
    import shapely

    rng = np.random.default_rng(seed)
    cx = LON0 + rng.uniform(-0.5, 0.5, n) * side_km * 1000 / M_LON
    cy = LAT0 + rng.uniform(-0.5, 0.5, n) * side_km * 1000 / M_LAT
    hw, hh, ang = rng.uniform(20, 60, n), rng.uniform(15, 45, n), rng.uniform(0, np.pi, n)
    ca, sa = np.cos(ang), np.sin(ang)
    corners = np.empty((n, 5, 2))
    for j, (sx, sy) in enumerate(((-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1))):
        dx, dy = sx * hw, sy * hh
        corners[:, j, 0] = cx + (dx * ca - dy * sa) / M_LON
        corners[:, j, 1] = cy + (dx * sa + dy * ca) / M_LAT
    polys = shapely.polygons(corners)
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    secs = rng.uniform(0, 2 * 365 * 86400, n)
    svc = rng.integers(0, len(services), n)
    ingested = datetime(2026, 11, 22, tzinfo=timezone.utc)
    for i in range(n):
        yield ImageRecord(sha256=f"{i:064x}", service=services[svc[i]], format="jpeg", footprint=polys[i],
                          ingested_at=ingested, captured_at=t0 + timedelta(seconds=float(secs[i])),
                          mission=f"m-{i // 500}", camera="sim", model="SimCam", lon_deg=float(cx[i]),
                          lat_deg=float(cy[i]), height_m=60.0, pitch_deg=-90.0, yaw_deg=float(np.degrees(ang[i])),
                          roll_deg=0.0, width_px=4000, height_px=3000, source_name=f"DJI_{i:06d}.JPG")


def make_archive(root: Path, backend: str, recs, users: int = 20) -> tuple[list[str], str | None]:
    """(tokens of ``users`` technical users, PostGIS schema to drop or None). One user per client: the server
    lets one user run at most 2 searches at once (``HEAVY_PER_USER``), so 20 clients are 20 people."""
    root.mkdir(parents=True, mode=0o700)
    config, schema = DEFAULT_CONFIG, None
    if backend == "postgis":
        schema = "bench_" + uuid.uuid4().hex[:10]
        config = config.replace("[catalog]\n", f'[catalog]\nurl = "{os.environ["DRONECTL_PG_DSN"]}"\n'
                                               f'schema = "{schema}"\n')
    (root / "config.toml").write_text(config, encoding="utf-8")
    with open_archive(root, create=False) as a:
        t = time.perf_counter()
        a.catalog.add_many(recs)
        if backend == "postgis":
            a.catalog.db.execute("ANALYZE images")
        print(f"  {a.catalog.count()} rows in {time.perf_counter() - t:.1f} s ({backend})", flush=True)
        return [a.add_user(f"bench{k}", "technical")[1] for k in range(users)], schema


def load(url: str, tokens: list[str], clients: int, seconds: float, box_m: float, side_km: float, extra: str = "") -> dict:
    u = urlsplit(url)
    half_lat, half_lon = side_km * 500 / M_LAT, side_km * 500 / M_LON
    dlat, dlon = box_m / M_LAT, box_m / M_LON
    lat, feats, errors = [], [], []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(seed: int):
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        auth = {"Authorization": f"Bearer {tokens[seed % len(tokens)]}"}
        mine, counts = [], []
        while time.perf_counter() < stop_at:
            s = LAT0 - half_lat + rnd.uniform(0, 2 * half_lat - dlat)
            w = LON0 - half_lon + rnd.uniform(0, 2 * half_lon - dlon)
            path = f"/api/images?bbox={w:.6f},{s:.6f},{w + dlon:.6f},{s + dlat:.6f}{extra}"
            t = time.perf_counter()
            conn.request("GET", path, headers=auth)
            r = conn.getresponse()
            body = r.read()
            mine.append(time.perf_counter() - t)
            if r.status != 200:
                errors.append(r.status)
            counts.append(body.count(b'"type":"Feature"'))
        conn.close()
        with lock:
            lat.extend(mine)
            feats.extend(counts)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"requests": len(lat), "rps": len(lat) / wall, "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))], "max_ms": 1000 * lat[-1],
            "features_mean": statistics.mean(feats), "errors": len(errors)}


def server_cpu_s(proc) -> float:
    """CPU seconds of the server process and of its worker processes (``--workers``)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            f = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(proc.pid) or f[1] == str(proc.pid):
            total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return total


def start_servers(root: Path, args) -> list[tuple[str, object, str]]:
    """(label, process, url): this checkout's server, and with ``--against`` one per other code tree (the same
    console script with that tree first on PYTHONPATH), on the same archive."""
    out = []
    for tree in [None, *args.against]:
        env_before = os.environ.get("PYTHONPATH")
        if tree is not None:
            os.environ["PYTHONPATH"] = str(Path(tree).resolve())
        try:
            proc, url = start_server(root, "--workers", str(args.workers))
        finally:
            if env_before is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = env_before
        out.append(("this" if tree is None else Path(tree).name, proc, url))
    return out


def bench_api(args, tmp: Path, backends: list[str]) -> list[str]:
    out = []
    for backend in backends:
        root = tmp / f"api-{backend}"
        tokens, schema = make_archive(root, backend, records(args.rows, args.side_km), users=args.clients)
        servers = start_servers(root, args)
        try:
            for _, _, url in servers:
                load(url, tokens, 2, 1.0, args.box_m, args.side_km)  # warm the connections and caches
            runs = [("", args.clients, args.seconds), ("&fields=map", args.clients, args.seconds / 2),
                    ("", 1, args.seconds / 2)]
            for extra, clients, seconds in runs:
                for label, proc, url in servers:  # interleaved: each run on every server, one after the other
                    cpu = server_cpu_s(proc)
                    r = load(url, tokens, clients, seconds, args.box_m, args.side_km, extra)
                    cpu = 1000 * (server_cpu_s(proc) - cpu) / max(1, r["requests"])
                    code = f" {label:>6s}" if args.against else ""
                    line = (f"/api/images{extra or '':11s} {backend:7s}{code} {args.workers} worker(s) {args.rows} "
                            f"images, {args.box_m / 1000:g} km box, {clients:2d} clients x {seconds:g} s: p50 "
                            f"{r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  max {r['max_ms']:5.0f} ms  "
                            f"{r['rps']:4.0f} req/s  srv CPU {cpu:4.1f} ms/req  {r['features_mean']:.0f} "
                            f"features/answer  errors {r['errors']}")
                    print(line, flush=True)
                    out.append(line)
        finally:
            for _, proc, _ in servers:
                stop_server(proc)
            if schema:
                with open_archive(root, create=False) as a:
                    a.catalog.drop_schema()
    return out


def bench_browser(args, tmp: Path) -> list[str]:
    from tests.web import browser

    ok, how = browser.available()
    if not ok:
        return [f"browser: skipped ({how})"]
    root = tmp / "browser"
    # all the footprints in one 1 x 1 km square (the page fits the map to them)
    token = make_archive(root, "sqlite", records(args.footprints, 1.0, seed=5, services=("technical",)), users=1)[0][0]
    proc, url = start_server(root)
    u = urlsplit(url)
    times, draws = [], []
    try:
        with browser.chromium() as b:
            for _ in range(5):
                ctx = b.new_context(viewport={"width": 1280, "height": 800})
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)  # a session, as the login form
                conn.request("POST", "/login", f"token={token}", {"Content-Type": "application/x-www-form-urlencoded"})
                session = conn.getresponse().getheader("set-cookie").split(";")[0].split("=", 1)[1]
                conn.close()
                ctx.add_cookies([{"name": "dronectl_session", "value": session, "domain": u.hostname, "path": "/"}])
                page = ctx.new_page()
                page.goto(url)
                page.wait_for_selector(f"body[data-footprints='{args.footprints}']", state="attached",
                                       timeout=120_000)
                times.append(float(page.evaluate("document.body.dataset.sinceStartMs")))
                draws.append(float(page.evaluate("document.body.dataset.drawMs")))
                print("   ", page.evaluate("JSON.stringify(document.body.dataset)"), flush=True)
                if args.screenshot:
                    page.screenshot(path=args.screenshot)
                ctx.close()
    finally:
        stop_server(proc)
    line = (f"page: {args.footprints} footprints drawn {statistics.median(times) / 1000:.2f} s after navigation "
            f"start (median of 5; fetch + draw {statistics.median(draws) / 1000:.2f} s), headless Chromium")
    print(line, flush=True)
    return [line]


def bench_tiles(args, tmp: Path) -> list[str]:
    """Map tiles of a published mosaic: the time to publish it (building the COG, then drawing its map tiles),
    then ``--clients`` keep-alive clients asking every tile of the mosaic's three deepest zooms once (the first
    view: from the tiles drawn at publication; how many of them were is printed), then random ones of them for
    ``--seconds`` (kept in the server's memory); p50/p95 and tiles/s of each part."""
    import math

    from dronectl.sim.camera import CameraEvent, make_base_raster, render_photos, sim_camera

    root = tmp / "tiles"
    tokens, _ = make_archive(root, "sqlite", [], users=args.clients)
    cam = sim_camera(1000, 750)
    events = [CameraEvent(LAT0 + 0.0004 * r, LON0 + 0.0006 * c, 60.0, 8 * r + c, 2.0 * (8 * r + c), yaw_deg=0.0)
              for r in range(6) for c in range(8)]
    raster = make_base_raster((LON0 - 0.01, LAT0 - 0.01, LON0 + 0.02, LAT0 + 0.01), res_m=0.5)
    photos = render_photos(events, cam, tmp / "tile-photos", base_raster=raster,
                           start_time=datetime(2026, 11, 22, 9, tzinfo=timezone.utc))
    with open_archive(root, create=False) as a:
        a.ingest(photos, "technical", mission="tiles-1")
        t0 = time.perf_counter()
        rep = a.mosaic("technical", "tiles-1", tmp / "tiles-1.tif", publish=True)
        publish_s = time.perf_counter() - t0
    servers = start_servers(root, args)
    out = []
    try:
        u = urlsplit(servers[0][2])
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        conn.request("GET", "/api/tiles/technical/tiles-1/tilejson.json",
                     headers={"Authorization": f"Bearer {tokens[0]}"})
        tj = __import__("json").loads(conn.getresponse().read())
        conn.close()
        w, s_, e, n = tj["bounds"]

        def xyz(lon, lat, z):
            k = 2 ** z
            return (int((lon + 180) / 360 * k),
                    int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * k))

        tiles = []
        for z in range(tj["maxzoom"] - 2, tj["maxzoom"] + 1):
            (x0, y0), (x1, y1) = xyz(w, n, z), xyz(e, s_, z)
            tiles += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
        from dronectl.archive.mosaic import published_cog
        from dronectl.archive.tiles import version_dir

        drawn_dir = version_dir(published_cog(root, "technical", "tiles-1")[0])
        if args.undrawn_tiles:  # as zooms past the budget: every tile drawn when first asked
            __import__("shutil").rmtree(drawn_dir.parent)
        predrawn = sum((drawn_dir / str(z) / str(x) / f"{y}.png").is_file() for z, x, y in tiles)
        lock, errors = threading.Lock(), []

        def run(u, pick, seconds: float) -> tuple[list[float], float]:
            lat, stop_at = [], time.perf_counter() + seconds

            def client(seed):
                rnd, mine = random.Random(seed), []
                auth = {"Authorization": f"Bearer {tokens[seed % len(tokens)]}"}
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                while time.perf_counter() < stop_at:
                    tile = pick(rnd)
                    if tile is None:
                        break
                    t = time.perf_counter()
                    c.request("GET", "/api/tiles/technical/tiles-1/%d/%d/%d.png" % tile, headers=auth)
                    r = c.getresponse()
                    r.read()
                    mine.append(time.perf_counter() - t)
                    if r.status != 200:
                        errors.append(r.status)
                c.close()
                with lock:
                    lat.extend(mine)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            t0 = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            return lat, time.perf_counter() - t0

        def pct(values):
            values = sorted(values)
            return (f"p50 {1000 * statistics.median(values):.1f} ms  p95 "
                    f"{1000 * values[int(0.95 * (len(values) - 1))]:.1f} ms" if values else "none")

        for label, proc, url in servers:
            u = urlsplit(url)
            todo = tiles[:]
            random.Random(7).shuffle(todo)

            def next_new(_):
                with lock:
                    return todo.pop() if todo else None

            first, first_wall = run(u, next_new, 600.0)  # every tile once: the first view of the mosaic
            again, wall = run(u, lambda rnd: rnd.choice(tiles), args.seconds)  # random tiles, rendered already
            code = f" {label}" if args.against else ""
            line = (f"tiles{code}: mosaic of {rep.photos_used} photos ({rep.width_px} x {rep.height_px} px, "
                    f"{rep.gsd_cm:.1f} cm/px) published in {publish_s:.1f} s ({rep.tiles_drawn} map tiles drawn, "
                    f"zooms {'-'.join(map(str, rep.tile_zooms or ())) or 'none'}), {len(tiles)} tiles at zooms "
                    f"{tj['maxzoom'] - 2}-{tj['maxzoom']} ({predrawn} of them drawn at publication"
                    f"{'' if label == 'this' else ' by this checkout; a server that predates that draws them'}), "
                    f"{args.clients} clients: each tile once {pct(first)}  {len(first) / first_wall:.0f} tiles/s; "
                    f"then random ones for {args.seconds:g} s {pct(again)}  {len(again) / wall:.0f} tiles/s  "
                    f"errors {len(errors)}")
            print(line, flush=True)
            out.append(line)
    finally:
        for _, proc, _ in servers:
            stop_server(proc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--side-km", type=float, default=10.0, help="side of the square the images are spread over")
    ap.add_argument("--box-m", type=float, default=1000.0)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--footprints", type=int, default=10_000)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-api", action="store_true", help="no /api/images part")
    ap.add_argument("--no-tiles", action="store_true", help="no map-tile part")
    ap.add_argument("--undrawn-tiles", action="store_true",
                    help="remove the map tiles drawn at publication before the tile part (as zooms past the budget)")
    ap.add_argument("--workers", type=int, default=1, help="dronectl serve --workers")
    ap.add_argument("--against", action="append", default=[], metavar="TREE",
                    help="also serve the /api/images and tile parts from this other checkout (e.g. `git worktree add "
                         "/tmp/before main`), interleaved with this one's in the same run: before/after figures")
    ap.add_argument("--screenshot", help="save the last page load's screenshot here")
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args()
    backends = ["sqlite"] + (["postgis"] if os.environ.get("DRONECTL_PG_DSN") else [])
    with tempfile.TemporaryDirectory(dir=args.workdir) as d:
        lines = [] if args.no_api else bench_api(args, Path(d), backends)
        if not args.no_tiles:
            lines += bench_tiles(args, Path(d))
        if not args.no_browser:
            lines += bench_browser(args, Path(d))
    print(f"\n# web_bench  {datetime.now():%Y-%m-%d}  {platform.machine()}  {os.cpu_count()} cores  "
          f"Python {platform.python_version()}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
