"""plan_survey: from a zone polygon, a camera and parameters to one or more complete missions.

Steps: prepare the site as the corridor does (:mod:`dronectl.survey.site`: project to a local metric CRS, subtract
exclusion zones and forbidden airspace, place the take-off points, the geofence, the router and the terrain); pick
the sweep bearing (given, or the one with the shortest estimated flight); cut transects into photo segments, group
them into cells and order them (:mod:`dronectl.survey.grid`, :mod:`dronectl.survey.order`); turn them into runs
with their turnarounds (:class:`dronectl.survey.runs.Run`); fit the runs into sorties that fit a battery and the
autopilot's mission capacity and build each sortie's MAVLink items (:mod:`dronectl.survey.sorties`); report the
numbers and the nadir coverage (:class:`dronectl.survey.summary.PlanSummary`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from dronectl.camera import Camera
from dronectl.errors import InputError, PlanningError
from dronectl.geo import AirspaceZone, clean, polygon_parts, swapped_axes_warning
from dronectl.limits import check_range
from dronectl.mission import Mission
from dronectl.plandata import PhotoGrid, PlanData, PlanLimits, SurveyPart
from dronectl.survey.grid import SweepFrame, transect_segments
from dronectl.survey.order import Pass, build_cells, order_passes
from dronectl.survey.route import Router
from dronectl.survey.runs import Run, check_reach, extend_clear
from dronectl.survey.site import prepare_site, site_frame
from dronectl.survey.sorties import Flown, fly_runs, refuse_what_check_refuses
from dronectl.survey.summary import FIGURES, PlanSummary, take_offs
from dronectl.timing import ACCEL_MPS2


# A line crosses a gap (hole, concavity) with the camera off when the gap is at most this many line
# spacings; wider gaps split the line into separate cells.
MAX_GAP_LINES = 4.0


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
    frame = site_frame(area_lonlat, camera, params, warnings)
    proj = frame[3]

    def fence_of(area_m, homes_m, reach_m):
        return shapely.convex_hull(shapely.union_all([area_m] + [Point(h) for h in homes_m])).buffer(
            reach_m, quad_segs=4)

    site = prepare_site(name, "area", camera, params, warnings, frame, clean(proj.to_metric(area_lonlat)),
                        exclusions_lonlat, airspace, dem_path, fence_of)
    altitude, geo, speed = site.altitude, site.geo, site.speed
    area_m, coverable, excl_fly, homes_m = site.area_m, site.coverable, site.excl_fly, site.homes_m
    no_photo = clean(shapely.union_all([_holes(area_m), excl_fly]))
    home_m = homes_m[0]

    origin = (area_m.centroid.x, area_m.centroid.y)
    trim = max(0.0, geo.footprint_front_m / 2 - geo.trigger_distance_m)
    grid = best_grid(params, origin, coverable, no_photo, excl_fly, geo.line_spacing_m, trim, home_m)
    if not grid.passes:
        raise PlanningError("the area is too small for one transect at this line spacing")

    def runs_of(grid):
        grids = [grid]
        if params.crosshatch:
            g2 = _grid(grid.frame.bearing_deg + 90.0, origin, coverable, no_photo, excl_fly, geo.line_spacing_m, trim,
                       grid.frame.from_sweep(Point(grid.passes[-1].end)).coords[0], speed, params.turnaround_m,
                       MAX_GAP_LINES * geo.line_spacing_m)
            grids.append(g2)
        return [r for g in grids for r in grid_runs(g, site.router, params.turnaround_m)]

    def fly(grid, runs):
        data = plan_data(name, camera, altitude, geo, speed, params, site.terrain, proj, area_m, site.excl_m,
                         SurveyPart(round(grid.frame.bearing_deg, 1), params.crosshatch))
        return fly_runs(runs, homes_m, site.flyer, proj, geo, speed, params, site.fence_m, site.excl_m, data)

    if len(homes_m) == 1:
        runs = runs_of(grid)
        flown = fly(grid, runs)
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
                f = fly(g, runs)
            except PlanningError:
                if g is candidates[-1] and best is None:
                    raise
                continue
            if best is None or f.duration_s < best[1].duration_s:
                best = (g, f, runs)
        grid, flown, runs = best
    missions = flown.missions
    warnings += flown.warnings

    refuse_what_check_refuses(missions, airspace, params, site.terrain is not None)
    summary = summarise(name, camera, altitude, geo, speed, params, coverable, runs, flown, warnings, "survey",
                        dict(angle_deg=round(grid.frame.bearing_deg, 1)))
    return SurveyPlan(missions, summary, flown.photos_lonlat)
