"""STAC API benchmark: dronectl's ``/stac`` (SQLite and PostGIS) against stac-fastapi-pgstac on the same items,
both started by this script and measured in the same run, interleaved.

Run (after ``make venv``; needs PostgreSQL + PostGIS: ``$DRONECTL_PG_DSN``, or the script starts a throw-away
cluster itself as ``.ci/run`` does; the peer is pip-installed from PyPI into its own venv under
``~/.cache/dronectl-bench/``, never into the project's)::

    .venv/bin/python benchmarks/stac_bench.py                 # 100,000 items, 1 and 20 clients x 10 s per route
    .venv/bin/python benchmarks/stac_bench.py --quick         # 10,000 items, 3 s, 100 pystac-client items: a check
    .venv/bin/python benchmarks/stac_bench.py --sizes 20000 --seconds 5 --clients 1,20 --no-export
    .venv/bin/python benchmarks/stac_bench.py --routes none            # only pystac-client and the export

What it does, per size N:

- dronectl: an archive of N catalogue rows without photos (``web_bench.records`` / ``make_archive``: three
  services over a 10 km square), on SQLite and on PostGIS; ``dronectl serve --port 0`` on each (one worker, the
  default) and technical users' Bearer tokens, one user per client (the server runs at most 2 searches of one
  user at once and answers 429 beyond). A technical user sees the communication and technical images.
- the peer: stac-fastapi-pgstac (PyPI ``stac-fastapi.pgstac``) on pgstac (``pypgstac migrate``), on a database
  of its own in the same PostgreSQL server, loaded with ``pypgstac load`` (collections, then items, ``--method
  insert``) with exactly the items the technical user sees: built by ``dronectl.archive.stac.item_dict``
  from the SQLite archive's rows (same ids, geometry, datetime, properties and assets), then ``VACUUM ANALYZE``
  (dronectl's PostGIS catalogue is ANALYZEd too). Served by uvicorn from its venv, one worker, default settings.
- routes, for each of ``--clients`` (threads, each with its own kept-alive ``http.client`` connection) for
  ``--seconds``, the three servers one after the other per route and client count (interleaved): the landing
  page, ``collections/technical``, ``search?bbox=<random 1 km box>&limit=100``, POST ``search`` with
  ``intersects`` (a 1 km square turned 30 degrees) and ``limit`` 100, and items paging (``collections/technical/
  items?limit=100`` then its ``next`` links, ``--pages`` pages, then from the start again). Each client draws
  the same boxes on every server (seeded). Latency is from the request sent to the last byte read; server CPU is
  the server process's (not PostgreSQL's) user+system time over the run, per request.
- pystac-client (this venv's) ``Client.open(...).search(collections=["technical"], max_items=M)`` with default
  settings (no ``limit``: the server's default page), ``.items()`` then ``.item_collection()``: wall time and the
  number of HTTP requests made by the search (counted with ``request_modifier``).
- ``dronectl archive export --stac`` of the SQLite archive (all N rows, ``--as police``, who sees them all).

Ratios printed: dronectl/peer requests per second (>= 1: at least as fast) and dronectl/peer p95 (<= 1).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from web_bench import LAT0, LON0, M_LAT, M_LON, make_archive, records  # noqa: E402

from dronectl.archive import open_archive  # noqa: E402
from tests.conftest import console_script  # noqa: E402
from tests.web.conftest import start_server, stop_server  # noqa: E402

PEER_PACKAGES = ["stac-fastapi.pgstac", "pypgstac[psycopg]", "uvicorn"]
ASKER = "technical"
HREF = "http://127.0.0.1:8000/api/images"  # the peer's asset hrefs: the same length as dronectl's


# --- PostgreSQL -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def pg_server():
    """$DRONECTL_PG_DSN, or a throw-away cluster (private port and socket, as .ci/run) for the run."""
    if os.environ.get("DRONECTL_PG_DSN"):
        yield os.environ["DRONECTL_PG_DSN"]
        return
    pgbin = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: float(p.parent.name))[-1]
    data, sock = Path(tempfile.mkdtemp(prefix="stacbench-pg.")), Path(tempfile.mkdtemp(prefix="stacbench-pgsock."))
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_pg:
        shutil.chown(data, "postgres")
        shutil.chown(sock, "postgres")
    run = lambda *cmd: subprocess.run([*as_pg, *map(str, cmd)], check=True, stdout=subprocess.DEVNULL)  # noqa: E731
    run(pgbin / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
    run(pgbin / "pg_ctl", "-D", data, "-l", data / "server.log", "-w", "-o",
        f"-p {port} -k {sock} -c listen_addresses='' -c fsync=off", "start")
    try:
        run(pgbin / "psql", "-h", sock, "-p", port, "-U", "postgres", "-q", "-c", "CREATE DATABASE dronectl_bench")
        run(pgbin / "psql", "-h", sock, "-p", port, "-U", "postgres", "-d", "dronectl_bench", "-q", "-c",
            "CREATE EXTENSION postgis")
        dsn = f"host={sock} port={port} dbname=dronectl_bench user=postgres"
        os.environ["DRONECTL_PG_DSN"] = dsn  # make_archive reads it
        print(f"PostgreSQL: throw-away cluster {dsn}", flush=True)
        yield dsn
    finally:
        subprocess.run([*as_pg, str(pgbin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(sock, ignore_errors=True)


def pg_admin(dsn: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(sql)


# --- the peer: stac-fastapi-pgstac on pgstac --------------------------------------------------------
def peer_venv(path: Path) -> Path:
    """A venv of its own (created once, from PyPI) holding stac-fastapi-pgstac, pypgstac and uvicorn."""
    py = path / "bin" / "python"
    if not (path / "bin" / "uvicorn").exists() or not (path / "bin" / "pypgstac").exists():
        print(f"peer: creating {path} (pip install {' '.join(PEER_PACKAGES)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    out = subprocess.run([str(py), "-m", "pip", "list", "--format", "json"], check=True, capture_output=True,
                         text=True).stdout
    versions = {p["name"].lower(): p["version"] for p in json.loads(out)}
    print(f"peer: stac-fastapi-pgstac {versions.get('stac-fastapi-pgstac')}, pypgstac (pgstac) "
          f"{versions.get('pypgstac')}, uvicorn {versions.get('uvicorn')}", flush=True)
    return path


def export_ndjson(root: Path, tmp: Path) -> tuple[Path, Path, int]:
    """(collections.ndjson, items.ndjson, number of items): what ASKER sees, as dronectl makes its items."""
    from dronectl.archive.stac import item_dict

    coll_path, items_path = tmp / "collections.ndjson", tmp / "items.ndjson"
    n = 0
    t = time.perf_counter()
    with open_archive(root, create=False) as a, open(items_path, "w", encoding="utf-8") as f:
        visible = set(a.visible_services(ASKER))
        for rec in a.catalog.iter_all():
            if rec.service not in visible:
                continue
            d = item_dict(rec, f"{HREF}/{rec.id}/file", f"{HREF}/{rec.id}/thumbnail")
            d["collection"] = rec.service
            f.write(json.dumps(d, separators=(",", ":")) + "\n")
            n += 1
        with open(coll_path, "w", encoding="utf-8") as c:
            for name, (bbox, first, last, count) in a.extents(ASKER).items():
                iso = lambda t: t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")  # noqa: E731
                c.write(json.dumps({
                    "type": "Collection", "stac_version": "1.0.0", "id": name, "title": f"{name} images",
                    "description": f"Drone images of the {name} service", "license": "proprietary",
                    "extent": {"spatial": {"bbox": [list(bbox)]}, "temporal": {"interval": [[iso(first), iso(last)]]}},
                    "links": []}) + "\n")
    print(f"  {n} items as ndjson for pgstac in {time.perf_counter() - t:.1f} s", flush=True)
    return coll_path, items_path, n


def load_pgstac(venv: Path, dsn: str, coll: Path, items: Path) -> None:
    pypgstac = str(venv / "bin" / "pypgstac")
    t = time.perf_counter()
    subprocess.run([pypgstac, "migrate", "--dsn", dsn], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([pypgstac, "load", "collections", str(coll), "--dsn", dsn, "--method", "insert"], check=True,
                   stdout=subprocess.DEVNULL)
    t1 = time.perf_counter()
    subprocess.run([pypgstac, "load", "items", str(items), "--dsn", dsn, "--method", "insert"], check=True,
                   stdout=subprocess.DEVNULL)
    t2 = time.perf_counter()
    pg_admin(dsn, "VACUUM ANALYZE")
    print(f"  pgstac: migrate + collections {t1 - t:.1f} s, pypgstac load items {t2 - t1:.1f} s", flush=True)


def start_peer(venv: Path, dsn: str) -> tuple[subprocess.Popen, str]:
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(dsn)
    host = p.get("host", "localhost")
    port = free_port()
    env = {**os.environ, "PGUSER": p.get("user", "postgres"), "PGPASSWORD": p.get("password", ""),
           # a socket directory goes in the URL the peer builds percent-encoded (asyncpg reads it so)
           "PGHOST": quote(host, safe="") if host.startswith("/") else host, "PGPORT": str(p.get("port", 5432)),
           "PGDATABASE": p["dbname"]}
    log = open(Path(tempfile.gettempdir()) / f"stacbench-peer-{port}.log", "w")
    proc = subprocess.Popen([str(venv / "bin" / "uvicorn"), "stac_fastapi.pgstac.app:create_app", "--factory",
                             "--host", "127.0.0.1",
                             "--port", str(port), "--no-access-log", "--log-level", "warning"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/")
            if c.getresponse().status == 200:
                return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise SystemExit(f"the peer did not start; see {log.name}")
        time.sleep(0.3)


# --- load -------------------------------------------------------------------------------------------
class Server:
    def __init__(self, name: str, proc, url: str, stac: str, tokens: list[str]):
        """``tokens``: one user's per client (dronectl runs at most 2 searches of one user at once); none: the
        peer, which has no users."""
        self.name, self.proc, self.url, self.stac, self.tokens = name, proc, url.rstrip("/"), stac, tokens
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.headers = self.headers_of(0)

    def headers_of(self, client: int) -> dict:
        return {"Authorization": f"Bearer {self.tokens[client % len(self.tokens)]}"} if self.tokens else {}

    def cpu_s(self) -> float:
        f = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def box(rnd: random.Random, side_km: float, box_m: float) -> tuple[float, float, float, float]:
    half_lat, half_lon = side_km * 500 / M_LAT, side_km * 500 / M_LON
    dlat, dlon = box_m / M_LAT, box_m / M_LON
    s = LAT0 - half_lat + rnd.uniform(0, 2 * half_lat - dlat)
    w = LON0 - half_lon + rnd.uniform(0, 2 * half_lon - dlon)
    return w, s, w + dlon, s + dlat


def turned_square(rnd: random.Random, side_km: float, box_m: float) -> dict:
    w, s, e, n = box(rnd, side_km, box_m * math.sqrt(2))  # room for the corners
    cx, cy, r = (w + e) / 2, (s + n) / 2, box_m / math.sqrt(2)
    pts = [(cx + r * math.cos(math.radians(30 + 90 * k)) / M_LON, cy + r * math.sin(math.radians(30 + 90 * k)) / M_LAT)
           for k in range(4)]
    return {"type": "Polygon", "coordinates": [[list(p) for p in pts + pts[:1]]]}


def next_request(body: bytes, srv: Server):
    """The request the page's ``next`` link asks for, or None."""
    for link in json.loads(body).get("links", []):
        if link.get("rel") == "next":
            u = urlsplit(link["href"])
            path = u.path + (f"?{u.query}" if u.query else "")
            if link.get("method", "GET").upper() == "POST":
                return "POST", path, json.dumps(link.get("body", {})).encode()
            return "GET", path, None
    return None


def route_maker(route: str, args):
    """route -> make(srv, rnd, state) giving (method, path, body bytes or None)."""
    def make(srv: Server, rnd: random.Random, state: dict):
        if route == "landing":
            return "GET", srv.stac or "/", None
        if route == "collection":
            return "GET", f"{srv.stac}/collections/technical", None
        if route == "search-bbox":
            w, s, e, n = box(rnd, args.side_km, args.box_m)
            return "GET", f"{srv.stac}/search?bbox={w:.6f},{s:.6f},{e:.6f},{n:.6f}&limit=100", None
        if route == "search-intersects":
            return "POST", f"{srv.stac}/search", json.dumps({"intersects": turned_square(rnd, args.side_km, args.box_m),
                                                              "limit": 100}).encode()
        if route == "items-paging":
            if state.get("next") and state.get("pages", 0) < args.pages:
                return state["next"]
            state["pages"] = 0
            return "GET", f"{srv.stac}/collections/technical/items?limit=100", None
        raise ValueError(route)
    return make


def load(srv: Server, route: str, clients: int, seconds: float, args) -> dict:
    make = route_maker(route, args)
    lat, feats, errors = [], [], []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(seed: int):
        rnd, state = random.Random(seed), {}
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=120)
        mine, counts, errs = [], [], []
        while time.perf_counter() < stop_at:
            method, path, body = make(srv, rnd, state)
            headers = srv.headers_of(seed)
            if body is not None:
                headers["Content-Type"] = "application/json"
            t = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            mine.append(time.perf_counter() - t)
            if r.status != 200:
                errs.append(f"{r.status} {data[:200]!r}")
                state.clear()
            counts.append(data.count(b'"Feature"'))
            if route == "items-paging" and r.status == 200:
                state["next"], state["pages"] = next_request(data, srv), state.get("pages", 0) + 1
        conn.close()
        with lock:
            lat.extend(mine)
            feats.extend(counts)
            errors.extend(errs)

    cpu0 = srv.cpu_s()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    cpu = srv.cpu_s() - cpu0
    lat.sort()
    if errors:
        print(f"    {srv.name} {route}: {len(errors)} errors, e.g. {errors[0]}", flush=True)
    return {"requests": len(lat), "rps": len(lat) / wall, "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))], "cpu_ms": 1000 * cpu / max(1, len(lat)),
            "features": statistics.mean(feats), "errors": len(errors)}


def pystac(srv: Server, n_items: int) -> dict:
    from pystac_client import Client

    out = {}
    for how in ("items", "item_collection"):
        count = [0]

        def counted(request):
            count[0] += 1
            return None

        client = Client.open(f"{srv.url}{srv.stac}", headers=srv.headers, request_modifier=counted)
        opened = count[0]
        t = time.perf_counter()
        search = client.search(collections=["technical"], max_items=n_items)
        got = len(list(search.items())) if how == "items" else len(search.item_collection())
        out[how] = {"s": time.perf_counter() - t, "requests": count[0] - opened, "items": got}
    return out


def time_export(root: Path, tmp: Path) -> str:
    out = tmp / "export"
    t = time.perf_counter()
    before = os.times()
    r = subprocess.run([console_script(), "archive", "export", "--stac", str(out), "--as", "police",
                        "--archive", str(root)], capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    shutil.rmtree(out, ignore_errors=True)
    said = r.stdout.strip().split(":")[0] if r.returncode == 0 else f"failed: {r.stderr.strip()[-200:]}"
    return f"{said} in {wall:.1f} s ({cpu:.1f} s CPU)"


# --- the run ----------------------------------------------------------------------------------------
ROUTES = ("landing", "collection", "search-bbox", "search-intersects", "items-paging")


def measure_routes(servers: list[Server], peer: Server, args) -> list[str]:
    lines = []
    results = {}
    header = f"{'route':18s} {'clients':>7s} {'server':16s} {'p50 ms':>8s} {'p95 ms':>8s} {'req/s':>7s} " \
             f"{'srv CPU ms/req':>14s} {'features':>8s} {'errors':>6s}"
    print(header, flush=True)
    lines += ["", "```", header]
    for i, route in enumerate(args.routes):
        for clients in args.clients:
            order = servers[i % len(servers):] + servers[:i % len(servers)]  # a different first each route
            for srv in order:
                r = results[route, clients, srv.name] = load(srv, route, clients, args.seconds, args)
                line = (f"{route:18s} {clients:7d} {srv.name:16s} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} "
                        f"{r['rps']:7.1f} {r['cpu_ms']:14.1f} {r['features']:8.1f} {r['errors']:6d}")
                print(line, flush=True)
                lines.append(line)
    lines += ["```", "", "Ratios dronectl/peer: req/s (>= 1: at least as fast), p95 (<= 1: at least as fast)", "",
              "```"]
    for route in args.routes:
        for clients in args.clients:
            p = results[route, clients, peer.name]
            parts = []
            for srv in servers[:-1]:
                d = results[route, clients, srv.name]
                parts.append(f"{srv.name}: req/s {d['rps'] / p['rps']:5.2f}x  "
                             f"p95 {d['p95_ms'] / p['p95_ms']:5.2f}x")
            line = f"{route:18s} {clients:2d} clients  " + "   ".join(parts)
            print(line, flush=True)
            lines.append(line)
    lines.append("```")
    return lines


def bench_size(n: int, args, tmp: Path, dsn: str, venv: Path) -> list[str]:
    from psycopg.conninfo import make_conninfo

    lines = [f"## {n} catalogue rows ({args.side_km:g} km square; a technical user sees "
             f"communication + technical)"]
    print(f"\n== {n} rows", flush=True)
    roots, tokens, schemas = {}, {}, {}
    for backend in args.backends:
        roots[backend] = tmp / f"{n}-{backend}"
        tokens[backend], schemas[backend] = make_archive(roots[backend], backend, records(n, args.side_km),
                                                         users=max(args.clients))
    peer_db = "pgstac_bench_" + uuid.uuid4().hex[:8]
    peer_dsn = make_conninfo(dsn, dbname=peer_db)
    pg_admin(dsn, f"CREATE DATABASE {peer_db}")
    servers: list[Server] = []
    try:
        coll, items, n_items = export_ndjson(roots[args.backends[0]], tmp)
        load_pgstac(venv, peer_dsn, coll, items)
        lines.append(f"{n_items} items served by each; the peer's loaded with pypgstac load")
        for backend in args.backends:
            proc, url = start_server(roots[backend])
            servers.append(Server(f"dronectl-{backend}", proc, url, "/stac", tokens[backend]))
        proc, url = start_peer(venv, peer_dsn)
        peer = Server("pgstac", proc, url, "", [])
        servers.append(peer)
        for srv in servers:  # warm up (imports, caches, connection pools)
            for route in args.routes:
                load(srv, route, 2, 0.5, args)
        if args.routes:
            lines += measure_routes(servers, peer, args)
        if args.pystac_items:
            lines += ["", f"pystac-client {__import__('pystac_client').__version__} search(collections=['technical'], "
                          f"max_items={args.pystac_items}), default settings:", "", "```"]
            for srv in servers:
                r = pystac(srv, args.pystac_items)
                line = (f"{srv.name:16s} .items() {r['items']['s']:7.2f} s {r['items']['requests']:5d} requests "
                        f"({r['items']['items']} items)   .item_collection() {r['item_collection']['s']:7.2f} s "
                        f"{r['item_collection']['requests']:5d} requests ({r['item_collection']['items']} items)")
                print(line, flush=True)
                lines.append(line)
            lines.append("```")
    finally:
        for srv in servers:
            stop_server(srv.proc) if srv.name.startswith("dronectl") else (srv.proc.terminate(), srv.proc.wait(30))
        pg_admin(dsn, f"DROP DATABASE IF EXISTS {peer_db} WITH (FORCE)")
        for backend, schema in schemas.items():
            if schema:
                with open_archive(roots[backend], create=False) as a:
                    a.catalog.drop_schema()
    if args.export:
        print("  dronectl archive export --stac ...", flush=True)
        line = f"dronectl archive export --stac (SQLite, --as police, {n} rows): " + time_export(roots["sqlite"], tmp)
        print(line, flush=True)
        lines += ["", line]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000", help="catalogue rows, comma-separated (default 100000)")
    ap.add_argument("--seconds", type=float, default=10.0, help="per route, client count and server")
    ap.add_argument("--clients", default="1,20", help="client counts, comma-separated")
    ap.add_argument("--quick", action="store_true", help="a check of the script: 10,000 rows, 3 s, 100 items")
    ap.add_argument("--routes", default=",".join(ROUTES), help=f"comma-separated among {', '.join(ROUTES)}; "
                    "'none': only pystac-client and the export")
    ap.add_argument("--side-km", type=float, default=10.0)
    ap.add_argument("--box-m", type=float, default=1000.0)
    ap.add_argument("--pages", type=int, default=20, help="items paging: pages followed before starting again")
    ap.add_argument("--pystac-items", type=int, default=1000, help="0: skip pystac-client")
    ap.add_argument("--no-export", dest="export", action="store_false", help="skip archive export --stac")
    ap.add_argument("--no-postgis", action="store_true", help="dronectl on SQLite only (the peer still needs PG)")
    ap.add_argument("--peer-venv", type=Path, default=Path.home() / ".cache" / "dronectl-bench" / "pgstac-venv")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.seconds, args.pystac_items = "10000", 3.0, min(args.pystac_items, 100)
    args.clients = [int(c) for c in args.clients.split(",")]
    args.routes = [r for r in args.routes.split(",") if r and r != "none"]
    if set(args.routes) - set(ROUTES):
        ap.error(f"--routes: among {', '.join(ROUTES)}, or none")
    args.backends = ["sqlite"] + ([] if args.no_postgis else ["postgis"])
    venv = peer_venv(args.peer_venv)
    load1 = os.getloadavg()
    started = datetime.now(timezone.utc)
    lines = []
    with pg_server() as dsn, tempfile.TemporaryDirectory(dir=args.workdir) as d:
        for n in (int(s) for s in args.sizes.split(",")):
            lines += bench_size(n, args, Path(d), dsn, venv)
    head = (f"# stac_bench  {started:%Y-%m-%d %H:%M} UTC  {platform.machine()}  {os.cpu_count()} cores  "
            f"Python {platform.python_version()}  load average at start {load1[0]:.1f}, at end "
            f"{os.getloadavg()[0]:.1f}  ({args.seconds:g} s per route, client count and server)")
    print("\n" + head)
    for line in lines:
        print(line)
    if args.out:
        args.out.write_text("\n".join([head, *lines]) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
