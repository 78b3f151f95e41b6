"""KML 2.2 view of a mission, for a quick look in Google Earth or QGIS.

The document holds the flight path (a LineString), one Placemark per mission item in a "Mission items"
folder, the home point, and the zone outline, exclusions and photo points when ``extras`` gives them.

Altitudes: a mission's heights are above the take-off point (MAVLink frame 3). When the take-off point's
altitude above sea level is known (a plan over a DEM, or a ``--home LAT,LON,ALT``), they are written
``absolute`` (home altitude + height), so Google Earth draws the path where the drone flies, over a slope too;
otherwise ``relativeToGround``, which is right only over flat ground.

Each item Placemark carries the item itself in ``ExtendedData`` (seq, command, frame, param1-4, lat,
lon, alt_m, autocontinue), so :func:`loads` rebuilds the same items and home. Geofence, rally points
and dronectl's metadata are not written. Untrusted KML is parsed with defusedxml only.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET  # building only; parsing goes through defusedxml
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from dronectl.errors import InputError
from dronectl.formats import atomic_write
from dronectl.formats.geojson import item_from_properties
from dronectl.geo import polygon_parts
from dronectl.mission import FRAME_GLOBAL, Home, Mission, MissionItem

NS = "http://www.opengis.net/kml/2.2"
_ITEM_FIELDS = ("seq", "command", "frame", "param1", "param2", "param3", "param4", "lat", "lon", "alt_m",
                "autocontinue")


def _n(v) -> str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _style(doc: ET.Element, sid: str, line: str | None = None, width: float = 2, poly: str | None = None,
           icon_scale: float | None = None) -> None:
    st = _sub(doc, "Style", id=sid)
    if line:
        ls = _sub(st, "LineStyle")
        _sub(ls, "color", line)
        _sub(ls, "width", _n(width))
    if poly:
        _sub(_sub(st, "PolyStyle"), "color", poly)
    if icon_scale is not None:
        _sub(_sub(st, "IconStyle"), "scale", _n(icon_scale))


def _coords(points) -> str:
    return " ".join(",".join(_n(c) for c in p) for p in points)


def _polygon(parent: ET.Element, poly) -> None:
    pg = _sub(parent, "Polygon")
    _sub(pg, "altitudeMode", "clampToGround")
    _sub(_sub(_sub(pg, "outerBoundaryIs"), "LinearRing"), "coordinates", _coords(poly.exterior.coords))
    for ring in poly.interiors:
        _sub(_sub(_sub(pg, "innerBoundaryIs"), "LinearRing"), "coordinates", _coords(ring.coords))


def _extended(pm: ET.Element, values: dict) -> None:
    ed = _sub(pm, "ExtendedData")
    for k, v in values.items():
        _sub(_sub(ed, "Data", name=k), "value", v)


_RELATIVE_FRAMES = (3, 6)  # MAV_FRAME_GLOBAL_RELATIVE_ALT(_INT): metres above the home
_ABSOLUTE_FRAMES = (FRAME_GLOBAL, 5)  # MAV_FRAME_GLOBAL(_INT): metres above mean sea level


def home_amsl_m(m: Mission) -> float | None:
    """The take-off point's altitude above sea level when the plan knows it (a DEM, or given), else None."""
    if m.home is None:
        return None
    return m.home.alt_m if (m.meta.get("terrain") or m.home.alt_m != 0.0) else None


def _placed(it: MissionItem, home_alt: float | None) -> tuple[str, float]:
    """(altitudeMode, altitude) of an item for KML: absolute whenever its height above sea level is known."""
    if it.frame in _ABSOLUTE_FRAMES:
        return "absolute", it.alt_m
    if it.frame in _RELATIVE_FRAMES and home_alt is not None:
        return "absolute", home_alt + it.alt_m
    return "relativeToGround", it.alt_m


def dumps(m: Mission, extras: dict | None = None) -> str:
    """The mission as a KML 2.2 document (text)."""
    extras = extras or {}
    root = ET.Element("kml", xmlns=NS)
    doc = _sub(root, "Document")
    title = m.meta.get("zone") or "dronectl mission"
    _sub(doc, "name", str(title))
    _sub(doc, "description", f"{len(m.items)} mission items, written by dronectl. "
                             + ("Altitudes above sea level (take-off point at "
                                f"{home_amsl_m(m):g} m); each item's own height is in its ExtendedData alt_m, "
                                "in its MAVLink frame (3 = metres above the take-off point)."
                                if home_amsl_m(m) is not None else
                                "Altitudes above the ground under each point (the take-off point's altitude is "
                                "unknown); each item's own height is in its ExtendedData alt_m, in its MAVLink "
                                "frame (3 = metres above the take-off point)."))
    _style(doc, "path", line="ffff7800", width=3)  # KML colours are aabbggrr
    _style(doc, "zone", line="ff3c8c28", width=2, poly="4064c850")
    _style(doc, "exclusion", line="ff2828dc", width=2, poly="802828dc")
    _style(doc, "photo", icon_scale=0.4)

    zone = extras.get("zone")
    if zone is not None and not zone.is_empty:
        pm = _sub(doc, "Placemark")
        _sub(pm, "name", f"zone {title}")
        _sub(pm, "styleUrl", "#zone")
        parts = polygon_parts(zone)
        container = _sub(pm, "MultiGeometry") if len(parts) > 1 else pm
        for part in parts:
            _polygon(container, part)
    excl = extras.get("exclusions")
    if excl is not None and not excl.is_empty:
        for k, part in enumerate(polygon_parts(excl), start=1):
            pm = _sub(doc, "Placemark")
            _sub(pm, "name", f"exclusion {k}")
            _sub(pm, "styleUrl", "#exclusion")
            _polygon(pm, part)

    home_alt = home_amsl_m(m)
    placed = [(it, _placed(it, home_alt)) for it in m.items if it.has_position]
    path = [(it.lon_deg, it.lat_deg, alt) for it, (_, alt) in placed]
    if len(path) >= 2:
        pm = _sub(doc, "Placemark")
        _sub(pm, "name", "flight path")
        _sub(pm, "styleUrl", "#path")
        ls = _sub(pm, "LineString")
        modes = {mode for _, (mode, _) in placed}
        _sub(ls, "altitudeMode", "absolute" if modes == {"absolute"} else "relativeToGround")
        _sub(ls, "coordinates", _coords(path if modes == {"absolute"} else
                                        [(it.lon_deg, it.lat_deg, it.alt_m) for it, _ in placed]))

    if m.home is not None:
        pm = _sub(doc, "Placemark")
        _sub(pm, "name", "home")
        _extended(pm, {"kind": "home", "lat": _n(m.home.lat_deg), "lon": _n(m.home.lon_deg),
                       "alt_amsl_m": _n(m.home.alt_m)})
        pt = _sub(pm, "Point")
        if home_alt is None:
            _sub(pt, "altitudeMode", "clampToGround")
            _sub(pt, "coordinates", _coords([(m.home.lon_deg, m.home.lat_deg)]))
        else:
            _sub(pt, "altitudeMode", "absolute")
            _sub(pt, "coordinates", _coords([(m.home.lon_deg, m.home.lat_deg, home_alt)]))

    folder = _sub(doc, "Folder")
    _sub(folder, "name", "Mission items")
    for n, it in enumerate(m.items, start=1):
        pm = _sub(folder, "Placemark")
        _sub(pm, "name", f"{n} {it.name}")
        _extended(pm, {"kind": "item", "seq": str(n), "command": str(it.command), "frame": str(it.frame),
                       "param1": _n(it.param1), "param2": _n(it.param2), "param3": _n(it.param3),
                       "param4": _n(it.param4), "lat": _n(it.lat_deg), "lon": _n(it.lon_deg),
                       "alt_m": _n(it.alt_m), "autocontinue": "1" if it.autocontinue else "0"})
        if not (it.lat_deg == 0.0 and it.lon_deg == 0.0):
            pt = _sub(pm, "Point")
            mode, alt = _placed(it, home_alt)
            _sub(pt, "altitudeMode", mode)
            _sub(pt, "coordinates", _coords([(it.lon_deg, it.lat_deg, alt)]))

    photos = extras.get("photos") or []
    if photos:
        folder = _sub(doc, "Folder")
        _sub(folder, "name", "Photos")
        for k, ph in enumerate(photos, start=1):
            pm = _sub(folder, "Placemark")
            _sub(pm, "name", f"photo {k}")
            _sub(pm, "styleUrl", "#photo")
            _sub(_sub(pm, "Point"), "coordinates", _coords([(ph[0], ph[1])]))

    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _data(pm) -> dict[str, str]:
    out = {}
    for el in pm.iter():
        if _local(el.tag) == "Data":
            value = next((c for c in el if _local(c.tag) == "value"), None)
            out[el.get("name", "")] = (value.text or "").strip() if value is not None else ""
    return out


def loads(text: str | bytes, path: str = "<kml>") -> Mission:
    """Read back the items and home of a KML written by :func:`dumps`."""
    try:
        root = fromstring(text)
    except DefusedXmlException as exc:
        raise InputError(f"{path}: refused unsafe XML ({type(exc).__name__}); KML needs no DTD or entities") from None
    except ParseError as exc:
        raise InputError(f"{path}: not well-formed XML ({exc})") from None
    if _local(root.tag) != "kml":
        raise InputError(f"{path}: not a KML document (root element is <{_local(root.tag)}>)")
    items: list[tuple[int, MissionItem]] = []
    home = None
    for pm in root.iter():
        if _local(pm.tag) != "Placemark":
            continue
        d = _data(pm)
        kind = d.get("kind")
        try:
            if kind == "item":
                missing = [k for k in _ITEM_FIELDS if k not in d]
                if missing:
                    raise ValueError(f"missing {', '.join(missing)}")
                props = {"command": d["command"], "frame": d["frame"],
                         "params": [float(d[f"param{k}"]) for k in range(1, 5)],
                         "lat": float(d["lat"]), "lon": float(d["lon"]), "alt_m": float(d["alt_m"]),
                         "autocontinue": int(d["autocontinue"]) != 0}
                items.append((int(d["seq"]), item_from_properties(props)))
            elif kind == "home":
                home = Home(float(d["lat"]), float(d["lon"]), float(d["alt_amsl_m"]))
        except (KeyError, ValueError, TypeError) as exc:
            label = d.get("seq", "?") if kind == "item" else "home"
            raise InputError(f"{path}: bad mission data in placemark {kind} {label}: {exc}") from None
    if not items and home is None:
        raise InputError(f"{path}: no mission items found; only KML written by dronectl carries a mission "
                         "(in its ExtendedData)")
    if sorted(s for s, _ in items) != list(range(1, len(items) + 1)):
        raise InputError(f"{path}: item seq numbers must run 1, 2, 3... without gaps or repeats")
    return Mission(items=tuple(it for _, it in sorted(items, key=lambda t: t[0])), home=home)


def write(m: Mission, path: Path | str, extras: dict | None = None) -> None:
    atomic_write(path, dumps(m, extras))


def read(path: Path | str) -> Mission:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return loads(data, str(path))
