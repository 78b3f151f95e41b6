"""The browse server: an ASGI app (Starlette) over one archive.

Access is decided here and only here, by the archive's own rules: every request names a user (session
cookie or ``Authorization: Bearer``), the user's service is the ``asker`` of :class:`dronectl.archive.Archive`
(``search``, ``show``, ``missions``), and the user's name is what the audit log records. An image the user may
not see raises :class:`NoSuchImage` in the archive, exactly as a missing one, and both answer the same 404.
Files reach the network only through the blob store, by the catalogued hash of an image the user may see.
"""

from __future__ import annotations

import html
import json
import logging
import os
import queue
import re
import threading
import time
from array import array
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dronectl.archive import AccessDenied, NoSuchImage, open_archive
from dronectl.archive.catalog import joined_features
from dronectl.archive.criteria import Criteria, parse_bbox, parse_date
from dronectl.archive.tiles import render_tile, zoom_range
from dronectl.errors import DronectlError, InputError
from dronectl.web.http import (MAX_OFFSET, BadRequest, TooLarge, base_url, error, int_param, iso, json_response as _json,
                               not_found, query_params, read_json_object)
from dronectl.web.tiles import tile_path, tilejson, valid_tile, wmts_capabilities

HERE = Path(__file__).parent
COOKIE = "dronectl_session"
DEFAULT_LIMIT, MAX_LIMIT, EXPORT_MAX = 500, 5000, 10_000
MAX_FORM_BYTES = 4096
REQUEST_BUDGET_S = 15.0  # catalogue time per request; past it the request answers 503
HEAVY_PER_USER = 2  # lists, exports and searches one user may run at once (more: 429 with Retry-After)
STREAM_OVER = 1000  # an image list of more whole records than this (and every export) is streamed...
STREAM_PAGE = 200  # ...reading and sending this many rows at a time...
# requests answered at once (the others wait their turn, in order): 20 threads taking turns on two cores spend
# the time handing the interpreter lock to one another and answer the last of them late; few at once answer
# sooner on average and, above all, in turn (20 map clients, p95 83 ms -> 56 ms; one STAC collection at 20
# clients 0.89-0.96x pgstac's throughput -> 1.01-1.12x: benchmarks/RESULTS.md). Searches and exports have
# their own turns, so that a burst of them never holds up the small requests (a tile, a thumbnail, /api/me).
SEARCHES_AT_ONCE = max(4, 2 * (os.cpu_count() or 1))
ANSWERS_AT_ONCE = max(8, 4 * (os.cpu_count() or 1))
STREAM_MAKERS = 4  # ...with at most this many parts being made at once over all answers (a thread each)
FILTERS = ("bbox", "since", "until", "zone", "mission", "service", "camera")
AUDIT_TILES_S = 600  # a police mosaic's tiles: one audit entry per user and mosaic every 10 minutes
_ID = re.compile(r"[0-9a-f]{20}")  # a public image id (catalog.new_public_id)
_ANNOTATION_ID = re.compile(r"a[0-9a-f]{16}")
log = logging.getLogger("dronectl.web")


_TILE_HOST = re.compile(r"(\{s\}\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
                        r"(:[0-9]{1,5})?")
_TILE_BAD = re.compile(r"[\s\"'`;,<>\\^|]")


def check_tiles(url: str | None) -> str | None:
    """A basemap URL template: http(s), a host name (``{s}.`` allowed), {z}, {x} and {y} (in the path, or as
    WMTS TILEMATRIX/TILEROW/TILECOL parameters), and none of the characters that could end a CSP directive or
    an attribute (spaces, quotes, ``;``, ``,``)."""
    if url is None:
        return None
    hint = ("give an http(s) URL template with {z}, {x} and {y}, e.g. https://tile.example.org/{z}/{x}/{y}.png "
            "(no spaces, quotes, ';' or ',')")
    parts = urlsplit(url) if not _TILE_BAD.search(url) else None
    if (parts is None or parts.scheme not in ("http", "https") or not _TILE_HOST.fullmatch(parts.netloc or "")
            or parts.username is not None or not all(k in url for k in ("{z}", "{x}", "{y}")) or len(url) > 1000):
        raise InputError(f"bad --tiles '{url[:200]}': {hint}")
    return url


def check_base_url(url: str | None) -> str | None:
    """``--base-url``: the server's public URL (behind a proxy), http(s)://host[:port][/path]."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment or \
            parts.username is not None or _TILE_BAD.search(url):
        raise InputError(f"bad --base-url '{url[:200]}': give the URL users open, e.g. https://drones.example.fr")
    return url.rstrip("/")


@dataclass
class Settings:
    archive_path: Path
    catalog_url: str | None = None
    zones_file: Path | None = None
    tiles: str | None = None
    session_hours: float = 12.0
    base_url: str | None = None  # links and redirects; else the request's (checked) Host
    allowed_hosts: frozenset = frozenset()  # Host headers answered; empty: any (an app served elsewhere)


class ArchivePool:
    """Open archives (one catalogue connection each), lent to one request at a time."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._free: queue.SimpleQueue = queue.SimpleQueue()

    @contextmanager
    def borrow(self):
        try:
            a = self._free.get_nowait()
        except queue.Empty:
            a = open_archive(self.settings.archive_path, self.settings.catalog_url, create=False)
            a.catalog.bound_time(REQUEST_BUDGET_S)
            a.catalog.memory_index = True  # map searches by area from memory (archive/spatial_index.py)
        a.catalog.deadline = time.monotonic() + REQUEST_BUDGET_S
        try:
            yield a
        finally:
            a.catalog.deadline = None
            self._free.put(a)

    def close(self) -> None:
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                return


class Web:
    """The routes, over an archive pool and the zone file."""

    def __init__(self, settings: Settings):
        from dronectl.geo import load_zones

        self.settings = settings
        self._heavy: dict[str, int] = {}
        self._tile_audits: dict[tuple[str, str, str], float] = {}
        self._searching = self._answering = None  # anyio.CapacityLimiters, made in the event loop on first use
        self._heavy_lock = threading.Lock()
        self.pool = ArchivePool(settings)
        with self.pool.borrow() as a:  # fail at start, not at the first request, if the archive is not there
            self.services = a.services
        self.pool.close()  # no connection open before the server starts (it may fork workers)
        self.zones = load_zones(settings.zones_file)
        self.index_html = (HERE / "templates" / "index.html").read_text(encoding="utf-8")
        self.login_html = (HERE / "templates" / "login.html").read_text(encoding="utf-8")
        tile_origin = ""
        if settings.tiles:
            p = urlsplit(settings.tiles)
            tile_origin = " " + f"{p.scheme}://{p.netloc}".replace("{s}", "*")
        self.csp = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                    f"img-src 'self' data: blob:{tile_origin}; connect-src 'self'; font-src 'self'; "
                    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

    # --- who is asking ------------------------------------------------------------------------
    def user(self, request: Request, archive):
        auth = request.headers.get("authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            scheme, token = scheme.lower(), token.strip()
            name = None
            if scheme == "basic":  # QGIS 3.22 and other GIS clients: the user's name, and the token as password
                name, token = _basic(token)
            elif scheme != "bearer":
                token = ""
            user = archive.authenticate(token) if token else None
            return None if user is None or (name is not None and name != user.name) else user
        sid = request.cookies.get(COOKIE, "")
        return archive.session_user(sid) if sid else None

    @staticmethod
    def unauthorized() -> Response:
        return error(401, "log in: send Authorization: Bearer TOKEN, or log in on /login "
                          "(a token comes from 'dronectl users add')", {"WWW-Authenticate": "Bearer"})

    def api(self, handler, body: bool = False, heavy: bool = False):
        """Wrap ``handler(request, archive, user)``: authentication (before a body is read), a JSON body
        (``body``: POSTs; size and depth limited, in ``request.state.body``), a per-user limit of ``heavy``
        requests at once, a time budget, and every error as one line of JSON."""
        async def endpoint(request: Request) -> Response:
            if body and request.method == "POST":
                if await run_in_threadpool(self._who, request) is None:
                    return self.unauthorized()
                try:
                    request.state.body = await read_json_object(request, "request body")
                except TooLarge as exc:
                    return error(413, str(exc))
                except BadRequest as exc:
                    return error(400, str(exc))
            import anyio

            if self._searching is None:
                self._searching = anyio.CapacityLimiter(SEARCHES_AT_ONCE)
                self._answering = anyio.CapacityLimiter(ANSWERS_AT_ONCE)
            return await anyio.to_thread.run_sync(self._answer, handler, request, heavy,
                                                  limiter=self._searching if heavy else self._answering)
        return endpoint

    def _who(self, request: Request):
        with self.pool.borrow() as a:
            return self.user(request, a)

    def _answer(self, handler, request: Request, heavy: bool) -> Response:
        with self.pool.borrow() as a:
            user = self.user(request, a)
            if user is None:
                return self.unauthorized()
            if heavy and not self._heavy_start(user.name):
                return error(429, f"at most {HEAVY_PER_USER} searches or exports at once per user: wait for one "
                                  "to finish", {"Retry-After": "2"})
            streamed = False
            try:
                out = handler(request, a, user)
                if isinstance(out, Streamed):  # the heavy slot is the stream's until it ends or the client leaves
                    streamed = True
                    return StreamedResponse(out, (lambda: self._heavy_end(user.name)) if heavy else None)
                return out
            except NoSuchImage:
                return not_found()
            except (BadRequest, InputError) as exc:
                return error(400, str(exc))
            except AccessDenied as exc:
                return error(403, str(exc))
            except DronectlError as exc:
                log.error("%s %s: %s", request.method, request.url.path, exc)
                return error(500, str(exc))
            except Exception as exc:
                if not a.catalog.out_of_time(exc):
                    raise
                log.warning("%s %s by %s: stopped after its %g s budget", request.method, request.url.path,
                            user.name, REQUEST_BUDGET_S)
                return error(503, f"this request needed more than {REQUEST_BUDGET_S:g} s: narrow it (a smaller "
                                  "area, fewer dates)", {"Retry-After": "5"})
            finally:
                if heavy and not streamed:
                    self._heavy_end(user.name)

    def pages(self, ids: list[int], fetch: Callable) -> Iterator[list]:
        """``fetch(archive, Criteria(ids=page))`` for each page of ``ids`` in turn (STREAM_PAGE of them), each with
        an archive borrowed from the pool for that page only: a client that stops reading holds no connection."""
        ids = array("q", ids)  # 8 bytes an id while the answer lasts
        for k in range(0, len(ids), STREAM_PAGE):
            with self.pool.borrow() as a:
                page = fetch(a, Criteria(ids=tuple(ids[k:k + STREAM_PAGE])))
            yield page

    def _heavy_start(self, name: str) -> bool:
        with self._heavy_lock:
            if self._heavy.get(name, 0) >= HEAVY_PER_USER:
                return False
            self._heavy[name] = self._heavy.get(name, 0) + 1
            return True

    def _heavy_end(self, name: str) -> None:
        with self._heavy_lock:
            self._heavy[name] -= 1
            if not self._heavy[name]:
                del self._heavy[name]
            quiet = not self._heavy
        if quiet:  # the last heavy request has ended: what it freed goes back to the system
            release_memory()

    # --- filters --------------------------------------------------------------------------------
    def zone(self, name: str):
        for same in (lambda z: z.name == name, lambda z: z.name.lower() == name.lower()):
            for z in self.zones:
                if same(z):
                    return z
        raise BadRequest(f"unknown zone '{name[:64]}'; GET /api/zones lists them")

    def criteria(self, p: dict) -> Criteria:
        """The search criteria of the query's filters (the same checks as the CLI's)."""
        if "bbox" in p and "zone" in p:
            raise BadRequest("give at most one of zone and bbox")
        geometry = parse_bbox(p["bbox"]) if "bbox" in p else self.zone(p["zone"]).geometry if "zone" in p else None
        return Criteria(geometry, parse_date(p.get("since")), parse_date(p.get("until"), end=True), p.get("mission"),
                        p.get("service"), p.get("camera"))

    @staticmethod
    def feature(rec) -> dict:
        f = rec.to_public_feature()
        f["links"] = {name: f"{IMAGE_LINKS[0]}{rec.public_id}{suffix}" for name, suffix in IMAGE_LINKS[1]}
        return f

    @staticmethod
    def image_id(request: Request) -> str:
        """The public id in the path (web clients never see nor give row ids)."""
        text = request.path_params["image_id"]
        if not _ID.fullmatch(text):
            raise NoSuchImage("not an image id")
        return text

    # --- API routes -----------------------------------------------------------------------------
    def images(self, request, a, user):
        p = query_params(request, FILTERS + ("limit", "offset", "fields"))
        limit = int_param(p, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = int_param(p, "offset", 0, 0, MAX_OFFSET)
        fields = p.get("fields", "all")
        if fields not in ("all", "map"):
            raise BadRequest(f"bad fields '{fields[:20]}': all or map")
        form, crit = "map_feature" if fields == "map" else "feature", self.criteria(p)
        nxt = "/api/images?" + urlencode({**p, "limit": str(limit), "offset": str(offset + limit)})
        if limit <= STREAM_OVER or fields == "map":  # map Features are short: 5,000 of them ~1 MB, sent at once
            body, n, more = a.feature_page(user.service, crit, limit=limit, offset=offset, actor=user.name, form=form,
                                           links=IMAGE_LINKS if fields == "all" else None)
            return Response(b"".join(feature_parts([(body, n)], nxt if more else None)),
                            media_type="application/json")
        ids = a.search_ids(user.service, crit, limit=limit + 1, offset=offset)  # one more: is there a next page?
        pages = self.pages(ids[:limit], lambda b, c: b.search_features(user.service, c, actor=user.name, form=form))
        return Streamed(feature_parts(pages, nxt if len(ids) > limit else None, links=fields == "all"))

    def image(self, request, a, user):
        query_params(request, ())
        return _json(self.feature(a.show(user.service, self.image_id(request), actor=user.name)))

    def thumbnail(self, request, a, user):
        query_params(request, ())
        rec = a.show(user.service, self.image_id(request), action="thumbnail", actor=user.name)
        path = a.thumb_path(rec)
        if not path.is_file():  # catalogued before its thumbnail (catalogue-first ingest): make it now
            from dronectl.archive.ingest import thumbnail_for

            try:
                thumbnail_for(a.store, rec.sha256, rec.format, a.catalog)
            except Exception as exc:  # a blob that cannot be thumbnailed (or is missing)
                log.error("thumbnail of image %s: %s", rec.id, exc)
                return error(404, "this image has no thumbnail ('dronectl archive verify' checks its file)")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})

    def file(self, request, a, user):
        p = query_params(request, ("download",))
        download = p.get("download", "0")
        if download not in ("0", "1"):
            raise BadRequest(f"bad download '{download[:20]}': 0 or 1")
        rec = a.show(user.service, self.image_id(request), action="download" if download == "1" else "file",
                     actor=user.name)
        path = a.blob_path(rec)
        if not path.is_file():
            return error(404, "this image's file is missing from the archive ('dronectl archive verify')")
        stem = Path(Path(rec.source_name or "").name).stem or f"image-{rec.public_id}"
        name = re.sub(r"[\x00-\x1f\x7f\"\\;]", "_", stem) + (".jpg" if rec.format == "jpeg" else ".tif")
        media = "image/jpeg" if rec.format == "jpeg" else "image/tiff"
        return FileResponse(path, media_type=media, filename=name,
                            content_disposition_type="attachment" if download == "1" else "inline",
                            headers={"Cache-Control": "private, no-store"})

    def zones_route(self, request, a, user):
        query_params(request, ())
        from shapely.geometry import mapping

        return _json({"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": z.name, "geometry": mapping(z.geometry),
             "properties": {"name": z.name, "service": z.service, "notes": z.notes}} for z in self.zones]})

    def missions(self, request, a, user):
        p = query_params(request, ("service",))
        from shapely.geometry import LineString, mapping

        from dronectl.archive.mosaic import published_cog

        feats = []
        for m in a.missions(user.service, p.get("service"), actor=user.name):
            track = m.pop("track")
            geom = mapping(LineString(track).simplify(1e-5)) if track else None  # ~1 m
            props = {**m, "first": iso(m["first"]), "last": iso(m["last"]), "mosaic": None}
            cog = published_cog(a.root, m["service"], m["mission"])
            if cog:
                base = tile_path(m["service"], m["mission"])
                props["mosaic"] = {"tiles": base + "/{z}/{x}/{y}.png", "tilejson": base + "/tilejson.json",
                                   "maxzoom": zoom_range(cog[0], cog[0].stat().st_mtime_ns)[1],
                                   "href": "/api/mosaic?" + urlencode({"service": m["service"], "mission": m["mission"]}),
                                   "bounds": cog[1]["bounds"], "built_at": cog[1].get("built_at")}
            feats.append({"type": "Feature", "id": f"{m['service']}/{m['mission']}", "geometry": geom,
                          "properties": props})
        return _json({"type": "FeatureCollection", "features": feats})

    def mosaic(self, request, a, user):
        """A mission's mosaic (PNG in Web Mercator), for the map's image overlay: 404 unless the user may see the
        service's images, and every view audited like a view of the photos it is made of."""
        p = query_params(request, ("service", "mission"))
        service, mission = p.get("service", ""), p.get("mission", "")
        from dronectl.archive.mosaic import published_mosaic

        if service not in a.visible_services(user.service) or not mission:
            raise NoSuchImage("no such mosaic")
        found = published_mosaic(a.root, service, mission)
        if found is None:
            raise NoSuchImage("no such mosaic")
        a.search(user.service, Criteria(mission=mission, service=service), action="mosaic-view", actor=user.name)
        return FileResponse(found[0], media_type="image/png", headers={"Cache-Control": "private, no-store"})

    # --- mosaics as tiles (web/tiles.py) -----------------------------------------------------------
    def _cog(self, request, a, user):
        """The published COG of the path's service/mission, if the user may see that service; the view is
        audited like the mosaic's photos, at most once per user and mosaic every AUDIT_TILES_S seconds (a map
        asks for dozens of tiles a second)."""
        import time

        from dronectl.archive.mosaic import published_cog

        service, mission = request.path_params["service"], request.path_params["mission"]
        if service not in a.visible_services(user.service) or not mission or len(mission) > 512:
            raise NoSuchImage("no such mosaic")
        found = published_cog(a.root, service, mission)
        if found is None:
            raise NoSuchImage("no such mosaic")
        key, now = (user.name, service, mission), time.monotonic()
        if now - self._tile_audits.get(key, -AUDIT_TILES_S) >= AUDIT_TILES_S:
            a.search(user.service, Criteria(mission=mission, service=service), action="mosaic-view",
                     actor=user.name)
            if len(self._tile_audits) > 10_000:
                self._tile_audits.clear()
            self._tile_audits[key] = now
        return service, mission, found

    def tile(self, request, a, user):
        query_params(request, ())
        z, x, y = (request.path_params[k] for k in ("z", "x", "y"))
        if not valid_tile(z, x, y):
            raise NoSuchImage("no such tile")
        _, _, (cog, _) = self._cog(request, a, user)
        return Response(render_tile(cog, z, x, y), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=300"})

    def tilejson_route(self, request, a, user):
        query_params(request, ())
        service, mission, (cog, meta) = self._cog(request, a, user)
        return _json(tilejson(base_url(request), service, mission, meta, zoom_range(cog, cog.stat().st_mtime_ns)))

    def wmts(self, request, a, user):
        """One WMTS capabilities document with every published mosaic the user may see (QGIS: Layer ▸ Add WMS/WMTS)."""
        query_params(request, ("service", "request", "version"))  # QGIS appends SERVICE=WMTS&REQUEST=GetCapabilities
        from dronectl.archive.mosaic import published_cog

        layers = []
        for m in a.missions(user.service, tracks=False, actor=user.name):
            found = published_cog(a.root, m["service"], m["mission"])
            if found:
                cog, meta = found
                layers.append((m["service"], m["mission"], meta, zoom_range(cog, cog.stat().st_mtime_ns)))
        return Response(wmts_capabilities(base_url(request), layers), media_type="application/xml")

    # --- annotations and measurements (archive/annotations.py) -------------------------------------
    def annotations(self, request, a, user):
        """GET: the annotations of the services the user may see (``bbox``, ``service``), as GeoJSON;
        POST: a new one of the user's service (a GeoJSON Feature), 201 with it."""
        if request.method == "POST":
            query_params(request, ())
            ann = a.add_annotation(request.state.body, user.service, user.name)
            return _json(ann.to_feature(), 201)
        p = query_params(request, ("bbox", "service"))
        bbox = parse_bbox(p["bbox"]).bounds if "bbox" in p else None
        anns = a.annotations(user.service, actor=user.name, bbox=bbox, service=p.get("service"))
        return _json({"type": "FeatureCollection", "features": [x.to_feature() for x in anns]})

    def annotation(self, request, a, user):
        query_params(request, ())
        ann_id = request.path_params["annotation_id"]
        if not _ANNOTATION_ID.fullmatch(ann_id):
            raise NoSuchImage("no such annotation")
        a.delete_annotation(user.service, ann_id, user.name, admin=user.admin)
        return Response(status_code=204)

    def measure(self, request, a, user):
        """POST a GeoJSON Point, LineString or Polygon (lon/lat): its coordinates, length and area in metres in
        the local projected CRS (Lambert-93 in France). Pure computation, for the map's measuring tool."""
        from dronectl.archive.annotations import measure

        query_params(request, ())
        return _json(measure(request.state.body).to_dict())

    def export(self, request, a, user):
        p = query_params(request, FILTERS + ("format",))
        fmt = p.get("format", "geojson")
        if fmt not in ("geojson", "stac"):
            raise BadRequest(f"bad format '{fmt[:20]}': geojson or stac")
        crit = self.criteria(p)
        ids = a.search_ids(user.service, crit, limit=EXPORT_MAX + 1)  # streamed: rows read (and audited) by pages
        if len(ids) > EXPORT_MAX:
            raise BadRequest(f"more than {EXPORT_MAX} images match: narrow the filters to export them")
        if fmt == "geojson":  # with the annotations of the same services over the same place
            geom = crit.geometry
            anns = [x for x in a.annotations(user.service, actor=user.name, service=crit.service,
                                             bbox=geom.bounds if geom is not None else None)
                    if geom is None or x.geometry.intersects(geom)]
            pages = self.pages(ids, lambda b, c: b.search_features(user.service, c, action="export", actor=user.name))
            return Streamed(feature_parts(pages, export=True, annotations=[x.to_feature() for x in anns]),
                            {"Content-Disposition": 'attachment; filename="dronectl-images.geojson"'})
        from dronectl.archive.stac import item_dict

        root = base_url(request)

        def items(b, c):
            return [item_dict(r, f"{root}/api/images/{r.public_id}/file", f"{root}/api/images/{r.public_id}/thumbnail")
                    for r in b.search(user.service, c, action="export", actor=user.name)]

        return Streamed(json_list_parts(b'{"type":"FeatureCollection","features":', self.pages(ids, items), b"}"),
                        {"Content-Disposition": 'attachment; filename="dronectl-images-stac.json"'})

    def me(self, request, a, user):
        query_params(request, ())
        return _json({"name": user.name, "service": user.service, "admin": user.admin,
                      "services": list(a.visible_services(user.service)), "tiles": self.settings.tiles})

    # --- pages ------------------------------------------------------------------------------------
    def index(self, request: Request) -> Response:
        with self.pool.borrow() as a:
            if self.user(request, a) is None:
                return RedirectResponse("/login", 303)
        return Response(self.index_html, media_type="text/html; charset=utf-8")

    def login_page(self, message: str = "", status: int = 200) -> Response:
        note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
        return Response(self.login_html.replace("<!--message-->", note), status,
                        media_type="text/html; charset=utf-8")

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self.login_page()
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return self.login_page("That request is too large.", 400)
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        token = (form.get("token") or [""])[0].strip()
        def check():
            with self.pool.borrow() as a:
                user = a.authenticate(token)
                return a.start_session(user, self.settings.session_hours) if user is not None else None

        sid = await run_in_threadpool(check) if token else None
        if sid is None:
            return self.login_page("This token is not valid (mistyped, or revoked). Ask the administrator for "
                                   "one: dronectl users add NAME --service SERVICE.", 401)
        resp = RedirectResponse("/", 303)
        resp.set_cookie(COOKIE, sid, max_age=int(self.settings.session_hours * 3600), httponly=True,
                        samesite="strict", path="/", secure=request.url.scheme == "https")
        return resp

    async def logout(self, request: Request) -> Response:
        sid = request.cookies.get(COOKIE, "")
        if sid:
            def end():
                with self.pool.borrow() as a:
                    a.end_session(sid)

            await run_in_threadpool(end)
        resp = RedirectResponse("/login", 303)
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return resp


# an image's links: (base, ((name, suffix after its public id), ...)), in every Feature the API sends
IMAGE_LINKS = ("/api/images/", (("self", ""), ("thumbnail", "/thumbnail"), ("file", "/file"),
                                ("download", "/file?download=1")))


def feature_parts(pages: Iterable[list], nxt: str | None = None, export: bool = False, links: bool = True,
                  annotations: list | None = None) -> Iterator[bytes]:
    """A FeatureCollection of :meth:`Archive.search_features` hits, part by part (one per page of hits): the
    catalogue's stored Feature text, each (if ``links``) with its links (those of :meth:`Web.feature`) spliced in
    before the closing brace, joined as bytes; a page may also come joined already, as (bytes, how many)
    (:meth:`Archive.feature_page`). An ``export`` is the collection alone; else it ends with
    ``numberReturned`` (the Features sent) and ``next``."""
    yield b'{"type":"FeatureCollection","features":['
    n = 0
    for hits in pages:
        if isinstance(hits, tuple):  # (Features already joined, how many): Archive.feature_page
            feats, count = hits
        else:
            feats = joined_features(((h.feature, h.public_id) for h in hits), IMAGE_LINKS if links else None)
            count = len(hits)
        if not count:
            continue
        yield (b"," if n else b"") + feats
        n += count
    tail = b"]"
    if annotations is not None:  # a foreign member: the images stay the collection's features
        tail += b',"annotations":' + json.dumps(annotations, separators=(",", ":"), ensure_ascii=False).encode()
    if not export:
        tail += b',"numberReturned":%d,"next":%s' % (n, json.dumps(nxt, ensure_ascii=False).encode("utf-8"))
    yield tail + b"}"


def json_list_parts(head: bytes, pages: Iterable[list], tail: bytes) -> Iterator[bytes]:
    """``head``, the JSON array of the pages' objects (compact, as :func:`json_response` writes them), ``tail``."""
    yield head + b"["
    first = True
    for objs in pages:
        if objs:
            text = ",".join(json.dumps(o, separators=(",", ":"), allow_nan=False, ensure_ascii=False) for o in objs)
            yield (b"" if first else b",") + text.encode("utf-8")
            first = False
    yield b"]" + tail


@dataclass
class Streamed:
    """A handler's large answer, made while it is sent: ``parts`` yields its bytes, reading the catalogue a page
    at a time (:meth:`Web.pages`)."""

    parts: Iterator[bytes]
    headers: dict | None = None
    media_type: str = "application/json"


class StreamedResponse(StreamingResponse):
    """A :class:`Streamed` answer. Each part is made in the thread pool (at most STREAM_MAKERS parts at once over
    all answers), and the next one only once the previous one is handed to the connection, which then holds at
    most its write buffer: a client that stops reading costs a part and that buffer, and no catalogue
    connection. When the answer ends, fails, or the client leaves, the parts' generator is closed (it reads
    nothing more) and ``on_end`` runs (the user's heavy slot is free again)."""

    _makers = None  # anyio.CapacityLimiter(STREAM_MAKERS), made in the event loop on first use

    def __init__(self, streamed: Streamed, on_end: Callable[[], None] | None = None):
        super().__init__(self._made(), headers=streamed.headers, media_type=streamed.media_type)
        self._parts, self._on_end = streamed.parts, on_end

    async def _made(self):
        import anyio

        if StreamedResponse._makers is None:
            StreamedResponse._makers = anyio.CapacityLimiter(STREAM_MAKERS)
        while True:
            part = await anyio.to_thread.run_sync(next, self._parts, None, limiter=StreamedResponse._makers)
            if part is None:
                return
            yield part

    async def __call__(self, scope, receive, send):
        import anyio

        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:  # a page failed after the answer began: the connection is closed, the answer cut
            log.error("%s %s: answer cut short: %s", scope.get("method"), scope.get("path"),
                      " ".join(str(exc).split())[:300] or type(exc).__name__)
        finally:
            with anyio.CancelScope(shield=True):  # a client that left: the part being made is finished first
                await self.body_iterator.aclose()
                await anyio.to_thread.run_sync(self._parts.close)
                if self._on_end is not None:
                    await anyio.to_thread.run_sync(self._on_end)


_trim = {"pending": False, "libc": None}
_trim_lock = threading.Lock()
TRIM_AFTER_S = 0.5


def release_memory() -> None:
    """Give the memory that Python and the catalogue freed back to the system: glibc keeps what a thread freed
    in that thread's arena, so after a burst of large answers the server would stay at its peak for good.
    Called when the last heavy request ends; the trim itself runs TRIM_AFTER_S later in a thread of its own,
    once for all the requests that ended meanwhile (a busy map server ends one every few milliseconds, and
    each trim makes the next answers fault their pages in again). Nothing on other C libraries."""
    with _trim_lock:
        if _trim["pending"]:
            return
        _trim["pending"] = True
    timer = threading.Timer(TRIM_AFTER_S, _malloc_trim)
    timer.daemon = True
    timer.start()


def _malloc_trim() -> None:
    import ctypes

    with _trim_lock:
        _trim["pending"] = False
    try:
        if _trim["libc"] is None:
            _trim["libc"] = ctypes.CDLL(None)
        _trim["libc"].malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _basic(credentials: str) -> tuple[str | None, str]:
    """(user name, token) of HTTP Basic credentials; ("", "") when they are not well-formed."""
    import base64
    import binascii

    try:
        name, sep, token = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return "", ""
    return (name, token) if sep and name and token else ("", "")


def cross_site(headers: dict) -> bool:
    """Whether a browser sent this request from a page of another origin (another port or subdomain of this
    host counts): Fetch Metadata when the browser sends it, else Origin, else Referer against Host."""
    site = headers.get(b"sec-fetch-site")
    if site is not None:
        return site not in (b"same-origin", b"none")
    host = headers.get(b"host", b"").decode("latin-1").lower()
    for name in (b"origin", b"referer"):
        value = headers.get(name)
        if value is not None:
            text = value.decode("latin-1")
            return text == "null" or urlsplit(text).netloc.lower() != host
    return False  # not a browser, or one that says nothing: nothing to tell


class SecurityHeaders:
    """Pure ASGI middleware: security headers on every response; POSTs only from this origin; requests that
    a session cookie authenticates refused from any other origin before anything is read (a bearer token is
    never sent by a browser on its own, so its requests pass); no caching of anything but static files."""

    def __init__(self, app, csp: str, allowed_hosts=frozenset()):
        self.app, self.csp, self.allowed_hosts = app, csp, allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        path = scope["path"]
        static = path.startswith("/static/")
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if self.allowed_hosts and host not in self.allowed_hosts:  # links and redirects are built from it
            return await self._send(error(400, f"unknown host '{host[:80]}': this server answers as "
                                               f"{', '.join(sorted(self.allowed_hosts))} (see --base-url)"),
                                    scope, receive, send, static)
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            origin = headers.get(b"origin")
            host = headers.get(b"host", b"")
            if origin is not None and urlsplit(origin.decode("latin-1")).netloc.encode("latin-1") != host:
                return await self._send(error(403, "cross-origin form refused"), scope, receive, send, static)
        cookie = headers.get(b"cookie", b"")
        by_cookie = COOKIE.encode() in cookie and b"authorization" not in headers
        navigation = scope["method"] == "GET" and path in ("/", "/login")  # a link from elsewhere opens the page
        if by_cookie and not static and not navigation and cross_site(headers):
            return await self._send(error(403, "refused: a request from a page of another site or origin"),
                                    scope, receive, send, static)
        await self.app(scope, receive, self._with_headers(send, static))

    async def _send(self, response, scope, receive, send, static):
        await response(scope, receive, self._with_headers(send, static))

    def _with_headers(self, send, static: bool):
        async def with_headers(message):
            if message["type"] == "http.response.start":
                h = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control" or static]
                h += [(b"content-security-policy", self.csp.encode()), (b"x-content-type-options", b"nosniff"),
                      (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY"),
                      (b"cross-origin-opener-policy", b"same-origin"),
                      (b"cross-origin-resource-policy", b"same-origin")]
                if not static:
                    h.append((b"cache-control", b"no-store"))
                message = {**message, "headers": h}
            await send(message)

        return with_headers


def create_app(archive_path: Path | str, catalog_url: str | None = None, zones_file: Path | str | None = None,
               tiles: str | None = None, session_hours: float = 12.0, base_url: str | None = None,
               allowed_hosts=()) -> Starlette:
    """The ASGI app over the archive in ``archive_path`` (which must exist)."""
    import xstatic.pkg.leaflet as leaflet

    from dronectl.web.stac import routes as stac_routes

    if not 0 < session_hours <= 24 * 30:
        raise InputError(f"--session-hours must be more than 0 and at most 720, got {session_hours}")
    base_url = check_base_url(base_url)
    hosts = {h.lower() for h in allowed_hosts}
    if base_url:
        hosts.add(urlsplit(base_url).netloc.lower())
    web = Web(Settings(Path(archive_path), catalog_url, Path(zones_file) if zones_file else None,
                       check_tiles(tiles), session_hours, base_url, frozenset(hosts)))
    routes = [
        Route("/", web.index),
        Route("/login", web.login, methods=["GET", "POST"]),
        Route("/logout", web.logout, methods=["POST"]),
        Route("/api/me", web.api(web.me)),
        Route("/api/images", web.api(web.images, heavy=True)),
        Route("/api/images/{image_id}", web.api(web.image)),
        Route("/api/images/{image_id}/thumbnail", web.api(web.thumbnail)),
        Route("/api/images/{image_id}/file", web.api(web.file)),
        Route("/api/zones", web.api(web.zones_route)),
        Route("/api/missions", web.api(web.missions)),
        Route("/api/export", web.api(web.export, heavy=True)),
        Route("/api/mosaic", web.api(web.mosaic)),
        Route("/api/tiles/{service}/{mission}/{z:int}/{x:int}/{y:int}.png", web.api(web.tile)),
        Route("/api/tiles/{service}/{mission}/tilejson.json", web.api(web.tilejson_route)),
        Route("/api/wmts/1.0.0/WMTSCapabilities.xml", web.api(web.wmts)),
        Route("/api/annotations", web.api(web.annotations, body=True), methods=["GET", "POST"]),
        Route("/api/annotations/{annotation_id}", web.api(web.annotation), methods=["DELETE"]),
        Route("/api/measure", web.api(web.measure, body=True), methods=["POST"]),
        *stac_routes(web),
        *__import__("dronectl.web.logbook", fromlist=["routes"]).routes(web),  # the register's logbook, for admins
        Mount("/static/leaflet", StaticFiles(directory=leaflet.BASE_DIR), name="leaflet"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def http_error(request, exc: HTTPException):
        if exc.status_code == 404:
            return not_found()
        return error(exc.status_code, exc.detail or "request refused")

    async def crash(request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return error(500, "internal error; the server log says more")

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: crash},
                    lifespan=_lifespan(web))
    app.state.web = web
    app.state.base_url = base_url
    return SecurityHeaders(app, web.csp, web.settings.allowed_hosts)


def _lifespan(web: Web):
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        # one catalogue connection opened now, in the serving process (after any fork): the first request
        # does not need new file descriptors, even when idle connections have taken all the others
        with web.pool.borrow():
            pass
        yield
        web.pool.close()

    return lifespan
