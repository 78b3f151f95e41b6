"""GeoJSON (RFC 7946) view of a mission, for QGIS, geojson.io or any web map.

One FeatureCollection; every feature has a ``kind`` property:

- ``path``: the flight path, a 3D LineString through the positioned items (z = each item's altitude in
  its own frame, so usually metres above home);
- ``item``: one feature per mission item, in order, with ``seq`` (1-based, = MAVLink seq), ``command``,
  ``command_name``, ``frame``, ``params`` (4 numbers, ``null`` for unset) and ``autocontinue``; geometry a
  3D Point, or ``null`` for items without coordinates (``DO_`` commands, RTL);
- ``home``: the take-off point, altitude above mean sea level;
- ``fence`` (Polygon, ``inclusion``), ``fence_circle`` (Point, ``radius_m``, ``inclusion``), ``rally``;
- from ``extras`` when given: ``zone``, ``exclusion``, ``structure``, ``photo`` (Points), ``footprint`` (Polygons).

``from_geojson`` reads the items, home, fence and rally back, so a mission survives the trip; the
survey extras are for the eye and are not read back.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from dronectl.errors import InputError
from dronectl.formats.common import atomic_write, item_problem, read_text
from dronectl.geo import polygon_parts
from dronectl.mission import FenceCircle, FencePolygon, Home, Mission, MissionItem, RallyPoint


def _num(v: float):
    return None if isinstance(v, float) and math.isnan(v) else v


def _param(v) -> float:
    return math.nan if v is None else float(v)


def item_properties(seq: int, it: MissionItem) -> dict:
    """The properties that carry a mission item through GeoJSON and KML."""
    return {"seq": seq, "command": it.command, "command_name": it.name, "frame": it.frame,
            "params": [_num(p) for p in it.params()], "lat": it.lat_deg, "lon": it.lon_deg, "alt_m": it.alt_m,
            "autocontinue": bool(it.autocontinue)}


def item_from_properties(p: dict) -> MissionItem:
    """Inverse of :func:`item_properties`; raises KeyError/TypeError/ValueError on bad input."""
    params = p["params"]
    if not isinstance(params, list) or len(params) != 4:
        raise ValueError("'params' must be a list of 4 numbers")
    return MissionItem(command=int(p["command"]), frame=int(p["frame"]), param1=_param(params[0]),
                       param2=_param(params[1]), param3=_param(params[2]), param4=_param(params[3]),
                       lat_deg=float(p.get("lat") or 0.0), lon_deg=float(p.get("lon") or 0.0),
                       alt_m=float(p.get("alt_m") or 0.0), autocontinue=bool(p.get("autocontinue", True)))


def _feature(geometry, **props) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _geom(g: BaseGeometry) -> dict:
    return mapping(g)


def to_geojson(m: Mission, extras: dict | None = None) -> dict:
    """The mission (and optional survey geometry) as a GeoJSON FeatureCollection dict.

    ``extras`` may hold ``"zone"`` and ``"exclusions"`` (shapely lon/lat geometries), ``"photos"``
    (a list of (lon, lat) pairs) and ``"footprints"`` (shapely lon/lat polygons).
    """
    extras = extras or {}
    feats: list[dict] = []
    if extras.get("zone") is not None and not extras["zone"].is_empty:
        feats.append(_feature(_geom(extras["zone"]), kind="zone", name=m.plan_data.zone if m.plan_data else None))
    if extras.get("exclusions") is not None and not extras["exclusions"].is_empty:
        for part in polygon_parts(extras["exclusions"]) or [extras["exclusions"]]:
            feats.append(_feature(_geom(part), kind="exclusion"))
    if extras.get("structure") is not None and not extras["structure"].is_empty:
        feats.append(_feature(_geom(extras["structure"]), kind="structure", name=m.plan_data.zone if m.plan_data else None))
    for fp in extras.get("footprints") or []:
        feats.append(_feature(_geom(fp), kind="footprint"))
    for k, ph in enumerate(extras.get("photos") or [], start=1):
        feats.append(_feature({"type": "Point", "coordinates": [float(ph[0]), float(ph[1])]}, kind="photo", index=k))
    path = [[it.lon_deg, it.lat_deg, it.alt_m] for it in m.items if it.has_position]
    if len(path) >= 2:
        feats.append(_feature({"type": "LineString", "coordinates": path}, kind="path",
                              altitude="each waypoint's own frame (3 = metres above home)"))
    if m.home is not None:
        feats.append(_feature({"type": "Point", "coordinates": [m.home.lon_deg, m.home.lat_deg, m.home.alt_m]},
                              kind="home", alt_amsl_m=m.home.alt_m))
    for n, it in enumerate(m.items, start=1):
        geom = None
        if not (it.lat_deg == 0.0 and it.lon_deg == 0.0):
            geom = {"type": "Point", "coordinates": [it.lon_deg, it.lat_deg, it.alt_m]}
        feats.append(_feature(geom, kind="item", **item_properties(n, it)))
    for fp in m.fence_polygons:
        ring = [[lon, lat] for lat, lon in fp.vertices]
        feats.append(_feature({"type": "Polygon", "coordinates": [ring + ring[:1]]}, kind="fence",
                              inclusion=fp.inclusion))
    for c in m.fence_circles:
        feats.append(_feature({"type": "Point", "coordinates": [c.lon_deg, c.lat_deg]}, kind="fence_circle",
                              radius_m=c.radius_m, inclusion=c.inclusion))
    for r in m.rally:
        feats.append(_feature({"type": "Point", "coordinates": [r.lon_deg, r.lat_deg, r.alt_m]}, kind="rally",
                              alt_m=r.alt_m))
    return {"type": "FeatureCollection", "features": feats,
            "dronectl": {"cruise_speed_mps": m.cruise_speed_mps, "hover_speed_mps": m.hover_speed_mps}}


def _fail(path, msg):
    raise InputError(f"{path}: not a dronectl mission GeoJSON: {msg}")


def from_geojson(doc: dict, path: str = "<geojson>") -> Mission:
    """Read back the items, home, fence and rally points written by :func:`to_geojson`."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        _fail(path, "expected a FeatureCollection with a 'features' list")
    items: list[tuple[int, MissionItem]] = []
    home, fences, circles, rally = None, [], [], []
    for n, f in enumerate(doc["features"], start=1):
        if not isinstance(f, dict) or not isinstance(f.get("properties"), dict):
            _fail(path, f"feature {n} has no properties object")
        props, geom = f["properties"], f.get("geometry")
        kind = props.get("kind")
        try:
            if kind == "item":
                item = item_from_properties(props)
                problem = item_problem(item)
                if problem:
                    _fail(path, f"item {props.get('seq')}: {problem}")
                items.append((int(props["seq"]), item))
            elif kind == "home":
                lon, lat, *rest = geom["coordinates"]
                home = Home(float(lat), float(lon), float(props.get("alt_amsl_m", rest[0] if rest else 0.0)))
            elif kind == "fence":
                ring = geom["coordinates"][0]
                verts = tuple((float(lat), float(lon)) for lon, lat, *_ in ring)
                if len(verts) > 1 and verts[0] == verts[-1]:
                    verts = verts[:-1]
                fences.append(FencePolygon(verts, bool(props.get("inclusion", True))))
            elif kind == "fence_circle":
                lon, lat, *_ = geom["coordinates"]
                circles.append(FenceCircle(float(lat), float(lon), float(props["radius_m"]),
                                           bool(props.get("inclusion", True))))
            elif kind == "rally":
                lon, lat, *rest = geom["coordinates"]
                rally.append(RallyPoint(float(lat), float(lon), float(props.get("alt_m", rest[0] if rest else 0.0))))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            _fail(path, f"feature {n} ({kind}): {type(exc).__name__}: {exc}")
    if not items and home is None:
        _fail(path, "no 'item' or 'home' features; only GeoJSON written by dronectl carries a mission")
    seqs = [s for s, _ in items]
    if sorted(seqs) != list(range(1, len(items) + 1)):
        _fail(path, "item 'seq' numbers must run 1, 2, 3... without gaps or repeats")
    speeds = doc.get("dronectl") if isinstance(doc.get("dronectl"), dict) else {}
    try:
        cruise, hover = float(speeds.get("cruise_speed_mps", 5.0)), float(speeds.get("hover_speed_mps", 5.0))
    except (TypeError, ValueError):
        _fail(path, "'dronectl' speeds must be numbers")
    return Mission(items=tuple(it for _, it in sorted(items, key=lambda t: t[0])), home=home,
                   fence_polygons=tuple(fences), fence_circles=tuple(circles), rally=tuple(rally),
                   cruise_speed_mps=cruise, hover_speed_mps=hover)


def dumps(m: Mission, extras: dict | None = None) -> str:
    return json.dumps(to_geojson(m, extras), allow_nan=False) + "\n"


def loads(text: str, path: str = "<geojson>") -> Mission:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    return from_geojson(doc, path)


def write(m: Mission, path: Path | str, extras: dict | None = None) -> None:
    atomic_write(path, dumps(m, extras))


def read(path: Path | str) -> Mission:
    return loads(read_text(path, "GeoJSON"), str(path))
