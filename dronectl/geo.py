"""CRS choice, projection helpers, and loading of zones and airspace files.

All metric work happens in a local projected CRS: Lambert-93 (EPSG:2154) inside metropolitan France,
the WGS 84 UTM zone of the area elsewhere. Inputs may come in any CRS; outputs are WGS 84 lon/lat.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from contextvars import ContextVar
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pyproj import CRS, Transformer
from shapely import make_valid
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
import numpy as np
import shapely
from shapely.validation import explain_validity

from dronectl.errors import InputError

WGS84 = CRS.from_epsg(4326)
LAMBERT93 = CRS.from_epsg(2154)
# Lambert-93's area of use (metropolitan France, Corsica included), lon/lat degrees.
_LAMBERT93_BOUNDS = (-9.86, 41.15, 10.38, 51.56)


def shipped_data(relative: str) -> Path:
    """A file of the city data dronectl ships (``zones/soissons.geojson``, ``airspace/soissons.geojson``).

    The checkout keeps it in the top-level ``missions/`` folder; the wheel carries it inside the package as
    ``dronectl/data/`` (``setup.py`` copies it there). Installed data wins; a checkout (or an editable install)
    falls back to ``missions/`` beside the package.
    """
    installed = resources.files("dronectl").joinpath("data", *relative.split("/"))
    if installed.is_file():
        return Path(str(installed))  # a package on disk (pip never installs zipped): files() is a real path
    return Path(__file__).resolve().parent.parent / "missions" / relative


DEFAULT_ZONES = shipped_data("zones/soissons.geojson")
DEFAULT_AIRSPACE = shipped_data("airspace/soissons.geojson")
DEFAULT_CEILING_M = 120.0  # EU open category / STS-01


def local_crs(lon_deg: float, lat_deg: float) -> CRS:
    """The projected CRS dronectl works in around a point: Lambert-93 in France, UTM elsewhere."""
    w, s, e, n = _LAMBERT93_BOUNDS
    if w <= lon_deg <= e and s <= lat_deg <= n:
        return LAMBERT93
    zone = int(math.floor((lon_deg + 180.0) / 6.0)) % 60 + 1
    return CRS.from_epsg((32600 if lat_deg >= 0 else 32700) + zone)


@lru_cache(maxsize=32)
def _transformers(crs_wkt: str) -> tuple[Transformer, Transformer]:
    crs = CRS.from_wkt(crs_wkt)
    return (Transformer.from_crs(WGS84, crs, always_xy=True), Transformer.from_crs(crs, WGS84, always_xy=True))


def _apply(tr: Transformer, geom: BaseGeometry) -> BaseGeometry:
    def f(xy):
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((x, y))

    return shapely.transform(geom, f)


@dataclass(frozen=True)
class Projector:
    """Forward (lon/lat -> metres) and inverse transforms for one local CRS."""

    crs: CRS
    _fwd: Transformer = field(repr=False, compare=False)
    _inv: Transformer = field(repr=False, compare=False)

    @classmethod
    def for_crs(cls, crs: CRS) -> "Projector":
        fwd, inv = _transformers(crs.to_wkt())
        return cls(crs, fwd, inv)

    @classmethod
    def around(cls, geom_lonlat: BaseGeometry) -> "Projector":
        c = geom_lonlat.centroid if not geom_lonlat.is_empty else None
        if c is None:
            raise InputError("cannot choose a projection for an empty geometry")
        return cls.for_crs(local_crs(c.x, c.y))

    def to_metric(self, geom: BaseGeometry) -> BaseGeometry:
        return _apply(self._fwd, geom)

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return _apply(self._inv, geom)

    def xy(self, lon_deg, lat_deg):
        return self._fwd.transform(lon_deg, lat_deg)

    def lonlat(self, x_m, y_m):
        return self._inv.transform(x_m, y_m)


LINE_TYPES = ("LineString", "MultiLineString")


@dataclass(frozen=True)
class Zone:
    """A named area (a polygon) or line (a centre line for ``plan corridor``), in WGS 84 lon/lat."""

    name: str
    geometry: BaseGeometry  # Polygon or MultiPolygon; LineString or MultiLineString for a line; lon/lat
    service: str | None = None
    notes: str | None = None
    role: str | None = None  # the file's own ``kind`` property, e.g. "structure" (a building for plan structure)

    @property
    def kind(self) -> str:
        return "line" if self.geometry.geom_type in LINE_TYPES else "polygon"

    @property
    def listed_kind(self) -> str:
        """What ``zones list`` shows: ``line``, ``polygon``, or ``structure`` for a building (``kind: structure``)."""
        return "structure" if self.role == "structure" and self.kind == "polygon" else self.kind


@dataclass(frozen=True)
class AirspaceZone:
    """A restriction zone: flights inside must stay at or under ``ceiling_m`` above ground (0 = forbidden)."""

    name: str
    geometry: BaseGeometry  # lon/lat
    ceiling_m: float


_WGS84_NAMES = {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326", "urn:ogc:def:crs:EPSG::4326",
                "OGC:CRS84"}


def _read_features(path: Path, what: str) -> list:
    """The features of a vector file in WGS 84 lon/lat, each an object with its properties as attributes and
    ``geometry``; InputError with a one-line reason. A GeoJSON FeatureCollection in lon/lat (RFC 7946) is read
    directly (milliseconds); anything else (GeoPackage, another CRS) through geopandas/GDAL."""
    from types import SimpleNamespace

    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{what} file {path} is empty: give a GeoJSON or GeoPackage with at least one polygon")
    doc = None
    if path.suffix.lower() in (".geojson", ".json"):
        # Check it is JSON first: GDAL's messages for broken JSON are cryptic.
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{what} file {path} is not valid JSON ({exc}); fix the file or export it again") from None
    crs_name = ((doc.get("crs") or {}).get("properties") or {}).get("name") if isinstance(doc, dict) else None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list) \
            and (crs_name is None or crs_name in _WGS84_NAMES):
        import warnings

        rows = []
        for k, f in enumerate(doc["features"], start=1):
            if not isinstance(f, dict):
                raise InputError(f"cannot read {what} file {path}: feature {k} is not a GeoJSON Feature")
            g = f.get("geometry")
            if isinstance(g, dict) and g.get("type") in LINE_TYPES and isinstance(g.get("coordinates"), list) and (
                    len(g["coordinates"]) < 2 if g["type"] == "LineString"
                    else any(not isinstance(c, list) or len(c) < 2 for c in g["coordinates"])):
                raise InputError(f"{what} file {path}: feature {k} is a line with fewer than two points: "
                                 "give it at least two")
            try:
                with warnings.catch_warnings():  # NaN coordinates make shapely warn; _check_polygon says it
                    warnings.simplefilter("ignore", RuntimeWarning)
                    geom = shape(f["geometry"]) if f.get("geometry") else None
            except Exception as exc:  # shapely raises several types for malformed coordinates
                raise InputError(f"cannot read {what} file {path}: feature {k} has a malformed geometry "
                                 f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
            rows.append(SimpleNamespace(**{str(key): v for key, v in (f.get("properties") or {}).items()
                                           if str(key).isidentifier() and key != "geometry"}, geometry=geom))
        if not rows:
            raise InputError(f"{what} file {path} has no features: add at least one {'line' if what == 'line' else 'polygon'}")
        return rows
    frame = _read_frame(path, what)
    return [SimpleNamespace(**{c: getattr(row, c) for c in frame.columns if c.isidentifier()})
            for row in frame.itertuples(index=False)]


_LAYER: ContextVar[str | None] = ContextVar("dronectl_layer", default=None)


def choose_layer(name: str | None) -> None:
    """The layer to read in multi-layer files (GeoPackage, KML folders...): ``--layer NAME``."""
    _LAYER.set(name or None)


def _layer_of(path: Path, what: str) -> str | None:
    """The layer to read: the one ``--layer`` names, the only one, or an InputError listing them."""
    import pyogrio

    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception:  # not a format GDAL lists: read_file says why
        return None
    chosen = _LAYER.get()
    if chosen and chosen in layers:
        return chosen
    if len(layers) <= 1:  # --layer is for the files that have several (another file of the command may have one)
        return None
    names = ", ".join(f"'{n}'" for n in layers)
    if chosen:
        raise InputError(f"{what} file {path} has no layer '{chosen}'; its layers are {names}")
    raise InputError(f"{what} file {path} has {len(layers)} layers ({names}): choose one with --layer NAME")


def _read_frame(path: Path, what: str):
    """Read a vector file with geopandas into WGS 84; raise InputError with a one-line reason. A file of several
    layers needs ``--layer`` (:func:`choose_layer`); KML's ``Name``/``Description`` are the zone's name and notes."""
    import warnings

    import geopandas as gpd  # heavy import, only when a file is not plain lon/lat GeoJSON

    layer = _layer_of(path, what)
    try:
        with warnings.catch_warnings():  # NaN coordinates make shapely warn; _check_polygon says it in one line
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)  # pyogrio's "More than one layer": _layer_of says it
            frame = gpd.read_file(path, **({"layer": layer} if layer else {}))
    except Exception as exc:  # GDAL/pyogrio raise many types
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "not recognized as being in a supported file format" in msg:
            msg = "not a vector format GDAL reads; give a GeoJSON or GeoPackage file"
        raise InputError(f"cannot read {what} file {path}: {msg}") from None
    if len(frame) == 0:
        raise InputError(f"{what} file {path} has no features: add at least one {'line' if what == 'line' else 'polygon'}")
    for ours, theirs in (("name", "Name"), ("notes", "Description")):  # KML (and GML/KMZ through GDAL)
        if ours not in frame.columns and theirs in frame.columns:
            frame = frame.rename(columns={theirs: ours})
    if frame.crs is None:
        frame = frame.set_crs(WGS84)
    elif not frame.crs.equals(WGS84):
        _check_declared_crs(frame, path, what)
        frame = frame.to_crs(WGS84)
    return frame


def _check_declared_crs(frame, path: Path, what: str) -> None:
    """A file declared in a projected CRS (metres) whose numbers are all small enough to be degrees: the CRS is
    wrong (it would put the zone near the CRS's origin, far from France, a few square metres big)."""
    if not frame.crs.is_projected:
        return
    geoms = frame.geometry[frame.geometry.notna() & ~frame.geometry.is_empty]
    if geoms.empty:
        return
    xmin, ymin, xmax, ymax = geoms.total_bounds
    if -180 <= xmin and xmax <= 180 and -90 <= ymin and ymax <= 90:
        code = frame.crs.to_epsg()
        name = f"EPSG:{code}" if code else frame.crs.name
        raise InputError(f"{what} file {path} is declared in {name} (metres) but its coordinates look like degrees "
                         f"(x {xmin:.4f}..{xmax:.4f}, y {ymin:.4f}..{ymax:.4f}): read as metres it would be a few "
                         "m² near the CRS's origin, far from France; declare its CRS as EPSG:4326 (or remove the "
                         "GeoJSON 'crs' member)")


def _check_size(geom: BaseGeometry, label: str, min_m2: float) -> BaseGeometry:
    """A polygon of under ``min_m2`` (a 1 cm square, a zone in the wrong units) is refused with its area."""
    area = Projector.around(geom).to_metric(geom).area
    if area < min_m2:
        raise InputError(f"{label} covers {area:.2g} m², under {min_m2:g} m²: nothing to fly over; are its "
                         "coordinates in the CRS the file declares (degrees for GeoJSON)?")
    return geom


def _check_polygon(geom: BaseGeometry | None, label: str) -> BaseGeometry:
    if geom is None or geom.is_empty:
        raise InputError(f"{label} has no geometry: give it a polygon")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError(f"{label} is a {geom.geom_type}, not a polygon: draw the area as a polygon")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise InputError(f"{label} has a coordinate that is not a finite number (NaN or infinity): fix the file")
    if not geom.is_valid:
        reason = explain_validity(geom)
        raise InputError(f"{label} is not a valid polygon ({reason}): fix it, e.g. with QGIS 'Fix geometries'")
    if geom.area == 0:
        raise InputError(f"{label} has zero area: give it at least three distinct corners")
    lon_min, lat_min, lon_max, lat_max = geom.bounds
    if not (-180 <= lon_min and lon_max <= 180 and -90 <= lat_min and lat_max <= 90):
        raise InputError(f"{label} has coordinates outside longitude/latitude range: is the CRS declared?")
    return geom


def _check_line(geom: BaseGeometry | None, label: str) -> BaseGeometry:
    if geom is None or geom.is_empty:
        raise InputError(f"{label} has no geometry: give it a line")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise InputError(f"{label} has a coordinate that is not a finite number (NaN or infinity): fix the file")
    for part in getattr(geom, "geoms", [geom]):
        if len({tuple(c) for c in part.coords}) < 2:
            raise InputError(f"{label} has a line with fewer than two distinct points: give it at least two")
    lon_min, lat_min, lon_max, lat_max = geom.bounds
    if not (-180 <= lon_min and lon_max <= 180 and -90 <= lat_min and lat_max <= 90):
        raise InputError(f"{label} has coordinates outside longitude/latitude range: is the CRS declared?")
    return geom


def load_named(path: Path | str | None = None) -> list[Zone]:
    """Every named polygon and line of a zone file (GeoJSON or GeoPackage, any CRS), in file order."""
    path = Path(path) if path else DEFAULT_ZONES
    zones = []
    for i, row in enumerate(_read_features(path, "zone"), start=1):
        name = getattr(row, "name", None) or f"zone-{i}"
        label = f"zone '{name}' in {path}"
        if row.geometry is not None and row.geometry.geom_type in LINE_TYPES:
            geom = _check_line(row.geometry, label)
        else:
            geom = _check_size(_check_polygon(row.geometry, label), label, min_m2=1.0)
        zones.append(Zone(str(name), geom, _opt(getattr(row, "service", None)), _opt(getattr(row, "notes", None)),
                          _opt(getattr(row, "kind", None))))
    return zones


def load_zones(path: Path | str | None = None) -> list[Zone]:
    """All named polygons of a zone file (GeoJSON or GeoPackage, any CRS); its lines are left out."""
    return [z for z in load_named(path) if z.kind == "polygon"]


def _opt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return str(v)


def find_zone(name: str, path: Path | str | None = None, kind: str = "polygon") -> Zone:
    """The zone (``kind="polygon"``) or line (``kind="line"``) of that name; a name of the other kind says which
    command plans it."""
    zones = load_named(path)
    found = next((z for z in zones if z.name == name), None) or \
        next((z for z in zones if z.name.lower() == name.lower()), None)  # forgiving on case
    if found is not None and found.kind != kind:
        if found.kind == "line":
            raise InputError(f"zone '{found.name}' is a line, not an area: plan it with `dronectl plan corridor "
                             f"--zone-line {found.name} --width M`")
        raise InputError(f"zone '{found.name}' is an area, not a line: plan it with `dronectl plan survey "
                         f"--zone {found.name}`")
    if found is not None:
        return found
    known = ", ".join(z.name for z in zones if z.kind == kind)
    raise InputError(f"unknown {'zone' if kind == 'polygon' else 'line'} '{name}'; known "
                     f"{'zones' if kind == 'polygon' else 'lines'}: {known}")


def load_polygon(path: Path | str) -> BaseGeometry:
    """The union of every polygon in a file, lon/lat. Used by ``--polygon`` and ``--exclude``."""
    path = Path(path)
    geoms = [_check_size(_check_polygon(row.geometry, f"feature {i} of {path}"), f"feature {i} of {path}", 0.01)
             for i, row in enumerate(_read_features(path, "polygon"), start=1)]
    if len(geoms) == 1:
        return geoms[0]
    from shapely import union_all

    return union_all(geoms)


def load_lines(path: Path | str) -> BaseGeometry:
    """Every line of a file (GeoJSON or GeoPackage, any CRS) as one LineString or MultiLineString, lon/lat. Used by
    ``plan corridor --line``; other features are left out, a file with no line is refused."""
    path = Path(path)
    lines = []
    for i, row in enumerate(_read_features(path, "line"), start=1):
        if row.geometry is not None and row.geometry.geom_type in LINE_TYPES:
            g = _check_line(row.geometry, f"feature {i} of {path}")
            lines += list(getattr(g, "geoms", [g]))
    if not lines:
        raise InputError(f"line file {path} has no line: give a LineString or MultiLineString (the corridor's "
                         "centre line)")
    from shapely.geometry import MultiLineString

    return lines[0] if len(lines) == 1 else MultiLineString(lines)


def load_points(path: Path | str) -> list[tuple[float, ...]]:
    """The points of a file (GeoJSON or GeoPackage, any CRS) as (lat, lon) or, with a third coordinate,
    (lat, lon, altitude AMSL). Used by ``--homes``; a file with no point is refused."""
    path = Path(path)
    out = []
    for i, row in enumerate(_read_features(path, "points"), start=1):
        g = row.geometry
        if g is None or g.geom_type not in ("Point", "MultiPoint"):
            continue
        for p in getattr(g, "geoms", [g]):
            c = p.coords[0]
            if not np.isfinite(c).all() or not (-180 <= c[0] <= 180 and -90 <= c[1] <= 90):
                raise InputError(f"feature {i} of {path} is not a longitude/latitude point: is the CRS declared?")
            out.append((float(c[1]), float(c[0])) + ((float(c[2]),) if len(c) > 2 else ()))
    if not out:
        raise InputError(f"points file {path} has no point: give the take-off points as GeoJSON Points")
    return out


def load_airspace(path: Path | str | None = None) -> list[AirspaceZone]:
    path = Path(path) if path else DEFAULT_AIRSPACE
    out = []
    for i, row in enumerate(_read_features(path, "airspace"), start=1):
        name = getattr(row, "name", None) or f"restriction-{i}"
        ceiling = getattr(row, "ceiling_m", None)
        if ceiling is None or (isinstance(ceiling, float) and math.isnan(ceiling)):
            raise InputError(f"airspace zone '{name}' in {path} has no 'ceiling_m' property (0 = forbidden)")
        from dronectl.limits import CEILING_M, check_range

        try:
            ceiling = float(ceiling)
        except (TypeError, ValueError):
            pass
        check_range(f"airspace zone '{name}' in {path}: ceiling_m", ceiling, CEILING_M)
        out.append(AirspaceZone(str(name), _check_polygon(row.geometry, f"airspace zone '{name}'"), ceiling))
    return out


def _in_france(lon_min, lat_min, lon_max, lat_max) -> bool:
    w, s, e, n = _LAMBERT93_BOUNDS
    return w <= lon_min and lon_max <= e and s <= lat_min and lat_max <= n


def swapped_axes_warning(geom_lonlat: BaseGeometry, label: str,
                         fix: str = "GeoJSON and dronectl write longitude first, so check the file's axis order"
                         ) -> str | None:
    """A warning when a geometry's longitude and latitude look swapped: read as written it lies outside
    France, read the other way round it lies inside (a GeoJSON whose "longitudes" are all 49.x, say)."""
    if geom_lonlat is None or geom_lonlat.is_empty:
        return None
    lon_min, lat_min, lon_max, lat_max = geom_lonlat.bounds
    if _in_france(lon_min, lat_min, lon_max, lat_max) or not _in_france(lat_min, lon_min, lat_max, lon_max):
        return None
    c = geom_lonlat.centroid
    return (f"{label} lies at longitude {c.x:.4f}, latitude {c.y:.4f}, outside France; with the two swapped it "
            f"would be in France: {fix}")


def swapped_point_warning(lat_deg: float, lon_deg: float, label: str) -> str | None:
    """:func:`swapped_axes_warning` for a point typed as LAT,LON (``--center``, ``--home``): outside France as
    typed, inside it with the two swapped."""
    if _in_france(lon_deg, lat_deg, lon_deg, lat_deg) or not _in_france(lat_deg, lon_deg, lat_deg, lon_deg):
        return None
    return (f"{label} {lat_deg:.8g},{lon_deg:.8g} lies at latitude {lat_deg:.8g}, longitude {lon_deg:.8g}, outside France; "
            f"swapped ({lon_deg:.8g},{lat_deg:.8g}) it would be in France: points are typed LAT,LON, latitude first")


def distance_to_m(lat_deg: float, lon_deg: float, geom_lonlat: BaseGeometry) -> float:
    """Great-circle distance in metres from a point to the nearest point of a lon/lat geometry (0 inside it)."""
    from shapely.geometry import Point
    from shapely.ops import nearest_points

    p = Point(lon_deg, lat_deg)
    if geom_lonlat.covers(p):
        return 0.0
    near = nearest_points(geom_lonlat, p)[0]
    return haversine_m(lat_deg, lon_deg, near.y, near.x)


def said_distance(m: float) -> str:
    """``850 m``, ``12.3 km``, ``5,490 km``."""
    if m < 1000:
        return f"{m:.0f} m"
    return f"{m / 1000:.1f} km" if m < 100_000 else f"{m / 1000:,.0f} km"


def check_point_reach(lat_deg: float, lon_deg: float, geom_lonlat: BaseGeometry, label: str, what: str,
                      reach_m: float, why: str, order: str = "points are typed LAT,LON, latitude first") -> None:
    """Refuse a point (a take-off point) farther than ``reach_m`` from the area it serves, with the distance and,
    when the two coordinates swapped would put it near, the likely swap. ``label`` is how the user typed it
    (``--home 3.32705,49.37735``), ``what`` the area (``zone 'abbaye'``), ``why`` what the reach is."""
    d = distance_to_m(lat_deg, lon_deg, geom_lonlat)
    if d <= reach_m:
        return
    msg = f"{label} is {said_distance(d)} from the nearest point of {what}, beyond {why}"
    if -90 <= lon_deg <= 90:
        swapped = distance_to_m(lon_deg, lat_deg, geom_lonlat)
        if swapped <= reach_m or swapped < d / 100:
            raise InputError(f"{msg}; swapped ({lon_deg:.8g},{lat_deg:.8g}) it would be {said_distance(swapped)} from "
                             f"it: {order}")
    raise InputError(f"{msg}: give a point near it")


def ceiling_at(airspace: list[AirspaceZone], point_lonlat) -> tuple[float, str | None]:
    """The lowest ceiling (m above ground) over a lon/lat point, and the zone that sets it."""
    ceiling, by = DEFAULT_CEILING_M, None
    for z in airspace:
        if z.ceiling_m < ceiling and z.geometry.intersects(point_lonlat):
            ceiling, by = z.ceiling_m, z.name
    return ceiling, by


def polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        return [g for g in geom.geoms if isinstance(g, Polygon)]
    return []


def clean(geom: BaseGeometry) -> BaseGeometry:
    """Valid polygonal geometry (drops slivers of lower dimension)."""
    if not geom.is_valid:
        geom = make_valid(geom)
    parts = polygon_parts(geom)
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def to_feature(geom: BaseGeometry, **props) -> dict:
    return {"type": "Feature", "geometry": mapping(geom), "properties": props}


def from_geojson_geometry(obj: dict) -> BaseGeometry:
    return shape(obj)


def haversine_m(lat1, lon1, lat2, lon2) -> float:
    """Great-circle distance in metres (spherical Earth, R = 6371008.8 m)."""
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Structure:
    """A building of a zone file (``kind: structure``): its footprint (lon/lat) and ``height_m`` above the ground
    (None: not given). ``plan structure --zone`` scans one; the others are obstacles its path must not enter."""

    name: str
    geometry: BaseGeometry
    height_m: float | None = None


def load_structures(path: Path | str | None = None) -> list[Structure]:
    """The features of a zone file whose ``kind`` property is ``structure``, with their ``height_m``."""
    from dronectl.limits import check_range

    path = Path(path) if path else DEFAULT_ZONES
    out = []
    for i, row in enumerate(_read_features(path, "zone"), start=1):
        if getattr(row, "kind", None) != "structure":
            continue
        name = str(getattr(row, "name", None) or f"zone-{i}")
        height = getattr(row, "height_m", None)
        if height is None or (isinstance(height, float) and math.isnan(height)):
            height = None
        else:
            check_range(f"structure '{name}' in {path}: height_m", height, (0.0, 1000.0, "m"))
            height = float(height)
        out.append(Structure(name, _check_polygon(row.geometry, f"structure '{name}' in {path}"), height))
    return out


# ArduCopter keeps its geofence in 560 bytes of storage on SITL and on F4/F7/H7 flight controllers
# (StorageManager's StorageFence areas: 48 + 256 + 256): a 4-byte header, then per polygon 2 bytes and 8 per
# vertex (AC_PolyFence_loader::fence_storage_space_required); the upload is refused (NO_SPACE) beyond it.
FENCE_STORAGE_BYTES = 560
FENCE_INCLUSION_VERTICES = 40  # the inclusion polygon is simplified to at most this many vertices
FENCE_EXCLUSION_VERTICES = 16  # and each exclusion polygon to at most this many


def fence_bytes(polygons) -> int:
    """Bytes of ArduCopter's fence storage that these :class:`dronectl.mission.FencePolygon` take."""
    return 4 + sum(2 + 8 * len(p.vertices) for p in polygons)


def _at_most(poly: Polygon, n: int, grow: bool) -> Polygon | None:
    """``poly`` with at most ``n`` vertices: simplified by a growing tolerance ``t`` (which moves the outline at
    most ``t``), then moved by ``t`` with mitred corners, outwards (``grow``: it covers ``poly``; the convex
    hull is taken first) or inwards (it lies inside ``poly``; None when nothing is left)."""
    poly = poly.convex_hull if grow else Polygon(poly.exterior)
    t, out = 0.25, poly
    while len(out.exterior.coords) - 1 > n:
        out = poly.simplify(t, preserve_topology=True).buffer(t if grow else -t, join_style="mitre", mitre_limit=10.0)
        if not grow:
            parts = polygon_parts(out)
            if not parts:
                return None
            out = Polygon(max(parts, key=lambda p: p.area).exterior)
        t *= 1.5
    return out


def fence_polygons(proj: "Projector", inclusion_m: BaseGeometry, exclusions_m: BaseGeometry | None = None) -> tuple:
    """The geofence a mission carries: ``inclusion_m`` (metres; its convex hull, within
    ``FENCE_INCLUSION_VERTICES`` and covering it) and the exclusion polygons, each within
    ``FENCE_EXCLUSION_VERTICES`` and inside the one it stands for (a fence breach is an RTL: the fence may be
    looser than the zone, never tighter), largest first while they fit ArduCopter's ``FENCE_STORAGE_BYTES``. The
    path avoids every exclusion either way, and ``plan check`` checks them all."""
    from dronectl.mission import FencePolygon

    def poly(p: Polygon, inclusion: bool) -> FencePolygon:
        ll = proj.to_lonlat(p)
        return FencePolygon(tuple((round(y, 7), round(x, 7)) for x, y in ll.exterior.coords[:-1]), inclusion)

    out = [poly(_at_most(inclusion_m, FENCE_INCLUSION_VERTICES, grow=True), True)]
    parts = polygon_parts(exclusions_m) if exclusions_m is not None and not exclusions_m.is_empty else []
    for part in sorted(parts, key=lambda p: -p.area):
        small = _at_most(part, FENCE_EXCLUSION_VERTICES, grow=False)
        if small is not None and fence_bytes(out + [p := poly(small, False)]) <= FENCE_STORAGE_BYTES:
            out.append(p)
    return tuple(out)
