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
import queue
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dronectl.archive import AccessDenied, NoSuchImage, open_archive
from dronectl.archive.criteria import parse_bbox, parse_date
from dronectl.errors import DronectlError, InputError

HERE = Path(__file__).parent
COOKIE = "dronectl_session"
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, EXPORT_MAX = 500, 5000, 1_000_000, 10_000
MAX_QUERY_CHARS, MAX_VALUE_CHARS, MAX_FORM_BYTES = 4096, 512, 4096
FILTERS = ("bbox", "since", "until", "zone", "mission", "service", "camera")
_ID = re.compile(r"[0-9]{1,18}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
log = logging.getLogger("dronectl.web")


class BadRequest(Exception):
    pass


def _json(obj, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return Response(body, status, headers, media_type="application/json")


def error(status: int, message: str, headers: dict | None = None) -> Response:
    """One line of JSON: ``{"error": "..."}``."""
    return _json({"error": " ".join(str(message).split())}, status, headers)


def not_found() -> Response:
    """The one answer for an image that does not exist, one the user may not see, and any unknown path."""
    return error(404, "not found")


def check_tiles(url: str | None) -> str | None:
    """A basemap URL template: http(s), with {z}, {x} and {y}."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not all(k in url for k in ("{z}", "{x}", "{y}")):
        raise InputError(f"bad --tiles '{url}': give an http(s) URL template with {{z}}, {{x}} and {{y}}, e.g. "
                         "https://tile.example.org/{z}/{x}/{y}.png")
    return url


@dataclass
class Settings:
    archive_path: Path
    catalog_url: str | None = None
    zones_file: Path | None = None
    tiles: str | None = None


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
        try:
            yield a
        finally:
            self._free.put(a)

    def close(self) -> None:
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                return


# --- request parsing -----------------------------------------------------------------------------
def query_params(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query's parameters, each at most once, all known, none oversized; empty values are absent."""
    if len(request.url.query) > MAX_QUERY_CHARS:
        raise BadRequest(f"query too long ({len(request.url.query)} characters, at most {MAX_QUERY_CHARS})")
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key not in allowed:
            raise BadRequest(f"unknown parameter '{key[:40]}'; known: {', '.join(allowed)}")
        if key in out:
            raise BadRequest(f"parameter '{key}' given twice")
        if len(value) > MAX_VALUE_CHARS:
            raise BadRequest(f"parameter '{key}' too long (at most {MAX_VALUE_CHARS} characters)")
        if _CONTROL.search(value):
            raise BadRequest(f"parameter '{key}' holds control characters")
        if value.strip():
            out[key] = value.strip()
    return out


def int_param(params: dict, key: str, default: int, low: int, high: int) -> int:
    text = params.get(key)
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
        raise BadRequest(f"bad {key} '{text[:40]}': a whole number from {low} to {high}")
    return int(text)


class Web:
    """The routes, over an archive pool and the zone file."""

    def __init__(self, settings: Settings):
        from dronectl.geo import load_zones

        self.settings = settings
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
            token = token.strip() if scheme.lower() == "bearer" else ""
        else:
            token = request.cookies.get(COOKIE, "")
        return archive.authenticate(token) if token else None

    def api(self, handler):
        """Wrap ``handler(request, archive, user)``: authentication, and every error as one line of JSON."""
        def endpoint(request: Request) -> Response:
            with self.pool.borrow() as a:
                user = self.user(request, a)
                if user is None:
                    return error(401, "log in: send Authorization: Bearer TOKEN, or log in on /login "
                                      "(a token comes from 'dronectl users add')", {"WWW-Authenticate": "Bearer"})
                try:
                    return handler(request, a, user)
                except NoSuchImage:
                    return not_found()
                except BadRequest as exc:
                    return error(400, str(exc))
                except AccessDenied as exc:
                    return error(403, str(exc))
                except InputError as exc:
                    return error(400, str(exc))
                except DronectlError as exc:
                    log.error("%s %s: %s", request.method, request.url.path, exc)
                    return error(500, str(exc))
        return endpoint

    # --- filters --------------------------------------------------------------------------------
    def zone(self, name: str):
        for same in (lambda z: z.name == name, lambda z: z.name.lower() == name.lower()):
            for z in self.zones:
                if same(z):
                    return z
        raise BadRequest(f"unknown zone '{name[:64]}'; GET /api/zones lists them")

    def criteria(self, p: dict) -> dict:
        """Keyword arguments of Archive.search from the query's filters (the same checks as the CLI's)."""
        if "bbox" in p and "zone" in p:
            raise BadRequest("give at most one of zone and bbox")
        geometry = parse_bbox(p["bbox"]) if "bbox" in p else self.zone(p["zone"]).geometry if "zone" in p else None
        return {"geometry": geometry, "since": parse_date(p.get("since")),
                "until": parse_date(p.get("until"), end=True), "mission": p.get("mission"),
                "service": p.get("service"), "camera": p.get("camera")}

    @staticmethod
    def feature(rec) -> dict:
        f = rec.to_feature()
        base = f"/api/images/{rec.id}"
        f["links"] = {"self": base, "thumbnail": f"{base}/thumbnail", "file": f"{base}/file",
                      "download": f"{base}/file?download=1"}
        return f

    @staticmethod
    def image_id(request: Request) -> int:
        text = request.path_params["image_id"]
        if not _ID.fullmatch(text):
            raise NoSuchImage("not an image id")
        return int(text)

    # --- API routes -----------------------------------------------------------------------------
    def images(self, request, a, user):
        p = query_params(request, FILTERS + ("limit", "offset", "fields"))
        limit = int_param(p, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = int_param(p, "offset", 0, 0, MAX_OFFSET)
        fields = p.get("fields", "all")
        if fields not in ("all", "map"):
            raise BadRequest(f"bad fields '{fields[:20]}': all or map")
        hits = a.search_features(user.service, limit=limit, offset=offset, actor=user.name, peek=True,
                                 form="map_feature" if fields == "map" else "feature", **self.criteria(p))
        nxt = None
        if len(hits) > limit:
            nxt = "/api/images?" + urlencode({**p, "limit": str(limit), "offset": str(offset + limit)})
        return feature_collection(hits[:limit], nxt, links=fields == "all")

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
                thumbnail_for(a.store, rec.sha256, rec.format)
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
        name = Path(rec.source_name or "").name or f"image-{rec.id}"
        name = re.sub(r"[\x00-\x1f\x7f\"\\;]", "_", name)
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

        from dronectl.archive.mosaic import published_mosaic

        feats = []
        for m in a.missions(user.service, p.get("service")):
            track = m.pop("track")
            geom = mapping(LineString(track).simplify(1e-5)) if track else None  # ~1 m
            props = {**m, "first": _iso(m["first"]), "last": _iso(m["last"]), "mosaic": None}
            found = published_mosaic(a.root, m["service"], m["mission"])
            if found:
                props["mosaic"] = {"href": "/api/mosaic?" + urlencode({"service": m["service"], "mission": m["mission"]}),
                                   "bounds": found[1]["bounds"], "built_at": found[1].get("built_at")}
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
        a.search(user.service, mission=mission, service=service, action="mosaic-view", actor=user.name)
        return FileResponse(found[0], media_type="image/png", headers={"Cache-Control": "private, no-store"})

    def export(self, request, a, user):
        p = query_params(request, FILTERS + ("format",))
        fmt = p.get("format", "geojson")
        if fmt not in ("geojson", "stac"):
            raise BadRequest(f"bad format '{fmt[:20]}': geojson or stac")
        search = a.search_features if fmt == "geojson" else a.search
        recs = search(user.service, limit=EXPORT_MAX + 1, action="export", actor=user.name, **self.criteria(p))
        if len(recs) > EXPORT_MAX:
            raise BadRequest(f"more than {EXPORT_MAX} images match: narrow the filters to export them")
        if fmt == "geojson":
            return feature_collection(recs, headers={"Content-Disposition":
                                                     'attachment; filename="dronectl-images.geojson"'})
        from dronectl.archive.stac import record_to_item

        import pystac

        root = str(request.base_url).rstrip("/")
        items = [record_to_item(r, f"{root}/api/images/{r.id}/file", f"{root}/api/images/{r.id}/thumbnail")
                 for r in recs]
        return _json(pystac.ItemCollection(items).to_dict(),
                     headers={"Content-Disposition": 'attachment; filename="dronectl-images-stac.json"'})

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
        from starlette.concurrency import run_in_threadpool

        def check():
            with self.pool.borrow() as a:
                return a.authenticate(token)

        user = await run_in_threadpool(check) if token else None
        if user is None:
            return self.login_page("This token is not valid (mistyped, or revoked). Ask the administrator for "
                                   "one: dronectl users add NAME --service SERVICE.", 401)
        resp = RedirectResponse("/", 303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
        return resp

    async def logout(self, request: Request) -> Response:
        resp = RedirectResponse("/login", 303)
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return resp


_LINKS = (',"links":{"self":"/api/images/%d","thumbnail":"/api/images/%d/thumbnail","file":"/api/images/%d/file",'
          '"download":"/api/images/%d/file?download=1"}}').encode()


def feature_collection(hits, nxt: str | None = None, headers: dict | None = None, links: bool = True) -> Response:
    """The Features of :meth:`Archive.search_features` hits: the catalogue's stored Feature text, each (if
    ``links``) with its links (those of :meth:`Web.feature`) spliced in before the closing brace, joined as
    bytes. With ``headers`` (an export): the collection alone; else with ``numberReturned`` and ``next``."""
    if links:
        feats = b",".join(h.feature[:-1] + _LINKS % ((h.id,) * 4) for h in hits)
    else:
        feats = b",".join(h.feature for h in hits)
    body = b'{"type":"FeatureCollection","features":[' + feats + b"]"
    if headers is None:
        body += b',"numberReturned":%d,"next":%s' % (len(hits), json.dumps(nxt, ensure_ascii=False).encode("utf-8"))
    return Response(body + b"}", headers=headers, media_type="application/json")


def _iso(dt):
    from dronectl.archive.catalog import iso

    return iso(dt)


class SecurityHeaders:
    """Pure ASGI middleware: security headers on every response; POSTs only from this origin; no caching
    of anything but static files."""

    def __init__(self, app, csp: str):
        self.app, self.csp = app, csp

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["method"] == "POST":
            headers = dict(scope["headers"])
            origin = headers.get(b"origin")
            host = headers.get(b"host", b"")
            if origin is not None and urlsplit(origin.decode("latin-1")).netloc.encode("latin-1") != host:
                return await error(403, "cross-origin form refused")(scope, receive, send)
        static = scope["path"].startswith("/static/")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                h = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control" or static]
                h += [(b"content-security-policy", self.csp.encode()), (b"x-content-type-options", b"nosniff"),
                      (b"referrer-policy", b"same-origin"), (b"x-frame-options", b"DENY"),
                      (b"cross-origin-opener-policy", b"same-origin")]
                if not static:
                    h.append((b"cache-control", b"no-store"))
                message = {**message, "headers": h}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(archive_path: Path | str, catalog_url: str | None = None, zones_file: Path | str | None = None,
               tiles: str | None = None) -> Starlette:
    """The ASGI app over the archive in ``archive_path`` (which must exist)."""
    import xstatic.pkg.leaflet as leaflet

    from dronectl.web.stac import routes as stac_routes

    web = Web(Settings(Path(archive_path), catalog_url, Path(zones_file) if zones_file else None,
                       check_tiles(tiles)))
    routes = [
        Route("/", web.index),
        Route("/login", web.login, methods=["GET", "POST"]),
        Route("/logout", web.logout, methods=["POST"]),
        Route("/api/me", web.api(web.me)),
        Route("/api/images", web.api(web.images)),
        Route("/api/images/{image_id}", web.api(web.image)),
        Route("/api/images/{image_id}/thumbnail", web.api(web.thumbnail)),
        Route("/api/images/{image_id}/file", web.api(web.file)),
        Route("/api/zones", web.api(web.zones_route)),
        Route("/api/missions", web.api(web.missions)),
        Route("/api/export", web.api(web.export)),
        Route("/api/mosaic", web.api(web.mosaic)),
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
    return SecurityHeaders(app, web.csp)


def _lifespan(web: Web):
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        yield
        web.pool.close()

    return lifespan
