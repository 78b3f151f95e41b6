"""Annotations: a point, line or polygon on the map with a note and a category, kept per service in the catalogue.

Technical staff mark a defect for a contractor, the progress of works, anything else, on the images' map; an
annotation belongs to its author's service and is shown to whoever may see that service's images (police ones to the
police only, and every view of them audited like a view of police images). Ids are random (not a count), so an id
tells nothing about another service's annotations. Both catalogue backends hold them in one table of their own,
created on first use; the geometry is GeoJSON text (lon/lat) with its bounding box beside it for map-view queries.

:func:`check_annotation` is pure: what a client sent in, a valid :class:`Annotation` (or InputError with one
sentence) out, with the work bounded before any geometry is built.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from datetime import datetime

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from dronectl.archive.catalog import from_iso, iso, utcnow
from dronectl.errors import InputError

CATEGORIES = ("defect", "works", "other")
GEOMETRY_TYPES = ("Point", "LineString", "Polygon")
MAX_VERTICES = 1000
MAX_NOTE_CHARS = 2000

_SCHEMA = """CREATE TABLE IF NOT EXISTS annotations (
    id TEXT PRIMARY KEY, service TEXT NOT NULL, author TEXT NOT NULL, category TEXT NOT NULL, note TEXT NOT NULL,
    geometry TEXT NOT NULL, minx DOUBLE PRECISION NOT NULL, miny DOUBLE PRECISION NOT NULL,
    maxx DOUBLE PRECISION NOT NULL, maxy DOUBLE PRECISION NOT NULL, created_at TEXT NOT NULL)"""
_COLUMNS = "id, service, author, category, note, geometry, created_at"


@dataclass(frozen=True)
class Annotation:
    service: str
    author: str
    category: str
    note: str
    geometry: BaseGeometry  # lon/lat
    created_at: datetime
    id: str = ""

    def to_feature(self) -> dict:
        from shapely.geometry import mapping

        return {"type": "Feature", "id": self.id, "geometry": mapping(self.geometry),
                "properties": {"kind": "annotation", "service": self.service, "author": self.author,
                               "category": self.category, "note": self.note, "created_at": iso(self.created_at)}}


def _coords(geom: dict, kind: str) -> list:
    """The coordinates of a GeoJSON geometry of ``kind``, counted and checked before shapely sees them."""
    coords = geom.get("coordinates")
    rings = [[coords]] if kind == "Point" else [coords] if kind == "LineString" else coords
    if not isinstance(rings, list) or not rings:
        raise InputError(f"a {kind} needs its coordinates")
    n = 0
    for ring in rings:
        if not isinstance(ring, list) or not ring:
            raise InputError(f"a {kind} needs its coordinates")
        n += len(ring)
        if n > MAX_VERTICES:
            raise InputError(f"an annotation has at most {MAX_VERTICES} vertices")
        for pt in ring:
            if (not isinstance(pt, list) or len(pt) not in (2, 3)
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                               for v in pt)):
                raise InputError("each position is [longitude, latitude] in degrees")
            if not (-180 <= pt[0] <= 180 and -90 <= pt[1] <= 90):
                raise InputError(f"position {pt[:2]} is not a longitude, latitude in degrees")
    return coords


def check_annotation(feature, service: str, author: str) -> Annotation:
    """A client's GeoJSON Feature (``geometry``; ``properties.note``, ``properties.category``) as an Annotation of
    ``service`` by ``author``; InputError naming what is wrong (bounded work: at most MAX_VERTICES positions are
    read, and an invalid polygon is refused, not repaired)."""
    if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
        raise InputError("send a GeoJSON Feature: {\"type\": \"Feature\", \"geometry\": {...}, \"properties\": "
                         "{\"note\": \"...\", \"category\": \"defect|works|other\"}}")
    geom = feature["geometry"]
    kind = geom.get("type")
    if kind not in GEOMETRY_TYPES:
        raise InputError(f"an annotation is a {', a '.join(GEOMETRY_TYPES)}, not {str(kind)[:20]!r}")
    coords = _coords(geom, kind)
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise InputError("properties must be an object with note and category")
    category = props.get("category", "other")
    if category not in CATEGORIES:
        raise InputError(f"category must be one of {', '.join(CATEGORIES)}")
    note = props.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise InputError(f"note must be text of at most {MAX_NOTE_CHARS} characters")
    if any(ord(c) < 32 and c not in "\n\t" or ord(c) == 127 for c in note):
        raise InputError("note holds control characters")
    try:
        g = shape({"type": kind, "coordinates": coords})
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"not a valid {kind}: {exc}") from None
    if kind == "Polygon" and not g.is_empty and not g.is_valid:
        raise InputError("the polygon crosses itself: draw it again without crossing edges")
    if g.is_empty or (kind == "LineString" and g.length == 0) or (kind == "Polygon" and g.area == 0):
        raise InputError(f"the {kind} is empty or has no extent")
    return Annotation(service, author, category, note.strip(), g, utcnow(), "a" + secrets.token_hex(8))


class AnnotationStore:
    """The annotations table of a catalogue (SQLite or PostGIS: the catalogue's own connection and dialect)."""

    def __init__(self, catalog):
        self.catalog = catalog
        if not getattr(catalog, "_annotations_ready", False):
            with catalog._transaction():
                catalog._exec(_SCHEMA)
            catalog._annotations_ready = True

    def _row(self, r) -> Annotation:
        return Annotation(r[1], r[2], r[3], r[4], shape(json.loads(r[5])), from_iso(r[6]), r[0])

    def add(self, a: Annotation) -> Annotation:
        b = a.geometry.bounds
        with self.catalog._transaction():
            self.catalog._exec(f"INSERT INTO annotations ({_COLUMNS}, minx, miny, maxx, maxy) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (a.id, a.service, a.author, a.category, a.note,
                                json.dumps(a.to_feature()["geometry"]), iso(a.created_at), *b))
        return a

    def get(self, ann_id: str, services: tuple[str, ...]) -> Annotation | None:
        """The annotation, if it belongs to one of ``services`` (visibility decided in the query)."""
        if not services:
            return None
        rows = self.catalog._query(f"SELECT {_COLUMNS} FROM annotations WHERE id = ? AND service IN "
                                   f"({', '.join('?' * len(services))})", (ann_id, *services))
        return self._row(rows[0]) if rows else None

    def list(self, services: tuple[str, ...], bbox: tuple[float, float, float, float] | None = None,
             limit: int = 5000) -> list[Annotation]:
        if not services:
            return []
        where, params = [f"service IN ({', '.join('?' * len(services))})"], list(services)
        if bbox is not None:
            w, s, e, n = bbox
            where.append("maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?")
            params += [w, e, s, n]
        rows = self.catalog._query(f"SELECT {_COLUMNS} FROM annotations WHERE {' AND '.join(where)} "
                                   f"ORDER BY created_at DESC, id LIMIT {int(limit)}", params)
        return [self._row(r) for r in rows]

    def delete(self, ann_id: str) -> None:
        with self.catalog._transaction():
            self.catalog._exec("DELETE FROM annotations WHERE id = ?", (ann_id,))


@dataclass(frozen=True)
class Measurement:
    """A geometry measured in metres in the local projected CRS (Lambert-93 in France, UTM elsewhere)."""

    crs: str
    kind: str
    length_m: float  # a line's length, a polygon's perimeter, 0 for a point
    area_m2: float  # a polygon's area, else 0
    xy: tuple[tuple[float, float], ...]  # the vertices' projected coordinates (a point's: one)

    def to_dict(self) -> dict:
        return {"crs": self.crs, "kind": self.kind, "length_m": round(self.length_m, 3),
                "area_m2": round(self.area_m2, 3), "xy": [[round(x, 3), round(y, 3)] for x, y in self.xy]}


def measure(geometry) -> Measurement:
    """Length, area and projected coordinates of a GeoJSON Point, LineString or Polygon (lon/lat), computed in
    the local metric CRS (:func:`dronectl.geo.local_crs`): what the web map's measuring tool shows. Bounded and
    checked as an annotation's geometry is."""
    from dronectl.geo import Projector

    if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRY_TYPES:
        raise InputError(f"measure a {', a '.join(GEOMETRY_TYPES)} (a GeoJSON geometry)")
    kind = geometry["type"]
    g = shape({"type": kind, "coordinates": _coords(geometry, kind)})
    if g.is_empty:
        raise InputError(f"the {kind} is empty")
    proj = Projector.around(g)
    m = proj.to_metric(g)
    epsg = proj.crs.to_epsg()
    crs = f"EPSG:{epsg}" if epsg else proj.crs.name
    if kind == "Polygon":
        return Measurement(crs, kind, m.exterior.length, m.area if g.is_valid else 0.0, tuple(m.exterior.coords))
    return Measurement(crs, kind, m.length if kind == "LineString" else 0.0, 0.0, tuple(m.coords))
