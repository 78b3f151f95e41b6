"""Preflight checks: the rules a mission must pass before it flies (PRODUCT §4).

:func:`check_mission` is pure: a Mission and optional airspace, zone and limits in, a list of
:class:`Violation` out (empty = fit to fly). Each violation names the rule, the first or worst item at
fault (1-based, = MAVLink seq, home being seq 0) and says in one sentence what is wrong and what to do.
A rule that many items break gives one violation, for the worst item, with a count, not hundreds of lines.

Rules (``Violation.rule``):

- ``altitude``: every positioned item at most ``max_altitude_m`` (120 m, EU open category) above ground, and
  not below it.
- ``airspace``: every item, and every leg between items, under the ceiling of the airspace zones it is in.
- ``forbidden``: no item, take-off point or leg inside a zone whose ceiling is 0.
- ``geofence``: inside ``zone`` plus ``fence_buffer_m``; with no zone, inside the mission's own inclusion
  fences and outside its exclusion fences (ArduPilot's rule: inside every inclusion fence).
- ``vlos``: no item farther than ``vlos_radius_m`` from the take-off point (horizontal distance).
- ``battery``: estimated flight time within one battery minus the reserve.
- ``capacity``: items plus home within the autopilot's mission capacity.
- ``structure``: a structure scan (``plan structure``) keeps 90 % of its distance from the structure (footprint up
  to its height) at every item and along every leg between items, and no waypoint near it is under its bottom.
- ``empty``: a mission with no take-off and no waypoint has nothing to fly (the only violation reported then).

Heights above ground: frame 3 (relative) is above the take-off point, frame 10 (terrain) above the
ground below, frame 0 (absolute) above sea level, compared with home's altitude. Without a ground model
the ground is taken as flat at the take-off point; give ``ground_amsl_m`` (e.g. a DEM sampler) to check
terrain-following plans over uneven ground exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import LineString, MultiPoint, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from dronectl.geo import AirspaceZone, DEFAULT_CEILING_M, Projector, haversine_m
from dronectl.mission import (
    CMD_NAV_RETURN_TO_LAUNCH,
    CMD_NAV_TAKEOFF,
    CMD_NAV_WAYPOINT,
    FRAME_GLOBAL,
    FRAME_GLOBAL_RELATIVE_ALT,
    FRAME_GLOBAL_TERRAIN_ALT,
    Home,
    Mission,
    MissionItem,
)
from dronectl import limits
from dronectl.limits import check_range
from dronectl.timing import estimate_duration_s

DEFAULT_FENCE_BUFFER_M = 30.0
DEFAULT_VLOS_RADIUS_M = 500.0
DEFAULT_RESERVE = 0.25
DEFAULT_CAPACITY = 650
_TOL_M = 0.01  # altitudes are stored to the centimetre

# MAV_FRAME *_INT variants mean the same as their float cousins.
_FRAME_ALIASES = {5: FRAME_GLOBAL, 6: FRAME_GLOBAL_RELATIVE_ALT, 11: FRAME_GLOBAL_TERRAIN_ALT}

GroundModel = Callable[[float, float], float]  # (lon, lat) -> ground height above sea level, metres


@dataclass(frozen=True)
class Violation:
    rule: str
    item: int | None  # 1-based item number (MAVLink seq); None for the whole mission or the take-off point
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class _Stop:
    """A place the vehicle flies through: an item (seq) or the take-off point (seq None)."""

    seq: int | None
    lon: float
    lat: float
    height_m: float | None  # above ground; None when it cannot be known
    item: MissionItem | None = None

    @property
    def point(self) -> Point:
        return Point(self.lon, self.lat)

    @property
    def label(self) -> str:
        return "the take-off point" if self.seq is None else f"item {self.seq}"


def _m(v: float) -> str:
    """Metres for a message: 130, 97.5."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _more(n: int, what: str = "item") -> str:
    """' (and 3 other items)' when n places break the rule and one is named."""
    if n <= 1:
        return ""
    return f" (and {n - 1} other {what}{'s' if n > 2 else ''})"


def _frame(f: int) -> int:
    return _FRAME_ALIASES.get(f, f)


def _height_agl(it: MissionItem, lon: float, lat: float, home: Home | None, ground: GroundModel | None) -> float | None:
    f = _frame(it.frame)
    if f == FRAME_GLOBAL_TERRAIN_ALT:
        return it.alt_m
    if f == FRAME_GLOBAL_RELATIVE_ALT:
        if ground is not None and home is not None:
            return it.alt_m + home.alt_m - ground(lon, lat)
        return it.alt_m
    if f == FRAME_GLOBAL:
        if ground is not None:
            return it.alt_m - ground(lon, lat)
        return it.alt_m - home.alt_m if home is not None else None
    return None


def _stops(m: Mission, ground: GroundModel | None) -> list[_Stop]:
    """Every positioned item in order; a take-off with no coordinates climbs over home."""
    out = []
    for n, it in enumerate(m.items, start=1):
        if it.has_position:
            lon, lat = it.lon_deg, it.lat_deg
        elif it.command == CMD_NAV_TAKEOFF and m.home is not None:
            lon, lat = m.home.lon_deg, m.home.lat_deg
        else:
            continue
        out.append(_Stop(n, lon, lat, _height_agl(it, lon, lat, m.home, ground), it))
    return out


def _home_stop(m: Mission) -> _Stop | None:
    if m.home is not None:
        return _Stop(None, m.home.lon_deg, m.home.lat_deg, 0.0)
    return None


def _legs(m: Mission, stops: list[_Stop], home: _Stop | None) -> list[tuple[_Stop, _Stop]]:
    """Consecutive pairs of places flown through, from take-off to the return to launch."""
    seq: list[_Stop] = []
    if home is not None:
        seq.append(home)
    by_item = {s.seq: s for s in stops}
    last = None
    for n, it in enumerate(m.items, start=1):
        if n in by_item:
            seq.append(by_item[n])
            last = by_item[n]
        elif it.command == CMD_NAV_RETURN_TO_LAUNCH and home is not None and last is not None:
            # RTL flies back at (at least) the height it had; take the conservative one
            seq.append(_Stop(None, home.lon, home.lat, last.height_m))
    return [(a, b) for a, b in zip(seq, seq[1:]) if (a.lon, a.lat) != (b.lon, b.lat)]


def _leg_label(a: _Stop, b: _Stop) -> str:
    if a.seq is None:
        return f"the leg from the take-off point to item {b.seq}"
    if b.seq is None:
        return f"the return to launch from item {a.seq}"
    return f"the leg from item {a.seq} to item {b.seq}"


def _max_height_inside(a: _Stop, b: _Stop, area: BaseGeometry) -> float | None:
    """Highest height above ground along the leg a-b where it is inside ``area`` (None if it stays out)."""
    leg = LineString([(a.lon, a.lat), (b.lon, b.lat)])
    inside = leg.intersection(area)
    if inside.is_empty or inside.length == 0:
        return None
    if a.height_m is None or b.height_m is None:
        return math.inf
    coords = [c for g in getattr(inside, "geoms", [inside]) for c in g.coords]
    ts = [leg.project(Point(c), normalized=True) for c in coords]
    return max(a.height_m + (b.height_m - a.height_m) * t for t in ts)


def _touching(legs: list[tuple[_Stop, _Stop]], area: BaseGeometry) -> list[tuple[_Stop, _Stop]]:
    """The legs that meet ``area`` (one vectorised test; the rules then measure those)."""
    if not legs:
        return []
    lines = shapely.linestrings([[(a.lon, a.lat), (b.lon, b.lat)] for a, b in legs])
    return [leg for leg, hit in zip(legs, shapely.intersects(area, lines)) if hit]


# --- the rules -------------------------------------------------------------------------------------------

def _check_altitude(stops: list[_Stop], max_altitude_m: float) -> list[Violation]:
    out = []
    unknown = [s for s in stops if s.height_m is None]
    if unknown:
        s = unknown[0]
        out.append(Violation("altitude", s.seq, f"{s.label} uses MAVLink frame {s.item.frame}, whose height above "
                                                f"ground cannot be known here{_more(len(unknown))}: use relative "
                                                "(3) or terrain (10) altitudes, or give the plan a home altitude"))
    low = [s for s in stops if s.height_m is not None and s.height_m < -_TOL_M]
    if low:
        s = min(low, key=lambda s: s.height_m)
        out.append(Violation("altitude", s.seq, f"{s.label} at {_m(s.height_m)} m is below the ground"
                                                f"{_more(len(low))} (taken as flat at the take-off point where no "
                                                "ground model is given): raise it"))
    high = [s for s in stops if s.height_m is not None and s.height_m > max_altitude_m + _TOL_M]
    if high:
        s = max(high, key=lambda s: s.height_m)
        out.append(Violation("altitude", s.seq, f"{s.label} at {_m(s.height_m)} m is above the {_m(max_altitude_m)} m "
                                                f"limit{_more(len(high))}: lower --altitude"))
    return out


def _check_airspace(stops, legs, home: _Stop | None, airspace: list[AirspaceZone], max_altitude_m: float):
    out = []
    for z in airspace:
        if z.ceiling_m >= max_altitude_m:
            continue  # the general limit is the stricter one
        shapely.prepare(z.geometry)
        hit = shapely.intersects(z.geometry, shapely.points([(s.lon, s.lat) for s in stops])) if stops else []
        inside = [s for s, h in zip(stops, hit) if h]
        if z.ceiling_m <= 0:
            if home is not None and z.geometry.intersects(home.point):
                out.append(Violation("forbidden", None, f"the take-off point is inside '{z.name}', where flying "
                                                        "is forbidden: take off elsewhere (--home)"))
            if inside:
                s = inside[0]
                out.append(Violation("forbidden", s.seq, f"{s.label} is inside '{z.name}', where flying is "
                                                         f"forbidden{_more(len(inside))}: leave that area out "
                                                         "(--exclude) or move the zone"))
                continue
            crossing = [(a, b) for a, b in _touching(legs, z.geometry)
                        if _max_height_inside(a, b, z.geometry) is not None]
            if crossing:
                a, b = crossing[0]
                out.append(Violation("forbidden", b.seq if b.seq is not None else a.seq,
                                     f"{_leg_label(a, b)} crosses '{z.name}', where flying is forbidden"
                                     f"{_more(len(crossing), 'leg')}: route around it (--exclude)"))
            continue
        high = [s for s in inside if s.height_m is None or s.height_m > z.ceiling_m + _TOL_M]
        if high:
            s = max(high, key=lambda s: math.inf if s.height_m is None else s.height_m)
            at = "" if s.height_m is None else f" at {_m(s.height_m)} m"
            out.append(Violation("airspace", s.seq, f"{s.label}{at} is above the {_m(z.ceiling_m)} m ceiling of "
                                                    f"'{z.name}'{_more(len(high))}: lower --altitude to "
                                                    f"{_m(z.ceiling_m)} m or less there"))
            continue
        over = []
        for a, b in _touching(legs, z.geometry):
            if a.height_m is not None and b.height_m is not None \
                    and max(a.height_m, b.height_m) <= z.ceiling_m + _TOL_M:
                continue  # a straight leg is no higher than its ends
            h = _max_height_inside(a, b, z.geometry)
            if h is not None and h > z.ceiling_m + _TOL_M:
                over.append((a, b, h))
        if over:
            a, b, h = over[0]
            at = "" if math.isinf(h) else f" at up to {_m(h)} m"
            out.append(Violation("airspace", b.seq if b.seq is not None else a.seq,
                                 f"{_leg_label(a, b)} passes through '{z.name}'{at}, above its {_m(z.ceiling_m)} m "
                                 f"ceiling{_more(len(over), 'leg')}: lower --altitude or route around it"))
    return out


def _check_zone_fence(stops, proj: Projector, zone: BaseGeometry, buffer_m: float) -> list[Violation]:
    out = []
    zone_m = proj.to_metric(zone)
    allowed = zone_m.buffer(buffer_m)
    outside = []
    for s in stops:
        p = Point(proj.xy(s.lon, s.lat))
        if not allowed.covers(p):
            outside.append((s, zone_m.distance(p)))
    if outside:
        s, d = max(outside, key=lambda t: t[1])
        out.append(Violation("geofence", s.seq, f"{s.label} is {_m(d)} m outside the zone, beyond its "
                                                f"{_m(buffer_m)} m geofence margin{_more(len(outside))}: "
                                                "check the plan was made for this zone"))
        return out
    for a, b in zip(stops, stops[1:]):
        leg = LineString([proj.xy(a.lon, a.lat), proj.xy(b.lon, b.lat)])
        if leg.length > 0 and not allowed.covers(leg):
            out.append(Violation("geofence", b.seq, f"{_leg_label(a, b)} leaves the zone by more than its "
                                                    f"{_m(buffer_m)} m geofence margin: the straight line cuts "
                                                    "across outside ground"))
            break
    return out


def _check_mission_fence(m: Mission, stops, legs, home: _Stop | None, proj: Projector) -> list[Violation]:
    inclusions, exclusions = [], []
    for fp in m.fence_polygons:
        if len(fp.vertices) < 3:
            continue
        poly = proj.to_metric(Polygon([(lon, lat) for lat, lon in fp.vertices]))
        (inclusions if fp.inclusion else exclusions).append(poly)
    for c in m.fence_circles:
        circle = Point(proj.xy(c.lon_deg, c.lat_deg)).buffer(c.radius_m, quad_segs=32)
        (inclusions if c.inclusion else exclusions).append(circle)
    if not inclusions and not exclusions:
        return []
    out = []
    places = ([home] if home is not None else []) + list(stops)

    def xy(s):
        return proj.xy(s.lon, s.lat)

    pts = shapely.points(np.column_stack(proj.xy(np.array([s.lon for s in places]),
                                                 np.array([s.lat for s in places]))))
    for g in inclusions + exclusions:
        shapely.prepare(g)
    outside = np.zeros(len(places), bool)
    for g in inclusions:
        outside |= ~shapely.covers(g, pts)
    bad = [s for s, o in zip(places, outside) if o]
    if bad:
        s = bad[0]
        out.append(Violation("geofence", s.seq, f"{s.label} is outside the plan's geofence{_more(len(bad))}: "
                                                "the autopilot would breach its fence; re-plan or fix the fence"))
    within = np.zeros(len(places), bool)
    for g in exclusions:
        within |= shapely.intersects(g, pts)
    bad = [s for s, w in zip(places, within) if w]
    if bad:
        s = bad[0]
        out.append(Violation("geofence", s.seq, f"{s.label} is inside an exclusion geofence{_more(len(bad))}: "
                                                "the autopilot would breach its fence; re-plan around it"))
    if out:
        return out
    lines = shapely.linestrings([[xy(a), xy(b)] for a, b in legs]) if legs else []
    suspect = np.zeros(len(legs), bool)
    for g in inclusions:
        suspect |= ~shapely.covers(g, lines)
    for g in exclusions:
        suspect |= shapely.intersects(g, lines)
    for (a, b), leg in ((legs[i], lines[i]) for i in np.nonzero(suspect)[0]):
        if any(not g.covers(leg) for g in inclusions) or any(g.intersection(leg).length > 0 for g in exclusions):
            out.append(Violation("geofence", b.seq if b.seq is not None else a.seq,
                                 f"{_leg_label(a, b)} crosses the plan's geofence: the autopilot would breach "
                                 "its fence; re-plan the route"))
            break
    return out


def _check_vlos(stops, origin: _Stop, radius_m: float) -> list[Violation]:
    far = [(s, haversine_m(origin.lat, origin.lon, s.lat, s.lon)) for s in stops]
    far = [(s, d) for s, d in far if d > radius_m + _TOL_M]
    if not far:
        return []
    s, d = max(far, key=lambda t: t[1])
    return [Violation("vlos", s.seq, f"{s.label} is {_m(d)} m from the take-off point, beyond the {_m(radius_m)} m "
                                     f"visual line of sight{_more(len(far))}: take off nearer (--home) or split "
                                     "the zone")]


def _check_structure(m: Mission, stops: list[_Stop]) -> list[Violation]:
    """A structure scan (dronectl data: pattern "structure", outline, height_m, bottom_m, distance_m): no waypoint
    and no leg between items nearer to the structure (its footprint up to its top) than 90 % of the distance, and
    no waypoint near it under the bottom of the facade. The take-off climb and the landing at home are not
    legs between items."""
    meta = m.meta or {}
    if meta.get("pattern") != "structure":
        return []
    try:
        outline = shape(meta["outline"])
        height, dist = float(meta["height_m"]), float(meta["distance_m"])
        bottom = float(meta.get("bottom_m") or 0.0)
        name = str(meta.get("zone") or "the structure")
    except (KeyError, TypeError, ValueError, AttributeError, GEOSException):
        return [Violation("structure", None, "the plan's dronectl data describe a structure scan without its "
                                             "outline, height_m and distance_m: plan it again (dronectl plan structure)")]
    proj = Projector.around(outline)
    foot = proj.to_metric(outline)
    placed = [s for s in stops if s.height_m is not None]
    if not placed:
        return []
    xy = np.column_stack(proj.xy(np.array([s.lon for s in placed]), np.array([s.lat for s in placed])))
    h = np.array([s.height_m for s in placed])
    out = []

    def clearance(pts_xy, heights):
        horiz = shapely.distance(foot, shapely.points(pts_xy))
        return np.hypot(horiz, np.maximum(heights - height, 0.0))

    keep = 0.9 * dist
    near = clearance(xy, h)
    bad = np.nonzero(near < keep - _TOL_M)[0]
    if len(bad):
        k = bad[np.argmin(near[bad])]
        out.append(Violation("structure", placed[k].seq,
                             f"{placed[k].label} is {_m(near[k])} m from '{name}' (up to its {_m(height)} m top), "
                             f"nearer than 90 % of the scan's {_m(dist)} m distance{_more(len(bad))}: plan the scan "
                             "again (dronectl plan structure)"))
    elif len(placed) > 1:  # every leg between items, sampled every metre or so
        seg = np.hypot(*np.diff(xy, axis=0).T)
        n = (seg // 1.0).astype(int) + 2
        leg = np.repeat(np.arange(len(seg)), n)
        t = (np.arange(len(leg)) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n - 1, n)
        c = clearance(xy[leg] + t[:, None] * (xy[leg + 1] - xy[leg]), h[leg] + t * (h[leg + 1] - h[leg]))
        if c.min() < keep - _TOL_M:
            i = int(leg[np.argmin(c)])
            a, b = placed[i], placed[i + 1]
            out.append(Violation("structure", b.seq, f"{_leg_label(a, b)} passes {_m(c.min())} m from '{name}' "
                                                     f"(up to its {_m(height)} m top), nearer than 90 % of the "
                                                     f"scan's {_m(dist)} m distance: plan the scan again"))
    around = shapely.distance(foot, shapely.points(xy)) <= 1.5 * dist
    low = [s for s, ok in zip(placed, around) if ok and s.item is not None and s.item.command == CMD_NAV_WAYPOINT
           and s.height_m < bottom - _TOL_M]
    if low:
        s = min(low, key=lambda s: s.height_m)
        out.append(Violation("structure", s.seq, f"{s.label} at {_m(s.height_m)} m is under the {_m(bottom)} m bottom "
                                                 f"of the facade of '{name}'{_more(len(low))}: raise it"))
    return out


# --- entry points ----------------------------------------------------------------------------------------

def check_mission(mission: Mission, airspace: list[AirspaceZone] | None = None, zone: BaseGeometry | None = None,
                  fence_buffer_m: float = DEFAULT_FENCE_BUFFER_M, vlos_radius_m: float | None = DEFAULT_VLOS_RADIUS_M,
                  battery_time_s: float | None = None, reserve: float = DEFAULT_RESERVE,
                  capacity: int | None = DEFAULT_CAPACITY, max_altitude_m: float = DEFAULT_CEILING_M,
                  cruise_speed_mps: float | None = None, ground_amsl_m: GroundModel | None = None) -> list[Violation]:
    """Every preflight rule broken by ``mission`` (empty list: fit to fly). Pure; see the module docstring.

    ``zone`` is the area the plan was made for (lon/lat); without it the mission's own geofence is used.
    ``battery_time_s`` None skips the battery rule, ``vlos_radius_m`` / ``capacity`` None skip theirs.
    The limits must be finite and in range (:mod:`dronectl.limits`): InputError names the option if not.
    """
    if vlos_radius_m is not None:
        check_range("--vlos", vlos_radius_m, limits.VLOS_M)
    if battery_time_s is not None:
        check_range("--battery-min", battery_time_s, limits.BATTERY_MIN, scale=1 / 60)
    check_range("--reserve", reserve, limits.RESERVE_PCT, scale=100.0)
    if capacity is not None:
        check_range("--capacity", capacity, limits.CAPACITY_ITEMS, integer=True)
    check_range("fence_buffer_m", fence_buffer_m, limits.MARGIN_M)
    check_range("max_altitude_m", max_altitude_m, (1.0, 500.0, "m"))
    if cruise_speed_mps is not None:
        check_range("--speed", cruise_speed_mps, limits.SPEED_MPS)
    if not any(it.has_position or it.command == CMD_NAV_TAKEOFF for it in mission.items):
        what = "no items" if not mission.items else f"{len(mission.items)} item(s) but no take-off and no waypoint"
        return [Violation("empty", None, f"the mission has {what}: there is nothing to fly; plan it again "
                                         "(dronectl plan survey)")]
    out: list[Violation] = []
    stops = _stops(mission, ground_amsl_m)
    home = _home_stop(mission)
    legs = _legs(mission, stops, home)

    out += _check_altitude(stops, max_altitude_m)
    if airspace:
        out += _check_airspace(stops, legs, home, airspace, max_altitude_m)
    if stops or home is not None:
        where = [s.point for s in stops] + ([home.point] if home is not None else [])
        proj = Projector.around(zone if zone is not None and not zone.is_empty else MultiPoint(where))
        if zone is not None and not zone.is_empty:
            out += _check_zone_fence(stops, proj, zone, fence_buffer_m)
        else:
            out += _check_mission_fence(mission, stops, legs, home, proj)
    origin = home or (stops[0] if stops else None)
    if vlos_radius_m is not None and origin is not None:
        out += _check_vlos(stops, origin, vlos_radius_m)
    out += _check_structure(mission, stops)
    if battery_time_s is not None:
        est = estimate_duration_s(mission, cruise_speed_mps)
        usable = battery_time_s * (1.0 - reserve)
        if est > usable:
            out.append(Violation("battery", None, f"estimated flight time {est / 60:.1f} min is more than one battery "
                                                  f"allows ({battery_time_s / 60:.1f} min minus {reserve * 100:g} % "
                                                  f"reserve = {usable / 60:.1f} min): split the plan into sorties "
                                                  "(--battery-min)"))
    if capacity is not None and len(mission.items) + 1 > capacity:
        out.append(Violation("capacity", None, f"the mission has {len(mission.items) + 1} items with home, more than "
                                               f"the autopilot's capacity of {capacity}: split it into sorties "
                                               "(--capacity) or trigger the camera by distance"))
    return out


PLANNED = "planned"  # check_planned: use the limit the plan was made with


def check_planned(mission: Mission, airspace: list[AirspaceZone] | None, source: str = "the plan",
                  vlos_m: float | None | str = PLANNED, battery_min: float | None = None,
                  reserve: float | None = None, capacity: int | None | str = PLANNED) -> list[Violation]:
    """:func:`check_mission` with the limits the plan was made with. Pure: the caller reads the file
    (:func:`dronectl.api.check_plan_file`); ``source`` names it in messages.

    The battery time, reserve, line-of-sight radius and mission capacity default to those the plan was
    made with (dronectl metadata), else 25 min, 25 %, 500 m and 650 items (None skips the VLOS/capacity rule).
    """
    meta = mission.meta or {}

    def planned(key, default, lim, **kw):
        """A limit the plan was made with (its dronectl data), checked like the option it came from."""
        v = meta.get(key)
        if v is None:
            return default
        check_range(f"{source}: dronectl data '{key}'", v, lim, **kw)
        return v

    if battery_min is None:
        battery_min = planned("battery_min", 25.0, limits.BATTERY_MIN)
    if reserve is None:
        reserve = planned("reserve", DEFAULT_RESERVE, limits.RESERVE_PCT, scale=100.0)
    if vlos_m is PLANNED:
        vlos_m = planned("vlos_m", DEFAULT_VLOS_RADIUS_M, limits.VLOS_M)
    if capacity is PLANNED:
        capacity = planned("capacity", DEFAULT_CAPACITY, limits.CAPACITY_ITEMS, integer=True)
    return check_mission(mission, airspace=airspace, vlos_radius_m=vlos_m, battery_time_s=battery_min * 60.0,
                         reserve=reserve, capacity=capacity)
