"""A STAC API (v1.0.0: core, collections, item-search, ogcapi-features) beside the web app, under ``/stac``.

One collection per service the user may see; items are catalogue rows as :func:`dronectl.archive.stac.item_dict`
makes them, their assets the web app's own image and thumbnail URLs. Access is the web app's: the same tokens
(Bearer or session cookie), :meth:`Archive.search` / :meth:`Archive.show` with the user's service as asker and name as
actor, so visibility and the audit log are the archive's. A collection the user may not see answers 404 exactly as
one that does not exist; in a search, ``collections`` naming one (or an unknown one) matches no item, as do ``ids``
of hidden or missing items. Bad parameters answer 400 with one line of JSON, like the rest of the API.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dronectl.archive import NoSuchImage
from dronectl.archive.criteria import Criteria
from dronectl.archive.stac import STAC_VERSION
from dronectl.web.http import MAX_OFFSET, BadRequest, base_url, int_param, iso as _iso, json_response as _json, query_params

CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
DEFAULT_LIMIT, MAX_LIMIT, MAX_IDS = 10, 1000, 100
MAX_VERTICES = 2000  # of an intersects geometry (all its parts)
SEARCH_KEYS = ("bbox", "intersects", "datetime", "collections", "ids", "limit", "offset")
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection")
_NUMBER = re.compile(r"[0-9]{1,18}")
_PUBLIC_ID = re.compile(r"[0-9a-f]{20}")  # of an image (catalog.new_public_id): item ids are SERVICE-PUBLICID
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"


# --- parameters (pure) ----------------------------------------------------------------------------
def parse_instant(text: str) -> datetime:
    m = _RFC3339.fullmatch(text.strip())
    if not m:
        raise BadRequest(f"bad datetime '{text[:40]}': RFC 3339 with a zone, e.g. 2026-11-21T09:00:00Z")
    date, clock, frac, zone = m.groups()
    frac = (frac or "")[:7]  # microseconds at most
    try:
        dt = datetime.fromisoformat(f"{date}T{clock}{frac}{'+00:00' if zone in 'Zz' else zone}")
        return dt.astimezone(timezone.utc)
    except ValueError:
        raise BadRequest(f"bad datetime '{text[:40]}': not a real date or time") from None
    except OverflowError:
        raise BadRequest(f"bad datetime '{text[:40]}': out of range (years 0001 to 9999 in UTC)") from None


def parse_datetime(text: str) -> tuple[datetime | None, datetime | None]:
    """An instant, or an interval ``start/end`` with either end open (``..`` or empty) -> (since, until)."""
    if "/" not in text:
        t = parse_instant(text)
        return t, t
    parts = text.split("/")
    if len(parts) != 2:
        raise BadRequest(f"bad datetime '{text[:60]}': one instant, or start/end (an open end is ..)")
    since, until = (None if p.strip() in ("", "..") else parse_instant(p) for p in parts)
    if since is None and until is None:
        raise BadRequest("bad datetime: an interval needs at least one end (../.. is open on both)")
    if since is not None and until is not None and since > until:
        raise BadRequest(f"bad datetime '{text[:60]}': the start is after the end")
    return since, until


def parse_bbox(values) -> object:
    """[W, S, E, N] or [W, S, zmin, E, N, zmax] in degrees -> shapely geometry (two boxes when W > E: the box
    crosses the antimeridian)."""
    from shapely.geometry import MultiPolygon, box

    hint = "W,S,E,N in degrees (lon/lat), e.g. 3.30,49.37,3.34,49.39"
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, list) or len(values) not in (4, 6):
        raise BadRequest(f"bad bbox: {hint}")
    try:
        nums = [float(v) if not isinstance(v, bool) else math.nan for v in values]
    except (TypeError, ValueError):
        raise BadRequest(f"bad bbox: {hint}") from None
    if not all(math.isfinite(v) for v in nums):
        raise BadRequest(f"bad bbox: {hint}")
    w, s, e, n = nums if len(nums) == 4 else (nums[0], nums[1], nums[3], nums[4])
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise BadRequest("bad bbox: longitudes must be within ±180 and latitudes within ±90")
    if s > n:
        raise BadRequest("bad bbox: south must not be north of north")
    if w <= e:
        return box(w, s, e, n)
    return MultiPolygon([box(w, s, 180, n), box(-180, s, e, n)])


def parse_intersects(obj) -> object:
    import shapely
    from shapely.geometry import shape

    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except ValueError:
            raise BadRequest("bad intersects: not JSON; give a GeoJSON geometry") from None
    if not isinstance(obj, dict) or obj.get("type") not in GEOMETRY_TYPES:
        raise BadRequest(f"bad intersects: a GeoJSON geometry ({', '.join(GEOMETRY_TYPES)})")
    try:
        geom = shape(obj)
    except Exception:
        raise BadRequest("bad intersects: its coordinates do not make that geometry") from None
    if geom.is_empty:
        raise BadRequest("bad intersects: the geometry is empty")
    n_coords = shapely.get_num_coordinates(geom)
    if n_coords > MAX_VERTICES:
        raise BadRequest(f"bad intersects: {n_coords} vertices, at most {MAX_VERTICES}: simplify the geometry")
    w, s, e, n = geom.bounds
    if not all(math.isfinite(v) for v in (w, s, e, n)) or not (-180 <= w and e <= 180 and -90 <= s and n <= 90):
        raise BadRequest("bad intersects: longitudes must be within ±180 and latitudes within ±90")
    if not geom.is_valid:  # never repaired: make_valid may take minutes and gigabytes on a crafted polygon
        why = shapely.is_valid_reason(geom).split("[")[0]
        raise BadRequest(f"bad intersects: not a valid geometry ({why}); give a simple polygon whose rings do "
                         "not cross")
    return geom


def parse_list(value, key: str) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"bad {key}: a list of strings (comma-separated in a GET)")
    out = [v for v in value if v]
    if len(out) > MAX_IDS:
        raise BadRequest(f"bad {key}: at most {MAX_IDS}")
    return out


def parse_limit(value) -> int:
    """1 or more; above the maximum, the maximum (as the STAC API asks, rather than an error)."""
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _NUMBER.fullmatch(value))):
        raise BadRequest(f"bad limit '{str(value)[:20]}': a whole number from 1 (at most {MAX_LIMIT} are returned)")
    n = int(value)
    if n < 1:
        raise BadRequest(f"bad limit '{n}': a whole number from 1 (at most {MAX_LIMIT} are returned)")
    return min(n, MAX_LIMIT)


def parse_search(params: dict) -> dict:
    """Search parameters (GET query strings or POST JSON values) -> checked criteria."""
    if "bbox" in params and "intersects" in params:
        raise BadRequest("give at most one of bbox and intersects")
    out = {"geometry": None, "since": None, "until": None, "collections": None, "ids": None,
           "limit": parse_limit(params["limit"]) if "limit" in params else DEFAULT_LIMIT, "offset": 0}
    if "bbox" in params:
        out["geometry"] = parse_bbox(params["bbox"])
    if "intersects" in params:
        out["geometry"] = parse_intersects(params["intersects"])
    if "datetime" in params:
        if not isinstance(params["datetime"], str):
            raise BadRequest("bad datetime: a string, an instant or start/end")
        out["since"], out["until"] = parse_datetime(params["datetime"])
    for key in ("collections", "ids"):
        if key in params:
            out[key] = parse_list(params[key], key)
    if "offset" in params:
        off = params["offset"]
        text = str(off) if isinstance(off, (int, str)) and not isinstance(off, bool) else "?"
        out["offset"] = int_param({"offset": text}, "offset", 0, 0, MAX_OFFSET)
    return out


# --- the routes -----------------------------------------------------------------------------------
class Stac:
    def __init__(self, web):
        self.web = web

    @staticmethod
    def root(request: Request) -> str:
        return base_url(request) + "/stac"

    @staticmethod
    def link(rel: str, href: str, media: str = "application/json", **extra) -> dict:
        return {"rel": rel, "href": href, "type": media, **extra}

    def landing(self, request, a, user):
        query_params(request, ())
        r = self.root(request)
        links = [self.link("self", r), self.link("root", r), self.link("conformance", f"{r}/conformance"),
                 self.link("data", f"{r}/collections"), self.link("service-desc", f"{r}/api", OPENAPI),
                 self.link("search", f"{r}/search", GEOJSON, method="GET"),
                 self.link("search", f"{r}/search", GEOJSON, method="POST")]
        links += [self.link("child", f"{r}/collections/{s}", title=s) for s in a.visible_services(user.service)]
        return _json({"type": "Catalog", "stac_version": STAC_VERSION, "id": "dronectl",
                      "title": "dronectl image archive",
                      "description": f"Drone images of the services visible to service '{user.service}'",
                      "conformsTo": CONFORMANCE, "links": links})

    def api_description(self, request, a, user):
        """A short OpenAPI 3.0 description of this API (OGC API - Features clients such as QGIS read the paths and
        the page size limits from it)."""
        query_params(request, ())
        limit = {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}
        ref = {"$ref": "#/components/parameters/limit"}

        def get(summary, params=()):
            return {"get": {"summary": summary, "parameters": list(params),
                            "responses": {"200": {"description": "OK"}}}}

        doc = {"openapi": "3.0.3",
               "info": {"title": "dronectl image archive (STAC API)", "version": STAC_VERSION},
               "servers": [{"url": self.root(request)}],
               "paths": {"/": get("landing page"), "/conformance": get("conformance classes"),
                         "/collections": get("the collections (one per service the user may see)"),
                         "/collections/{collectionId}": get("one collection"),
                         "/collections/{collectionId}/items": get("the collection's items", [ref]),
                         "/collections/{collectionId}/items/{featureId}": get("one item"),
                         "/search": get("item search", [ref])},
               "components": {"parameters": {"limit": limit}}}
        return Response(json.dumps(doc, separators=(",", ":")), media_type=OPENAPI)

    def conformance(self, request, a, user):
        query_params(request, ())
        return _json({"conformsTo": CONFORMANCE})

    def collection_dict(self, request, a, name: str, ext) -> dict:
        r = self.root(request)
        svc = a.services.get(name)
        if ext:
            bbox, first, last, count = ext
            extent = {"spatial": {"bbox": [list(bbox)]}, "temporal": {"interval": [[_iso(first), _iso(last)]]}}
        else:
            count, extent = 0, {"spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
                                "temporal": {"interval": [[None, None]]}}
        return {"type": "Collection", "stac_version": STAC_VERSION, "id": name, "title": f"{name} images",
                "description": f"Drone images of the {name} service ({svc.describe_retention()})",
                "license": "proprietary", "extent": extent, "dronectl:images": count,
                "links": [self.link("self", f"{r}/collections/{name}"), self.link("root", r),
                          self.link("parent", r), self.link("items", f"{r}/collections/{name}/items", GEOJSON)]}

    def collections(self, request, a, user):
        query_params(request, ())
        r = self.root(request)
        ext = a.extents(user.service, actor=user.name)
        return _json({"collections": [self.collection_dict(request, a, s, ext.get(s))
                                      for s in a.visible_services(user.service)],
                      "links": [self.link("self", f"{r}/collections"), self.link("root", r)]})

    def visible(self, request, a, user) -> str:
        name = request.path_params["collection_id"]
        if name not in a.visible_services(user.service):
            raise NoSuchImage("no such collection")  # missing and hidden: the same 404
        return name

    def collection(self, request, a, user):
        query_params(request, ())
        name = self.visible(request, a, user)
        return _json(self.collection_dict(request, a, name, a.extents(user.service, user.name, name).get(name)))

    def item_dict(self, request, rec) -> dict:
        """The Item of a row, with its ``self`` link: pystac-client reads an item's links to place it, and
        without ``self`` it resolves every item through its parents (two requests an item)."""
        from dronectl.archive.stac import item_dict, item_id

        base = base_url(request)
        r = self.root(request)
        coll = f"{r}/collections/{rec.service}"
        links = [self.link("self", f"{coll}/items/{item_id(rec)}", GEOJSON), self.link("parent", coll),
                 self.link("collection", coll), self.link("root", r)]
        d = item_dict(rec, f"{base}/api/images/{rec.public_id}/file", f"{base}/api/images/{rec.public_id}/thumbnail",
                      links)
        d["collection"] = rec.service
        return d

    def item(self, request, a, user):
        query_params(request, ())
        name = self.visible(request, a, user)
        svc, _, pid = request.path_params["item_id"].rpartition("-")
        if svc != name or not _PUBLIC_ID.fullmatch(pid):
            raise NoSuchImage("no such item")
        rec = a.show(user.service, pid, actor=user.name, service=name)
        return _json(self.item_dict(request, rec), headers={"Content-Type": GEOJSON})

    def run(self, request, a, user, crit: dict, next_link) -> Response:
        items = None
        if crit["ids"] is not None:  # item ids are SERVICE-PUBLICID: an id under another service is no match
            items = tuple((svc, pid) for svc, _, pid in (i.rpartition("-") for i in crit["ids"])
                          if svc and _PUBLIC_ID.fullmatch(pid))
        services = tuple(crit["collections"]) if crit["collections"] is not None else None
        limit, offset = crit["limit"], crit["offset"]
        criteria = Criteria(crit["geometry"], crit["since"], crit["until"], services=services, items=items)
        recs = a.search(user.service, criteria, limit=limit, offset=offset, actor=user.name, peek=True)
        links = [self.link("root", self.root(request))]
        if len(recs) > limit:  # a next page (the one more hit was not audited: the user does not receive it)
            recs = recs[:limit]
            links.append(next_link(offset + limit))
            matched = a.count(user.service, criteria)
        else:  # the last page: what came before it and what it holds
            matched = offset + len(recs) if recs or not offset else a.count(user.service, criteria)
        body = {"type": "FeatureCollection", "features": [self.item_dict(request, r) for r in recs],
                "links": links, "numberMatched": matched, "numberReturned": len(recs)}
        return _json(body, headers={"Content-Type": GEOJSON})

    def search(self, request, a, user):
        r = self.root(request)
        if request.method == "POST":
            body = {k: v for k, v in request.state.body.items() if v is not None}  # null: not given
            for key in body:
                if key not in SEARCH_KEYS:
                    raise BadRequest(f"unknown parameter '{str(key)[:40]}'; known: {', '.join(SEARCH_KEYS)}")
            crit = parse_search(body)

            def next_link(off):
                return self.link("next", f"{r}/search", GEOJSON, method="POST", body={**body, "offset": off},
                                 merge=False)
        else:
            p = query_params(request, SEARCH_KEYS)
            crit = parse_search(p)

            def next_link(off):
                return self.link("next", f"{r}/search?" + urlencode({**p, "offset": str(off)}), GEOJSON,
                                 method="GET")
        return self.run(request, a, user, crit, next_link)

    def items(self, request, a, user):
        name = self.visible(request, a, user)
        p = query_params(request, SEARCH_KEYS)  # pystac-client sends the item search's parameters here too
        crit = parse_search(p)
        crit["collections"] = [c for c in crit["collections"] or [name] if c == name]
        href = f"{self.root(request)}/collections/{name}/items?"
        return self.run(request, a, user, crit,
                        lambda off: self.link("next", href + urlencode({**p, "offset": str(off)}), GEOJSON))


def routes(web) -> list[Route]:
    """The ``/stac`` routes over the web app's :class:`dronectl.web.app.Web` (its pool, tokens and errors)."""
    stac = Stac(web)
    return [
        Route("/stac", web.api(stac.landing)),
        Route("/stac/conformance", web.api(stac.conformance)),
        Route("/stac/api", web.api(stac.api_description)),
        Route("/stac/collections", web.api(stac.collections)),
        Route("/stac/collections/{collection_id}", web.api(stac.collection)),
        Route("/stac/collections/{collection_id}/items", web.api(stac.items, heavy=True)),
        Route("/stac/collections/{collection_id}/items/{item_id}", web.api(stac.item)),
        Route("/stac/search", web.api(stac.search, body=True, heavy=True), methods=["GET", "POST"]),
    ]
