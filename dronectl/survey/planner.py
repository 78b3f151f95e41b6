"""plan_survey: from a zone polygon, a camera and parameters to one or more complete missions.

Steps: project to a local metric CRS; subtract exclusion zones (and forbidden airspace); pick the sweep
bearing (given, or the one with the shortest estimated flight); cut transects into photo segments;
group them into cells and order them; join them with legs that go round exclusion zones; add
turnarounds and terrain-following altitudes; split into sorties that fit a battery and the autopilot's
mission capacity; build each sortie's MAVLink items; report the numbers and the nadir coverage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from dronectl.camera import Camera, grid_geometry
from dronectl.errors import InputError, PlanningError
from dronectl.geo import AirspaceZone, Projector, clean, fence_polygons, polygon_parts, swapped_axes_warning
from dronectl.limits import SPEED_MPS, check_range
from dronectl.mission import (CMD_DO_CHANGE_SPEED, CMD_DO_SET_CAM_TRIGG_DIST, CMD_NAV_RETURN_TO_LAUNCH,
                              CMD_NAV_TAKEOFF, CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, FRAME_MISSION,
                              Home, Mission, MissionItem)
from dronectl.plandata import PhotoGrid, PhotoPoint, PlanData, PlanLimits, SurveyPart
from dronectl.survey.grid import SweepFrame, transect_segments
from dronectl.survey.order import Pass, build_cells, order_passes
from dronectl.survey.rings import photo_speed
from dronectl.survey.route import Router
from dronectl.survey.summary import FIGURES, PlanSummary, take_offs
from dronectl.timing import ACCEL_MPS2, path_duration_s


# A line crosses a gap (hole, concavity) with the camera off when the gap is at most this many line
# spacings; wider gaps split the line into separate cells.
MAX_GAP_LINES = 4.0
# With several take-off points a sortie keeps this fraction of the VLOS radius from its own, measured in the local
# metric CRS, so that `plan check` (great-circle distances) never finds it a few centimetres beyond.
VLOS_SAFETY = 0.998


@dataclass(frozen=True)
class SurveyParams:
    altitude_m: float | None = None  # height above ground; or give gsd_cm
    gsd_cm: float | None = None
    front_overlap: float = 0.80
    side_overlap: float = 0.70
    angle_deg: float | None = None  # bearing of the flight lines; None = auto
    speed_mps: float = 5.0
    turnaround_m: float = 5.0
    crosshatch: bool = False
    portrait: bool = False
    home_latlon: tuple[float, float] | None = None
    home_alt_m: float | None = None  # AMSL; from the DEM when there is one
    homes: tuple[tuple[float, ...], ...] = ()  # several take-off points (lat, lon[, alt AMSL]), instead of home_latlon
    battery_min: float = 25.0
    reserve: float = 0.25
    capacity: int = 650  # mission items including home (ArduPilot SITL)
    exclusion_margin_m: float = 5.0
    terrain_tolerance_m: float = 3.0
    max_altitude_m: float = 120.0
    fence_margin_m: float = 20.0
    default_altitude_m: float = 60.0
    vlos_m: float = 500.0  # warn when a waypoint is farther than this from the take-off point

    def __post_init__(self):
        """Every number finite and in its physical range (dronectl.limits); one line naming the option if not."""
        from dronectl import limits as L

        L.check_flight_limits(self)
        alt_range = (L.ALTITUDE_M[0], self.max_altitude_m, "m")
        if self.altitude_m is not None and self.gsd_cm is not None:
            raise InputError("give --altitude or --gsd, not both")
        if self.altitude_m is not None:
            check_range("--altitude", self.altitude_m, alt_range)
        if self.gsd_cm is not None:
            check_range("--gsd", self.gsd_cm, L.GSD_CM)
        check_range("default_altitude_m", self.default_altitude_m, alt_range)
        check_range("--front-overlap", self.front_overlap, L.OVERLAP_PCT, scale=100.0)
        check_range("--side-overlap", self.side_overlap, L.OVERLAP_PCT, scale=100.0)
        if self.angle_deg is not None:
            check_range("--angle", self.angle_deg, L.ANGLE_DEG)
        check_range("--turnaround", self.turnaround_m, L.TURNAROUND_M)
        if self.homes and (self.home_latlon is not None or self.home_alt_m is not None):
            raise InputError("give the take-off points once: --home LAT,LON (repeatable) or --homes FILE")
        for n, h in enumerate(self.homes, start=1):
            if len(h) not in (2, 3):
                raise InputError(f"take-off point {n} is {h!r}: give LAT,LON or LAT,LON,ALT")
            check_range(f"take-off point {n} latitude", h[0], (-90.0, 90.0, "degrees"))
            check_range(f"take-off point {n} longitude", h[1], (-180.0, 180.0, "degrees"))
            if len(h) > 2 and h[2] is not None:
                check_range(f"take-off point {n} altitude", h[2], L.HOME_ALT_M)
        check_range("exclusion_margin_m", self.exclusion_margin_m, L.MARGIN_M)
        check_range("--terrain-tolerance", self.terrain_tolerance_m, L.TERRAIN_TOLERANCE_M)

    def take_off_points(self) -> list[tuple[float, float, float | None]]:
        """The take-off points given, as (lat, lon, altitude AMSL or None); empty: the planner picks one."""
        if self.homes:
            return [(float(h[0]), float(h[1]), float(h[2]) if len(h) > 2 and h[2] is not None else None)
                    for h in self.homes]
        if self.home_latlon is not None:
            return [(self.home_latlon[0], self.home_latlon[1], self.home_alt_m)]
        return []

    def resolve_altitude(self, camera: Camera) -> float:
        """The height above ground: --altitude, or the one giving --gsd with this camera, or the default."""
        from dronectl.limits import ALTITUDE_M

        lo, hi = ALTITUDE_M[0], self.max_altitude_m
        if self.gsd_cm is not None:
            alt = camera.altitude_for_gsd(self.gsd_cm)
            if not lo <= alt <= hi:
                raise InputError(f"--gsd {self.gsd_cm:g}: needs {alt:.1f} m above ground with camera '{camera.id}', "
                                 f"outside {lo:g} to {hi:g} m: ask for {camera.gsd_cm(lo):.2f} to "
                                 f"{camera.gsd_cm(hi):.2f} cm/px")
        else:
            alt = self.default_altitude_m if self.altitude_m is None else self.altitude_m
        if self.terrain_tolerance_m > alt / 2:
            raise InputError(f"--terrain-tolerance {self.terrain_tolerance_m:g}: must be at most half the height "
                             f"above ground ({alt / 2:g} m)")
        return alt


@dataclass
class SurveyPlan:
    missions: list[Mission]
    summary: PlanSummary
    photos_lonlat: list[tuple[float, float]] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers

def _holes(geom: BaseGeometry) -> BaseGeometry:
    return shapely.union_all([Polygon(r) for p in polygon_parts(geom) for r in p.interiors]) \
        if any(p.interiors for p in polygon_parts(geom)) else Polygon()


def _estimate(passes: list[Pass], start, speed: float, turnaround: float) -> float:
    """Quick time estimate for choosing a bearing: straight deadheads, one stop-and-go per pass end."""
    if not passes:
        return math.inf
    length = sum(p.seg.length + 2 * turnaround for p in passes)
    here = start
    for p in passes:
        length += math.dist(here, p.start)
        here = p.end
    length += math.dist(here, start)
    return length / speed + 2 * len(passes) * speed / ACCEL_MPS2


def _index_at(pts, q, after: int = -1) -> int:
    """Index of the first point after ``after`` that sits at q."""
    for i in range(after + 1, len(pts)):
        if math.dist(pts[i][:2], q) <= 0.02:
            return i
    raise AssertionError("span end not on the run")  # cannot happen: every span end is a stop


@dataclass
class _Grid:
    frame: SweepFrame
    passes: list[Pass]
    estimate_s: float


def _grid(bearing: float, origin, coverable_m, no_photo_m, no_fly_m, spacing: float, trim: float, home_m, speed,
          turnaround, max_gap_m: float) -> _Grid:
    frame = SweepFrame(bearing % 180.0, origin)
    area_s = frame.to_sweep(coverable_m)
    np_s = frame.to_sweep(no_photo_m) if not no_photo_m.is_empty else None
    nf_s = frame.to_sweep(no_fly_m) if not no_fly_m.is_empty else None
    lines = transect_segments(area_s, np_s, spacing, nf_s, max_gap_m=max_gap_m, trim_m=trim)
    home_s = frame.to_sweep(Point(home_m))
    passes = order_passes(build_cells(lines), (home_s.x, home_s.y))
    return _Grid(frame, passes, _estimate(passes, (home_s.x, home_s.y), speed, turnaround))


def best_grid(params: SurveyParams, origin, coverable_m, no_photo_m, no_fly_m, spacing, trim, home_m) -> _Grid:
    """The grid with the shortest estimated flight.

    Searched over the bearing (unless given: every 10 degrees, then refined to 1 degree) and over how
    gaps are handled: crossed when narrow (a few line spacings), or always crossed when the way is clear.
    """
    def grid(bearing, gap):
        return _grid(bearing, origin, coverable_m, no_photo_m, no_fly_m, spacing, trim, home_m, params.speed_mps,
                     params.turnaround_m, gap)

    gaps = (MAX_GAP_LINES * spacing, math.inf)
    if params.angle_deg is not None:
        return min((grid(params.angle_deg, g) for g in gaps), key=lambda g: g.estimate_s)
    tried: dict[tuple[float, float], _Grid] = {}

    def best():
        return min(tried.items(), key=lambda kv: (kv[1].estimate_s, kv[0]))

    for b in range(0, 180, 10):
        for g in gaps:
            tried[(float(b), g)] = grid(float(b), g)
    for step in ((-6, -3, 3, 6), (-2, -1, 1, 2)):
        (b0, g0), _ = best()
        for db in step:
            key = ((b0 + db) % 180.0, g0)
            if key not in tried:
                tried[key] = grid(*key)
    return best()[1]


@dataclass(frozen=True)
class Run:
    """A photo line in metric coordinates, ready to fly: optional lead-in, along ``path``, optional lead-out.

    The grid's runs are straight (``path`` = start, end); a corridor's follow a polyline. ``spans`` are the
    photo stretches as distances from ``start`` along the path; between them the camera is off. ``u`` is the
    unit vector of the flight direction at the start.
    """

    lead_in: tuple[float, float] | None
    path: tuple[tuple[float, float], ...]
    lead_out: tuple[float, float] | None
    u: tuple[float, float]
    spans: tuple[tuple[float, float], ...]

    @property
    def start(self) -> tuple[float, float]:
        return self.path[0]

    @property
    def end(self) -> tuple[float, float]:
        return self.path[-1]

    @property
    def first(self):
        return self.lead_in or self.start

    @property
    def straight(self) -> bool:
        return len(self.path) == 2

    @cached_property
    def _cum(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(np.asarray(self.path), axis=0).T))])

    @property
    def length(self) -> float:
        return math.dist(self.start, self.end) if self.straight else float(self._cum[-1])

    def _segment(self, s_m: float) -> int:
        return int(min(max(np.searchsorted(self._cum, s_m, side="right") - 1, 0), len(self.path) - 2))

    def direction(self, s_m: float) -> tuple[float, float]:
        """Unit vector of the flight direction at ``s_m`` along the path."""
        if self.straight:
            return self.u
        i = self._segment(s_m)
        (x0, y0), (x1, y1) = self.path[i], self.path[i + 1]
        d = math.hypot(x1 - x0, y1 - y0)
        return ((x1 - x0) / d, (y1 - y0) / d)

    def at(self, s_m: float) -> tuple[float, float]:
        if self.straight:
            return (self.start[0] + self.u[0] * s_m, self.start[1] + self.u[1] * s_m)
        i = self._segment(s_m)
        ux, uy = self.direction(s_m)
        t = s_m - float(self._cum[i])
        return (self.path[i][0] + ux * t, self.path[i][1] + uy * t)

    def stops(self) -> list[tuple[float, float]]:
        """Where the run changes direction or switches the camera, in flight order (after ``first``)."""
        marks = [(a, 0) for a, b in self.spans] + [(b, 1) for a, b in self.spans]
        if not self.straight:
            marks += [(float(c), 2) for c in self._cum[1:-1]]
        out = [self.start] if self.lead_in else []
        out += [self.at(s) for s, _ in sorted(marks)]
        return out + ([self.lead_out] if self.lead_out else [])

    def photo_offsets(self, trigger_m: float) -> list[np.ndarray]:
        """Where the camera fires, per span: at the span start, then every trigger distance."""
        return [a + trigger_m * np.arange(int(math.floor((b - a) / trigger_m + 1e-9)) + 1) for a, b in self.spans]

    def bearing_deg(self, s_m: float) -> float:
        ux, uy = self.direction(s_m)
        return round(math.degrees(math.atan2(ux, uy)) % 360.0, 2)

    def seen(self, trigger_m: float, front_m: float, side_m: float) -> list[Polygon]:
        """The ground the nadir photos see: per span, one rectangle from the first to the last footprint of a
        straight run; each photo's footprint along a polyline."""
        hf, hs = front_m / 2, side_m / 2
        out = []
        for offs in self.photo_offsets(trigger_m):
            for o0, o1 in ([(offs[0], offs[-1])] if self.straight else [(o, o) for o in offs]):
                ux, uy = self.direction(o0)
                if self.straight:
                    p0, p1 = self.at(o0 - hf), self.at(o1 + hf)
                else:
                    (x0, y0), (x1, y1) = self.at(o0), self.at(o1)
                    p0, p1 = (x0 - ux * hf, y0 - uy * hf), (x1 + ux * hf, y1 + uy * hf)
                out.append(Polygon([(p0[0] - uy * hs, p0[1] + ux * hs), (p1[0] - uy * hs, p1[1] + ux * hs),
                                    (p1[0] + uy * hs, p1[1] - ux * hs), (p0[0] + uy * hs, p0[1] - ux * hs)]))
        return out

    def cuts(self, trigger_m: float) -> list[tuple[int, float]]:
        """Places to end a sortie: after any photo that leaves at least one photo of its span for later."""
        return [(k, float(o)) for k, offs in enumerate(self.photo_offsets(trigger_m)) for o in offs[:-1]]

    def _sub(self, s0: float, s1: float) -> tuple[tuple[float, float], ...]:
        a = self.start if s0 == 0 else self.at(s0)
        b = self.end if s1 == self.length else self.at(s1)
        if self.straight:
            return (a, b)
        return (a,) + tuple(self.path[i] for i in range(1, len(self.path) - 1) if s0 < self._cum[i] < s1) + (b,)

    def split(self, k: int, cut_m: float, trigger_m: float) -> tuple["Run", "Run"]:
        """End after the photo at ``cut_m`` (in span k); the rest resumes one trigger distance on."""
        r0 = cut_m + trigger_m
        first = Run(self.lead_in, self._sub(0, cut_m), None, self.u, self.spans[:k] + ((self.spans[k][0], cut_m),))
        rest = Run(None, self._sub(r0, self.length), self.lead_out, self.direction(r0),
                   ((0.0, self.spans[k][1] - r0),) + tuple((a - r0, b - r0) for a, b in self.spans[k + 1:]))
        return first, rest


def extend_clear(router: Router, p, direction, dist):
    """The point ``dist`` beyond p along direction, shortened until the leg is clear (None if it can't be)."""
    if dist <= 0:
        return None
    for f in (1.0, 0.5, 0.25):
        q = (p[0] + direction[0] * dist * f, p[1] + direction[1] * dist * f)
        if router.clear(p, q):
            return q
    return None


def grid_runs(grid: _Grid, router: Router, turnaround: float) -> list[Run]:
    out = []
    for ps in grid.passes:
        pts = grid.frame.points_from_sweep(np.array([ps.start, ps.end]))
        s, e = (float(pts[0][0]), float(pts[0][1])), (float(pts[1][0]), float(pts[1][1]))
        t = math.radians(grid.frame.bearing_deg)
        u = (math.sin(t), math.cos(t)) if ps.forward else (-math.sin(t), -math.cos(t))
        out.append(Run(extend_clear(router, s, (-u[0], -u[1]), turnaround), (s, e),
                       extend_clear(router, e, u, turnaround), u, ps.spans_along()))
    return out


def refuse_what_check_refuses(missions: list[Mission], airspace, params, terrain: bool) -> None:
    """Run the preflight rules (:func:`dronectl.checks.check_mission`) on every sortie as ``plan check`` will run
    them on the written file, and refuse the plan on the first violation: the planner and the checks are one
    rule set, so a plan that is written passes ``plan check``."""
    from dronectl.checks import check_mission

    for n, m in enumerate(missions, start=1):
        vs = check_mission(m, airspace=airspace, vlos_radius_m=params.vlos_m, battery_time_s=params.battery_min * 60,
                           reserve=params.reserve, capacity=params.capacity, max_altitude_m=params.max_altitude_m)
        if not vs:
            continue
        where = f"sortie {n} of {len(missions)}: " if len(missions) > 1 else ""
        hint = ""
        if terrain and vs[0].rule == "altitude":
            alts = [i.alt_m for i in m.items if i.has_position]
            hint = (f" (following the terrain gives heights from {min(alts):.0f} to {max(alts):.0f} m over the "
                    "take-off point, which is what `plan check` measures: the ground varies too much to follow from "
                    "one take-off point; plan the zone in parts)")
        more = f"; and {len(vs) - 1} more preflight violation{'s' if len(vs) > 2 else ''}" if len(vs) > 1 else ""
        raise PlanningError(f"the plan would fail its preflight checks: {where}{vs[0].message}{hint}{more}")


# --------------------------------------------------------------------------- shared by every pattern of photo lines

def camera_settings(camera: Camera, params: SurveyParams, warnings: list[str]):
    """The height above ground, the photo geometry and the speed (lowered when the camera cannot keep up)."""
    altitude = params.resolve_altitude(camera)
    geo = grid_geometry(camera, altitude, params.front_overlap, params.side_overlap, params.portrait)
    max_speed = geo.trigger_distance_m / camera.min_trigger_interval_s
    min_speed = SPEED_MPS[0]
    if max_speed < min_speed:
        # the camera cannot take photos this close together at any speed the vehicle flies a survey at
        raise InputError(f"--front-overlap {params.front_overlap * 100:g}: photos every "
                         f"{geo.trigger_distance_m:.2f} m, but camera '{camera.id}' needs "
                         f"{camera.min_trigger_interval_s:g} s between photos, which means flying at "
                         f"{max_speed:.2f} m/s, below {min_speed:g} m/s: lower the front overlap or fly higher")
    speed, lowered = photo_speed(camera, geo.trigger_distance_m, params.speed_mps,
                                 f"--front-overlap {params.front_overlap * 100:g}", "lower the front overlap or fly higher")
    warnings += lowered
    return altitude, geo, speed


def exclusions_m(proj: Projector, area_m, reach_m, exclusions_lonlat, airspace, altitude: float,
                 warnings: list[str]) -> BaseGeometry:
    """The user's exclusions and the airspace where flying is forbidden (metric); refuse an altitude over a
    ceiling that caps the area."""
    excl_parts = []
    if exclusions_lonlat is not None and not exclusions_lonlat.is_empty:
        excl_parts.append(clean(proj.to_metric(exclusions_lonlat)))
    for z in airspace or []:
        zm = clean(proj.to_metric(z.geometry))
        if not zm.intersects(reach_m):
            continue
        if z.ceiling_m <= 0:
            excl_parts.append(zm)
            warnings.append(f"airspace '{z.name}' forbids flight over part of the area: treated as an exclusion zone")
        elif altitude > z.ceiling_m and zm.intersects(area_m):
            raise InputError(f"altitude {altitude:.0f} m is above the {z.ceiling_m:g} m ceiling of airspace '{z.name}' "
                             f"over this zone: use --altitude {z.ceiling_m:g} or less")
    return clean(shapely.union_all(excl_parts)) if excl_parts else Polygon()


def take_off_points(params: SurveyParams, proj: Projector, area_m, coverable, excl_fly,
                    warnings: list[str]) -> list[tuple[float, float]]:
    """The take-off points in metres: those given, or the point of the area nearest its centroid."""
    given = params.take_off_points()
    if not given:
        c = coverable.centroid
        home_pt = c if coverable.contains(c) else nearest_points(coverable, c)[0]
        return [(home_pt.x, home_pt.y)]
    out, outside = [], 0
    for n, (lat, lon, _) in enumerate(given, start=1):
        hx, hy = proj.xy(lon, lat)
        home_m = (float(hx), float(hy))
        which = "the take-off point (--home)" if len(given) == 1 else f"take-off point {n} ({lat:g},{lon:g})"
        if not excl_fly.is_empty and excl_fly.contains(Point(home_m)):
            raise InputError(f"{which} is inside an exclusion zone: choose another one")
        if not area_m.buffer(params.fence_margin_m).contains(Point(home_m)):
            outside += 1
        out.append(home_m)
    if outside:
        warnings.append("the take-off point is outside the zone: transit legs are added" if len(given) == 1 else
                        f"{outside} of the {len(given)} take-off points are outside the zone: transit legs are added")
    return out


def check_reach(runs: list[Run], homes_m: list, vlos_m: float, proj: Projector) -> None:
    """Refuse, with the distance that is missing, photo lines that no take-off point sees within VLOS."""
    pts = []
    for r in runs:
        n = max(2, int(math.ceil(r.length / 5.0)) + 1)
        pts += [r.at(s) for s in np.linspace(0.0, r.length, n)] + [p for p in (r.lead_in, r.lead_out) if p]
    xy = np.asarray(pts)
    h = np.asarray(homes_m)
    d = np.min(np.hypot(xy[:, None, 0] - h[None, :, 0], xy[:, None, 1] - h[None, :, 1]), axis=1)
    worst = int(np.argmax(d))
    if d[worst] > vlos_m * VLOS_SAFETY:
        lon, lat = proj.lonlat(*xy[worst])
        raise InputError(f"no take-off point keeps the whole zone in sight: the photo line at {lat:.6f},{lon:.6f} is "
                         f"{d[worst]:.0f} m from the nearest one, {math.ceil(d[worst] - vlos_m * VLOS_SAFETY):.0f} m beyond the "
                         f"{vlos_m:g} m visual line of sight: add a take-off point (--home) near it")


class Flyer:
    """How a plan flies between places: legs round exclusion zones (the router), at the survey height above
    the ground (terrain following from a DEM when there is one), heights relative to a take-off point."""

    def __init__(self, router: Router, altitude: float, terrain=None, tolerance_m: float = 3.0):
        self.router, self.altitude, self.terrain, self.tolerance_m = router, altitude, terrain, tolerance_m

    def ground(self, p) -> float:
        return 0.0 if self.terrain is None else float(self.terrain.ground(*p)[0])

    def leg3d(self, p, q, home_ground: float):
        """Points after p up to q (q included), with heights relative to a take-off point on ``home_ground``."""
        if self.terrain is None:
            return [(x, y, self.altitude) for x, y in self.router.leg(p, q)[1:]]
        pts = self.router.leg(p, q)
        out = []
        for a, b in zip(pts, pts[1:]):
            out.extend((x, y, z - home_ground) for x, y, z in
                       self.terrain.profile(a, b, self.altitude, self.tolerance_m)[1:])
        return out

    def alt_at(self, p, home_ground: float) -> float:
        return self.altitude if self.terrain is None else self.ground(p) + self.altitude - home_ground


@dataclass
class Flown:
    """Photo lines joined into sorties: the missions and what the summary reports."""

    missions: list[Mission]
    photos_lonlat: list[tuple[float, float]]
    seen_m: list[Polygon]  # the ground the photos see (metric)
    length_m: float
    duration_s: float
    sortie_homes: list[int]  # per sortie, the index of its take-off point
    warnings: list[str]


def fly_runs(runs: list[Run], homes_m: list[tuple[float, float]], flyer: Flyer, proj: Projector, geo, speed: float,
             params: SurveyParams, fence_m: BaseGeometry, excl_m: BaseGeometry, base_meta: PlanData) -> Flown:
    """Join photo lines into sorties that each fit a battery (with its reserve), the mission capacity and, with
    several take-off points, the visual line of sight of the one they start from; build their missions.

    Runs are flown in the given order; a run that does not fit is cut after a photo and resumed by the next
    sortie. With several take-off points each sortie starts from the one that gets furthest along the runs
    within sight, and of those the one with the shortest transit.
    """
    multi = len(homes_m) > 1
    grounds = [flyer.ground(h) for h in homes_m]
    cache: dict[tuple[Run, int], tuple[list, list]] = {}

    def run_points(r: Run, h: int):
        """A run's 3D waypoints (first = where its leg arrives) and (on, off) point indices per photo span."""
        if (r, h) not in cache:
            g = grounds[h]
            pts = [(r.first[0], r.first[1], flyer.alt_at(r.first, g))]
            switches = []
            for q in r.stops():
                if math.dist(pts[-1][:2], q) > 0.01:
                    pts += flyer.leg3d(pts[-1][:2], q, g)
            # camera switches at the span ends, found by position along the run
            off = -1
            for a, b in r.spans:
                on = _index_at(pts, r.at(a), after=off)
                off = _index_at(pts, r.at(b), after=on - 1)
                switches.append((on, off))
            cache[(r, h)] = (pts, switches)
        return cache[(r, h)]

    def sortie_points(rs: list[Run], h: int) -> np.ndarray:
        """Every point of a sortie: ground at home, take-off height, the runs, back over home, ground."""
        home_m, g = homes_m[h], grounds[h]
        home3 = (home_m[0], home_m[1], 0.0)
        pts = [home3, (home_m[0], home_m[1], flyer.alt_at(home_m, g))]
        for r in rs:
            rp = run_points(r, h)[0]
            if math.dist(pts[-1][:2], rp[0][:2]) > 0.01:
                pts += flyer.leg3d(pts[-1][:2], rp[0][:2], g)
            pts += rp[1:]
        pts += flyer.leg3d(pts[-1][:2], home_m, g) + [home3]
        return np.array(pts)

    # Sorties are fitted on the metric path; plan check estimates the written mission (lat/lon to 1e-7 degree,
    # heights to the centimetre, geodesic lengths). Keep 0.5 % in hand so the two estimates can never disagree on
    # which side of the battery limit a sortie falls (hypothesis found one 0.1 % over).
    usable_s = params.battery_min * 60.0 * (1.0 - params.reserve) * 0.995
    max_items = params.capacity - 1  # seq 0 is home
    capacity_split = False
    trigger = geo.trigger_distance_m

    def fits(rs: list[Run], h: int) -> bool:
        nonlocal capacity_split
        pts = sortie_points(rs, h)
        if path_duration_s(pts, speed) > usable_s:
            return False
        if multi and np.hypot(pts[:, 0] - homes_m[h][0], pts[:, 1] - homes_m[h][1]).max() \
                > params.vlos_m * VLOS_SAFETY:
            return False
        # takeoff, speed, waypoints (all points but ground/takeoff/over-home/ground), 2 camera commands a span, RTL
        if 2 + (len(pts) - 4) + 2 * sum(len(r.spans) for r in rs) + 1 > max_items:
            capacity_split = True
            return False
        return True

    def best_cut(rs: list[Run], r: Run, h: int):
        """The longest first part of r (cut after a photo) that still fits after rs, or None."""
        cuts = r.cuts(trigger)
        lo, hi = 1, len(cuts) - 1  # at least two photos in the first part
        best = None
        while lo <= hi:
            mid = (lo + hi) // 2
            first, rest = r.split(*cuts[mid], trigger)
            if fits(rs + [first], h):
                best, lo = (first, rest), mid + 1
            else:
                hi = mid - 1
        return best

    def fill(queue: list[Run], h: int) -> tuple[list[Run], list[Run]]:
        """The runs a sortie from home h flies from the head of the queue, and what is left."""
        queue, cur = list(queue), []
        while queue:
            if fits(cur + [queue[0]], h):
                cur.append(queue.pop(0))
                continue
            cut = best_cut(cur, queue[0], h)
            if cut:
                cur.append(cut[0])
                queue[0] = cut[1]
            break
        return cur, queue

    def photo_m(rs: list[Run]) -> float:
        return sum(b - a for r in rs for a, b in r.spans)

    queue = list(runs)
    sorties: list[tuple[int, list[Run]]] = []
    while queue:
        if not multi:
            cur, rest, h = *fill(queue, 0), 0
        else:
            options = [(h, *fill(queue, h)) for h in range(len(homes_m))]
            options = [o for o in options if o[1]]
            if options:
                far = max(photo_m(o[1]) for o in options)
                near = [o for o in options if photo_m(o[1]) >= 0.99 * far]

                def transit(o):
                    pts = sortie_points(o[1], o[0])
                    return float(np.hypot(*np.diff(pts[:, :2], axis=0).T).sum()) - sum(r.length for r in o[1])
                h, cur, rest = min(near, key=transit)
            else:
                cur = []
        if not cur:
            sight = ", within sight of a take-off point" if multi else ""
            raise PlanningError(f"not even one photo leg fits in a sortie ({params.battery_min:g} min battery with "
                                f"{params.reserve * 100:g} % reserve, {params.capacity} mission items{sight}): take "
                                "off nearer the zone, use a bigger battery, or raise the capacity")
        sorties.append((h, cur))
        queue = rest
    warnings = []
    if capacity_split:
        warnings.append(f"split to stay within the autopilot's {params.capacity}-item mission capacity")

    # Build the missions.
    given = params.take_off_points()
    fence = fence_polygons(proj, fence_m, excl_m)

    def home_of(h: int) -> Home:
        alt = given[h][2] if given and given[h][2] is not None else None
        hlon, hlat = proj.lonlat(*homes_m[h])
        return Home(round(float(hlat), 7), round(float(hlon), 7), round(float(grounds[h] if alt is None else alt), 2))

    def wp(x, y, z):
        lon, lat = proj.lonlat(x, y)
        return MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0,
                           round(float(lat), 7), round(float(lon), 7), round(float(z), 2))

    missions: list[Mission] = []
    all_photos: list[tuple[float, float]] = []
    total_len = total_s = 0.0
    seen: list[Polygon] = []
    for n, (h, rs) in enumerate(sorties, start=1):
        home, home_m, g = home_of(h), homes_m[h], grounds[h]
        items = [MissionItem(CMD_NAV_TAKEOFF, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, home.lat_deg, home.lon_deg,
                             round(flyer.alt_at(home_m, g), 2)),
                 MissionItem(CMD_DO_CHANGE_SPEED, FRAME_MISSION, 1, speed, -1, 0)]
        here = (home_m[0], home_m[1])
        photos: list[tuple[float, float, float]] = []
        for r in rs:
            rp, switches = run_points(r, h)
            if math.dist(here, rp[0][:2]) > 0.01:
                items += [wp(*p) for p in flyer.leg3d(here, rp[0][:2], g)]
            on_at = {on for on, _ in switches}
            off_at = {off for _, off in switches}
            for idx, p in enumerate(rp):
                if idx > 0:
                    items.append(wp(*p))
                if idx in on_at:
                    items.append(MissionItem(CMD_DO_SET_CAM_TRIGG_DIST, FRAME_MISSION, round(trigger, 2), 0, 1, 0))
                if idx in off_at:
                    items.append(MissionItem(CMD_DO_SET_CAM_TRIGG_DIST, FRAME_MISSION, 0, 0, 0, 0))
            here = rp[-1][:2]
            for offs in r.photo_offsets(trigger):
                xy = np.array([r.at(o) for o in offs])
                lons, lats = proj.lonlat(xy[:, 0], xy[:, 1])
                photos += [(round(float(a), 7), round(float(b), 7), r.bearing_deg(o))
                           for a, b, o in zip(np.atleast_1d(lons), np.atleast_1d(lats), offs)]
            seen += r.seen(trigger, geo.footprint_front_m, geo.footprint_side_m)
        # back home round exclusion zones; RTL flies the last stretch
        items += [wp(*p) for p in flyer.leg3d(here, home_m, g)[:-1]]
        items.append(MissionItem(CMD_NAV_RETURN_TO_LAUNCH, FRAME_MISSION))
        pts = sortie_points(rs, h)
        dur = path_duration_s(pts, speed)
        seg_len = float(np.hypot(*np.diff(pts[:, :2], axis=0).T).sum())
        total_len += seg_len
        total_s += dur
        all_photos += [(p[0], p[1]) for p in photos]
        data = replace(base_meta, sortie=n, sorties=len(sorties), home=h + 1 if multi else None,
                       duration_s=round(dur, 1), length_m=round(seg_len, 1),
                       photo_points=tuple(PhotoPoint(*p) for p in photos))
        missions.append(Mission(items=tuple(items), home=home, fence_polygons=tuple(fence), cruise_speed_mps=speed,
                                hover_speed_mps=speed, plan_data=data))
    return Flown(missions, all_photos, seen, total_len, total_s, [h for h, _ in sorties], warnings)


def plan_data(name: str, camera: Camera, altitude: float, geo, speed: float, params: SurveyParams, terrain, proj,
              area_m, excl_m, part) -> PlanData:
    """The plan's own data every sortie of photo lines carries (survey and corridor), before the sortie's part."""
    def lonlat(g):
        return shapely.set_precision(proj.to_lonlat(g), 1e-7)

    return PlanData(
        zone=name, camera=camera.id, speed_mps=speed,
        limits=PlanLimits.of(params), part=part,
        grid=PhotoGrid(altitude_m=round(altitude, 2), gsd_cm=round(geo.gsd_cm, 3), front_overlap=params.front_overlap,
                       side_overlap=params.side_overlap, trigger_distance_m=round(geo.trigger_distance_m, 3),
                       line_spacing_m=round(geo.line_spacing_m, 3), footprint_side_m=round(geo.footprint_side_m, 3),
                       footprint_front_m=round(geo.footprint_front_m, 3), terrain=bool(terrain)),
        area=lonlat(area_m), exclusions=None if excl_m.is_empty else lonlat(excl_m))


def summarise(name: str, camera: Camera, altitude: float, geo, speed: float, params: SurveyParams, coverable,
              runs: list[Run], flown: Flown, warnings: list[str], pattern: str, figures: dict) -> PlanSummary:
    """The summary ``plan survey`` and ``plan corridor`` print; ``warnings`` gains coverage and sortie warnings;
    ``figures``: the pattern's own figures besides the grid's."""
    covered = shapely.union_all(flown.seen_m).intersection(coverable)
    coverage = covered.area / coverable.area
    if coverage < 0.995:
        warnings.append(f"nadir coverage is {coverage * 100:.1f} %: raise the side overlap or the altitude")
    sorties = len(flown.missions)
    used = len(set(flown.sortie_homes))
    if sorties > 1 and used > 1:
        warnings.append(f"{sorties} sorties from {used} take-off points, each within {params.vlos_m:g} m of its own")
    elif sorties > 1:
        warnings.append(f"{sorties} sorties: one battery ({params.battery_min:g} min, "
                        f"{params.reserve * 100:g} % reserve) is not enough" if not flown.warnings
                        else f"{sorties} sorties")
    homes, sortie_homes = take_offs(flown.missions, flown.sortie_homes)
    # metres to 0.1 m, as a pilot reads them (the .plan keeps the exact figures)
    grid = dict(area_m2=round(coverable.area, 1), transects=sum(len(r.spans) for r in runs), passes=len(runs),
                line_spacing_m=round(geo.line_spacing_m, 1), footprint_side_m=round(geo.footprint_side_m, 1),
                footprint_front_m=round(geo.footprint_front_m, 1))
    return PlanSummary(
        pattern=pattern, zone=name, camera=camera.id, altitude_m=round(altitude, 1), gsd_cm=round(geo.gsd_cm, 3),
        speed_mps=speed, trigger_distance_m=round(geo.trigger_distance_m, 1), length_m=round(flown.length_m, 1),
        duration_s=round(flown.duration_s, 1), photos=len(flown.photos_lonlat), coverage=round(coverage, 5),
        sorties=sorties, items=tuple(len(m.items) for m in flown.missions), homes=homes, sortie_homes=sortie_homes,
        warnings=tuple(warnings), figures=FIGURES[pattern](**grid, **figures))


# --------------------------------------------------------------------------- main entry

def plan_survey(area_lonlat: BaseGeometry, camera: Camera, params: SurveyParams = SurveyParams(),
                exclusions_lonlat: BaseGeometry | None = None, airspace: list[AirspaceZone] | None = None,
                dem_path: str | None = None, name: str = "survey") -> SurveyPlan:
    warnings: list[str] = [w for w in [swapped_axes_warning(area_lonlat, f"zone '{name}'")] if w]
    altitude, geo, speed = camera_settings(camera, params, warnings)
    proj = Projector.around(area_lonlat)
    area_m = clean(proj.to_metric(area_lonlat))

    # Exclusions: the user's, and airspace where flying is forbidden; other restrictions cap the altitude.
    reach = area_m.buffer(params.fence_margin_m + geo.line_spacing_m + params.turnaround_m)
    excl_m = exclusions_m(proj, area_m, reach, exclusions_lonlat, airspace, altitude, warnings)
    coverable = clean(area_m.difference(excl_m)) if not excl_m.is_empty else area_m
    if coverable.is_empty or coverable.area < 1.0:
        raise PlanningError("nothing left to survey: the exclusion zones cover the whole area")
    excl_fly = excl_m.buffer(params.exclusion_margin_m, quad_segs=2) if not excl_m.is_empty else Polygon()
    no_photo = clean(shapely.union_all([_holes(area_m), excl_fly]))

    # Home: given (one or several), or the point of the area nearest its centroid.
    homes_m = take_off_points(params, proj, area_m, coverable, excl_fly, warnings)
    home_m = homes_m[0]

    fence_m = shapely.convex_hull(shapely.union_all([area_m] + [Point(h) for h in homes_m])).buffer(
        params.fence_margin_m + geo.line_spacing_m / 2 + params.turnaround_m, quad_segs=4)
    flyable = clean(fence_m.difference(excl_fly)) if not excl_fly.is_empty else fence_m
    router = Router(flyable)
    if not all(router.contains(h) for h in homes_m):
        raise InputError("the take-off point cannot reach the zone without crossing an exclusion zone")

    origin = (area_m.centroid.x, area_m.centroid.y)
    trim = max(0.0, geo.footprint_front_m / 2 - geo.trigger_distance_m)
    grid = best_grid(params, origin, coverable, no_photo, excl_fly, geo.line_spacing_m, trim, home_m)
    if not grid.passes:
        raise PlanningError("the area is too small for one transect at this line spacing")

    terrain = None
    if dem_path:
        from dronectl.survey.terrain import Terrain

        terrain = Terrain.load(dem_path, proj.crs, fence_m.bounds)
    flyer = Flyer(router, altitude, terrain, params.terrain_tolerance_m)

    def runs_of(grid):
        grids = [grid]
        if params.crosshatch:
            g2 = _grid(grid.frame.bearing_deg + 90.0, origin, coverable, no_photo, excl_fly, geo.line_spacing_m, trim,
                       grid.frame.from_sweep(Point(grid.passes[-1].end)).coords[0], speed, params.turnaround_m,
                       MAX_GAP_LINES * geo.line_spacing_m)
            grids.append(g2)
        return [r for g in grids for r in grid_runs(g, router, params.turnaround_m)]

    def base_meta(grid):
        return plan_data(name, camera, altitude, geo, speed, params, terrain, proj, area_m, excl_m,
                         SurveyPart(round(grid.frame.bearing_deg, 1), params.crosshatch))

    if len(homes_m) == 1:
        runs = runs_of(grid)
        flown = fly_runs(runs, homes_m, flyer, proj, geo, speed, params, fence_m, excl_m, base_meta(grid))
    else:
        # Several take-off points: sorties must stay in sight of theirs, which long lines make hard. Fly the
        # quickest of the grid with the shortest flight and the one across it (shorter lines, more of them).
        candidates = [grid]
        if params.angle_deg is None:
            g90 = _grid(grid.frame.bearing_deg + 90.0, origin, coverable, no_photo, excl_fly, geo.line_spacing_m,
                        trim, home_m, speed, params.turnaround_m, MAX_GAP_LINES * geo.line_spacing_m)
            if g90.passes:
                candidates.append(g90)
        best = None
        for g in candidates:
            runs = runs_of(g)
            check_reach(runs, homes_m, params.vlos_m, proj)
            try:
                f = fly_runs(runs, homes_m, flyer, proj, geo, speed, params, fence_m, excl_m, base_meta(g))
            except PlanningError:
                if g is candidates[-1] and best is None:
                    raise
                continue
            if best is None or f.duration_s < best[1].duration_s:
                best = (g, f, runs)
        grid, flown, runs = best
    missions = flown.missions
    warnings += flown.warnings

    refuse_what_check_refuses(missions, airspace, params, terrain is not None)
    summary = summarise(name, camera, altitude, geo, speed, params, coverable, runs, flown, warnings, "survey",
                        dict(angle_deg=round(grid.frame.bearing_deg, 1)))
    return SurveyPlan(missions, summary, flown.photos_lonlat)
