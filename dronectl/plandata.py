"""What dronectl planned, as a typed value: the pattern, the zone, the camera, the limits, the photo points.

A :class:`~dronectl.mission.Mission` that dronectl's planner made carries a :class:`PlanData` (``plan_data``);
every module that needs to know what was planned (the checks, the previews, the exports, ``fly``'s camera) reads
its attributes. ``.plan`` files keep it, flat, under their top-level ``"dronectl"`` key, which other ground
stations ignore; :meth:`PlanData.to_dict` / :meth:`PlanData.from_dict` are that key's writer and reader, and
``from_dict`` checks every number as the planner checks options (:mod:`dronectl.limits`).

The common part (zone, camera, speed, limits, this sortie, its photo points, the zone outline) is shared by every
pattern; :attr:`PlanData.part` holds what only one pattern has (a survey's bearing, a corridor's centre line, an
orbit's centre, a structure's outline and heights), and :attr:`PlanData.grid` the photo geometry of the patterns
that fly photo lines (survey and corridor). Geometries are shapely objects in lon/lat degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Union

from shapely.errors import GEOSException
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from dronectl import limits as L
from dronectl.errors import InputError


@dataclass(frozen=True)
class PhotoPoint:
    """Where a photo is taken: lon/lat degrees, the heading the camera faces (degrees from north: the flight
    bearing on a photo line, the ROI on a ring), and on ring patterns the height above the take-off point."""

    lon_deg: float
    lat_deg: float
    heading_deg: float
    alt_m: float | None = None

    def to_list(self) -> list:
        return [self.lon_deg, self.lat_deg, self.heading_deg] + ([self.alt_m] if self.alt_m is not None else [])


@dataclass(frozen=True)
class PlanLimits:
    """The limits a plan was made for, which ``plan check`` uses unless told otherwise."""

    battery_min: float = 25.0
    reserve: float = 0.25
    capacity: int = 650
    vlos_m: float = 500.0

    @classmethod
    def of(cls, params) -> "PlanLimits":
        """The limits of any pattern's parameters (``battery_min``, ``reserve``, ``capacity``, ``vlos_m``)."""
        return cls(params.battery_min, params.reserve, params.capacity, params.vlos_m)


@dataclass(frozen=True)
class PhotoGrid:
    """The photo geometry of photo lines (survey and corridor)."""

    altitude_m: float
    gsd_cm: float
    front_overlap: float
    side_overlap: float
    trigger_distance_m: float
    line_spacing_m: float
    footprint_side_m: float
    footprint_front_m: float
    terrain: bool = False


@dataclass(frozen=True)
class SurveyPart:
    pattern = "survey"
    angle_deg: float
    crosshatch: bool = False


@dataclass(frozen=True)
class CorridorPart:
    pattern = "corridor"
    width_m: float
    corridor_length_m: float
    line: BaseGeometry  # the centre line (lon/lat)


@dataclass(frozen=True)
class OrbitPart:
    pattern = "orbit"
    center_latlon: tuple[float, float]
    radius_m: float
    photos_per_ring: int


@dataclass(frozen=True)
class StructurePart:
    pattern = "structure"
    outline: BaseGeometry  # the building's footprint (lon/lat)
    height_m: float
    bottom_m: float
    distance_m: float
    pitch_deg: float
    safe_altitude_m: float
    layers: int


PatternPart = Union[SurveyPart, CorridorPart, OrbitPart, StructurePart]
PARTS = {p.pattern: p for p in (SurveyPart, CorridorPart, OrbitPart, StructurePart)}
_GEOMETRIES = ("line", "outline")


@dataclass(frozen=True)
class PlanData:
    """One sortie of a plan, as dronectl planned it."""

    zone: str
    camera: str
    speed_mps: float
    limits: PlanLimits
    part: PatternPart
    grid: PhotoGrid | None = None
    area: BaseGeometry | None = None  # the zone photographed (an orbit's circle), lon/lat
    exclusions: BaseGeometry | None = None
    sortie: int = 1
    sorties: int = 1
    home: int | None = None  # with several take-off points: this sortie's (1-based)
    duration_s: float | None = None
    length_m: float | None = None
    ring_altitudes_m: tuple[float, ...] = ()  # ring patterns: the heights this sortie flies
    photo_points: tuple[PhotoPoint, ...] = ()

    @property
    def pattern(self) -> str:
        return self.part.pattern

    @property
    def photos(self) -> int:
        return len(self.photo_points)

    def to_dict(self) -> dict:
        """The flat ``"dronectl"`` object of a ``.plan`` file (keys as dronectl has always written them)."""
        out: dict = {"pattern": self.pattern, "zone": self.zone, "camera": self.camera}
        for part in (self.grid, self.part):
            for f in fields(part) if part is not None else ():
                v = getattr(part, f.name)
                if f.name == "center_latlon":
                    out["center"] = list(v)
                else:
                    out[f.name] = mapping(v) if f.name in _GEOMETRIES else v
        out["speed_mps"] = self.speed_mps
        out.update({f.name: getattr(self.limits, f.name) for f in fields(self.limits)})
        for key in ("area", "exclusions"):
            if getattr(self, key) is not None:
                out[key] = mapping(getattr(self, key))
        out.update(sortie=self.sortie, sorties=self.sorties)
        if self.home is not None:
            out["home"] = self.home
        if self.ring_altitudes_m:
            out["altitudes_m"] = list(self.ring_altitudes_m)
        for key in ("duration_s", "length_m"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["photos"] = self.photos
        out["photo_points"] = [p.to_list() for p in self.photo_points]
        return out

    @classmethod
    def from_dict(cls, d: dict, label: str = "dronectl data") -> "PlanData":
        """Read the ``"dronectl"`` object of a ``.plan`` file; InputError naming the key for a missing or
        out-of-range value. A file without ``pattern`` (dronectl before 0.9 wrote none for a survey) is a survey."""
        if not isinstance(d, dict):
            raise InputError(f"{label} must be an object")
        r = _Reader(d, label)
        pattern = r.str("pattern", "survey")
        if pattern not in PARTS:
            raise InputError(f"{label} 'pattern' {pattern!r}: must be one of {', '.join(PARTS)}")
        limits = PlanLimits(battery_min=r.num("battery_min", L.BATTERY_MIN, default=25.0),
                            reserve=r.num("reserve", L.RESERVE_PCT, scale=100.0, default=0.25),
                            capacity=r.num("capacity", L.CAPACITY_ITEMS, integer=True, default=650),
                            vlos_m=r.num("vlos_m", L.VLOS_M, default=500.0))
        grid = None
        if pattern in ("survey", "corridor") and any(f.name in d for f in fields(PhotoGrid)):
            grid = PhotoGrid(
                altitude_m=r.num("altitude_m", (0.0, 10000.0, "m")), gsd_cm=r.num("gsd_cm", L.GSD_CM),
                front_overlap=r.num("front_overlap", L.OVERLAP_PCT, scale=100.0),
                side_overlap=r.num("side_overlap", L.OVERLAP_PCT, scale=100.0),
                trigger_distance_m=r.num("trigger_distance_m", _POSITIVE_M),
                line_spacing_m=r.num("line_spacing_m", _POSITIVE_M),
                footprint_side_m=r.num("footprint_side_m", _POSITIVE_M),
                footprint_front_m=r.num("footprint_front_m", _POSITIVE_M), terrain=r.bool("terrain", False))
        if pattern == "survey":
            part: PatternPart = SurveyPart(r.num("angle_deg", L.ANGLE_DEG), r.bool("crosshatch", False))
        elif pattern == "corridor":
            part = CorridorPart(r.num("width_m", L.CORRIDOR_WIDTH_M), r.num("corridor_length_m", _POSITIVE_M),
                                r.geom("line"))
        elif pattern == "orbit":
            c = d.get("center")
            if not (isinstance(c, list) and len(c) == 2):
                raise InputError(f"{label} 'center' must be [latitude, longitude]")
            part = OrbitPart((r.num("center", (-90.0, 90.0, "degrees"), value=c[0]),
                              r.num("center", (-180.0, 180.0, "degrees"), value=c[1])),
                             r.num("radius_m", _POSITIVE_M), r.num("photos_per_ring", (1, 10000, "photos"),
                                                                   integer=True))
        else:
            part = StructurePart(r.geom("outline"), r.num("height_m", _HEIGHT_M), r.num("bottom_m", _HEIGHT_M),
                                 r.num("distance_m", _POSITIVE_M), r.num("pitch_deg", (-90.0, 90.0, "degrees")),
                                 r.num("safe_altitude_m", _HEIGHT_M), r.num("layers", (1, 10000, "layers"),
                                                                            integer=True))
        points = d.get("photo_points") or []
        if not isinstance(points, list):
            raise InputError(f"{label} 'photo_points' must be a list")
        photo_points = []
        for n, p in enumerate(points, start=1):
            if not (isinstance(p, list) and len(p) in (3, 4)):
                raise InputError(f"{label} photo point {n}: must be [lon, lat, heading] or [lon, lat, heading, height]")
            what = f"photo point {n}"
            photo_points.append(PhotoPoint(r.num(what, (-180.0, 180.0, "degrees"), value=p[0]),
                                           r.num(what, (-90.0, 90.0, "degrees"), value=p[1]),
                                           r.num(what, (-360.0, 360.0, "degrees"), value=p[2]),
                                           r.num(what, _HEIGHT_M, value=p[3]) if len(p) > 3 else None))
        alts = d.get("altitudes_m") or []
        if not isinstance(alts, list):
            raise InputError(f"{label} 'altitudes_m' must be a list of heights")
        return cls(zone=r.str("zone", pattern), camera=r.str("camera", "sim"),
                   speed_mps=r.num("speed_mps", L.SPEED_MPS), limits=limits, part=part, grid=grid,
                   area=r.geom("area", optional=True), exclusions=r.geom("exclusions", optional=True),
                   sortie=r.num("sortie", (1, 10000, ""), integer=True, default=1),
                   sorties=r.num("sorties", (1, 10000, ""), integer=True, default=1),
                   home=r.num("home", (1, 10000, ""), integer=True, default=None),
                   duration_s=r.num("duration_s", (0.0, 1e6, "s"), default=None),
                   length_m=r.num("length_m", (0.0, 1e7, "m"), default=None),
                   ring_altitudes_m=tuple(r.num("altitudes_m", _HEIGHT_M, value=a) for a in alts),
                   photo_points=tuple(photo_points))


_POSITIVE_M = (0.0, 1e5, "m")
_HEIGHT_M = (-1000.0, 10000.0, "m")


class _Reader:
    """Typed, range-checked values of the ``"dronectl"`` object; errors name the key."""

    def __init__(self, d: dict, label: str):
        self.d, self.label = d, label

    def num(self, key, lim, scale: float = 1.0, integer: bool = False, value=..., default=...):
        v = self.d.get(key) if value is ... else value
        if v is None:
            if default is not ...:
                return default
            raise InputError(f"{self.label} '{key}' is missing: plan it again with dronectl")
        if integer and isinstance(v, float) and v.is_integer():
            v = int(v)
        L.check_range(f"{self.label} '{key}'", v, lim, scale=scale, integer=integer)
        return v if integer else float(v)

    def str(self, key, default):
        v = self.d.get(key, default)
        if not isinstance(v, str):
            raise InputError(f"{self.label} '{key}' must be a text")
        return v

    def bool(self, key, default):
        v = self.d.get(key, default)
        if not isinstance(v, bool):
            raise InputError(f"{self.label} '{key}' must be true or false")
        return v

    def geom(self, key, optional: bool = False) -> BaseGeometry | None:
        v = self.d.get(key)
        if v is None and optional:
            return None
        try:
            g = shape(v)
            ok = not g.is_empty and all(math.isfinite(c) and -180 <= c <= 180 for c in g.bounds)
        except (GEOSException, AttributeError, KeyError, TypeError, ValueError, IndexError):
            ok = False
        if not ok:
            raise InputError(f"{self.label} '{key}' is not a GeoJSON geometry in degrees: plan it again with dronectl")
        return g
