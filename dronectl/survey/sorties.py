"""Photo lines into sorties, sorties into missions: what the survey and the corridor share once their lines are laid.

:class:`SortiePaths` gives the 3D path of a run and of a sortie from a take-off point (cached); :func:`fit_sorties`
packs the runs, in order, into sorties that each fit one battery (with its reserve), the mission capacity and, with
several take-off points, the line of sight of the one they start from (a run that does not fit is cut after a
photo and resumed by the next sortie); :func:`sortie_missions` writes each sortie's MAVLink items. :func:`fly_runs`
is the two in a row, as ``rings.fit_rings`` and ``rings.ring_missions`` are for the ring patterns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from dronectl.errors import PlanningError
from dronectl.geo import Projector, fence_polygons
from dronectl.mission import (CMD_DO_CHANGE_SPEED, CMD_DO_SET_CAM_TRIGG_DIST, CMD_NAV_RETURN_TO_LAUNCH,
                              CMD_NAV_TAKEOFF, CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, FRAME_MISSION,
                              Home, Mission, MissionItem)
from dronectl.plandata import PhotoPoint, PlanData
from dronectl.survey.runs import VLOS_SAFETY, Run
from dronectl.survey.site import Flyer
from dronectl.timing import path_duration_s


def _index_at(pts, q, after: int = -1) -> int:
    """Index of the first point after ``after`` that sits at q."""
    for i in range(after + 1, len(pts)):
        if math.dist(pts[i][:2], q) <= 0.02:
            return i
    raise AssertionError("span end not on the run")  # cannot happen: every span end is a stop


class SortiePaths:
    """The 3D points of runs and sorties flown from each take-off point ``homes_m``: heights from ``flyer``
    (relative to the take-off point's ground), legs round the exclusions. A run's points are cached per take-off
    point."""

    def __init__(self, homes_m: list[tuple[float, float]], flyer: Flyer):
        self.homes_m, self.flyer = homes_m, flyer
        self.grounds = [flyer.ground(h) for h in homes_m]
        self._cache: dict[tuple[Run, int], tuple[list, list]] = {}

    def run_points(self, r: Run, h: int):
        """A run's 3D waypoints (first = where its leg arrives) and (on, off) point indices per photo span."""
        if (r, h) not in self._cache:
            g, flyer = self.grounds[h], self.flyer
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
            self._cache[(r, h)] = (pts, switches)
        return self._cache[(r, h)]

    def sortie_points(self, rs: list[Run], h: int) -> np.ndarray:
        """Every point of a sortie: ground at home, take-off height, the runs, back over home, ground."""
        home_m, g, flyer = self.homes_m[h], self.grounds[h], self.flyer
        home3 = (home_m[0], home_m[1], 0.0)
        pts = [home3, (home_m[0], home_m[1], flyer.alt_at(home_m, g))]
        for r in rs:
            rp = self.run_points(r, h)[0]
            if math.dist(pts[-1][:2], rp[0][:2]) > 0.01:
                pts += flyer.leg3d(pts[-1][:2], rp[0][:2], g)
            pts += rp[1:]
        pts += flyer.leg3d(pts[-1][:2], home_m, g) + [home3]
        return np.array(pts)


def _photo_m(rs: list[Run]) -> float:
    return sum(b - a for r in rs for a, b in r.spans)


class _Packer:
    """What a sortie may hold: one battery minus the reserve, the mission capacity, and with several take-off points
    the line of sight of its own. ``capacity_split`` becomes true once the capacity refused a run."""

    def __init__(self, paths: SortiePaths, speed: float, params, trigger_m: float):
        self.paths, self.speed, self.params, self.trigger_m = paths, speed, params, trigger_m
        self.multi = len(paths.homes_m) > 1
        # Sorties are fitted on the metric path; plan check estimates the written mission (lat/lon to 1e-7 degree,
        # heights to the centimetre, geodesic lengths). Keep 0.5 % in hand so the two estimates can never disagree
        # on which side of the battery limit a sortie falls (hypothesis found one 0.1 % over).
        self.usable_s = params.battery_min * 60.0 * (1.0 - params.reserve) * 0.995
        self.max_items = params.capacity - 1  # seq 0 is home
        self.capacity_split = False

    def fits(self, rs: list[Run], h: int) -> bool:
        pts = self.paths.sortie_points(rs, h)
        if path_duration_s(pts, self.speed) > self.usable_s:
            return False
        home_m = self.paths.homes_m[h]
        if self.multi and np.hypot(pts[:, 0] - home_m[0], pts[:, 1] - home_m[1]).max() \
                > self.params.vlos_m * VLOS_SAFETY:
            return False
        # takeoff, speed, waypoints (all points but ground/takeoff/over-home/ground), 2 camera commands a span, RTL
        if 2 + (len(pts) - 4) + 2 * sum(len(r.spans) for r in rs) + 1 > self.max_items:
            self.capacity_split = True
            return False
        return True

    def best_cut(self, rs: list[Run], r: Run, h: int):
        """The longest first part of r (cut after a photo) that still fits after rs, or None."""
        cuts = r.cuts(self.trigger_m)
        lo, hi = 1, len(cuts) - 1  # at least two photos in the first part
        best = None
        while lo <= hi:
            mid = (lo + hi) // 2
            first, rest = r.split(*cuts[mid], self.trigger_m)
            if self.fits(rs + [first], h):
                best, lo = (first, rest), mid + 1
            else:
                hi = mid - 1
        return best

    def fill(self, queue: list[Run], h: int) -> tuple[list[Run], list[Run]]:
        """The runs a sortie from home h flies from the head of the queue, and what is left."""
        queue, cur = list(queue), []
        while queue:
            if self.fits(cur + [queue[0]], h):
                cur.append(queue.pop(0))
                continue
            cut = self.best_cut(cur, queue[0], h)
            if cut:
                cur.append(cut[0])
                queue[0] = cut[1]
            break
        return cur, queue

    def transit_m(self, rs: list[Run], h: int) -> float:
        """How far a sortie from home h flies besides its runs."""
        pts = self.paths.sortie_points(rs, h)
        return float(np.hypot(*np.diff(pts[:, :2], axis=0).T).sum()) - sum(r.length for r in rs)

    def next_sortie(self, queue: list[Run]) -> tuple[int, list[Run], list[Run]]:
        """(take-off point, runs, runs left) of the next sortie: with several take-off points, the one that gets
        furthest along the runs within sight, and of those the one with the shortest transit."""
        if not self.multi:
            return (0, *self.fill(queue, 0))
        options = [(h, *self.fill(queue, h)) for h in range(len(self.paths.homes_m))]
        options = [o for o in options if o[1]]
        if not options:
            return 0, [], queue
        far = max(_photo_m(o[1]) for o in options)
        near = [o for o in options if _photo_m(o[1]) >= 0.99 * far]
        return min(near, key=lambda o: self.transit_m(o[1], o[0]))


def fit_sorties(runs: list[Run], paths: SortiePaths, speed: float, params, trigger_m: float
                ) -> tuple[list[tuple[int, list[Run]]], list[str]]:
    """The runs, in the given order, packed into sorties (take-off point index, runs) and the warnings; a run that
    does not fit is cut after a photo and resumed by the next sortie. PlanningError when not even one photo leg
    fits."""
    packer = _Packer(paths, speed, params, trigger_m)
    queue = list(runs)
    sorties: list[tuple[int, list[Run]]] = []
    while queue:
        h, cur, rest = packer.next_sortie(queue)
        if not cur:
            sight = ", within sight of a take-off point" if packer.multi else ""
            raise PlanningError(f"not even one photo leg fits in a sortie ({params.battery_min:g} min battery with "
                                f"{params.reserve * 100:g} % reserve, {params.capacity} mission items{sight}): take "
                                "off nearer the zone, use a bigger battery, or raise the capacity")
        sorties.append((h, cur))
        queue = rest
    warnings = []
    if packer.capacity_split:
        warnings.append(f"split to stay within the autopilot's {params.capacity}-item mission capacity")
    return sorties, warnings


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


def sortie_missions(sorties: list[tuple[int, list[Run]]], paths: SortiePaths, proj: Projector, geo, speed: float,
                    params, fence_m: BaseGeometry, excl_m: BaseGeometry, base: PlanData) -> Flown:
    """One Mission per sortie: take-off, speed, per run its waypoints with the camera switched on and off by
    distance (DO_SET_CAM_TRIGG_DIST), the legs between, return to launch; ``base`` with the sortie's figures and
    photo points as its plan data."""
    multi = len(paths.homes_m) > 1
    given = params.take_off_points()
    fence = fence_polygons(proj, fence_m, excl_m)
    trigger = geo.trigger_distance_m
    flyer = paths.flyer

    def home_of(h: int) -> Home:
        alt = given[h][2] if given and given[h][2] is not None else None
        hlon, hlat = proj.lonlat(*paths.homes_m[h])
        return Home(round(float(hlat), 7), round(float(hlon), 7),
                    round(float(paths.grounds[h] if alt is None else alt), 2))

    def wp(x, y, z):
        lon, lat = proj.lonlat(x, y)
        return MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0,
                           round(float(lat), 7), round(float(lon), 7), round(float(z), 2))

    missions: list[Mission] = []
    all_photos: list[tuple[float, float]] = []
    total_len = total_s = 0.0
    seen: list[Polygon] = []
    for n, (h, rs) in enumerate(sorties, start=1):
        home, home_m, g = home_of(h), paths.homes_m[h], paths.grounds[h]
        items = [MissionItem(CMD_NAV_TAKEOFF, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, home.lat_deg, home.lon_deg,
                             round(flyer.alt_at(home_m, g), 2)),
                 MissionItem(CMD_DO_CHANGE_SPEED, FRAME_MISSION, 1, speed, -1, 0)]
        here = (home_m[0], home_m[1])
        photos: list[tuple[float, float, float]] = []
        for r in rs:
            rp, switches = paths.run_points(r, h)
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
        pts = paths.sortie_points(rs, h)
        dur = path_duration_s(pts, speed)
        seg_len = float(np.hypot(*np.diff(pts[:, :2], axis=0).T).sum())
        total_len += seg_len
        total_s += dur
        all_photos += [(p[0], p[1]) for p in photos]
        data = replace(base, sortie=n, sorties=len(sorties), home=h + 1 if multi else None,
                       duration_s=round(dur, 1), length_m=round(seg_len, 1),
                       photo_points=tuple(PhotoPoint(*p) for p in photos))
        missions.append(Mission(items=tuple(items), home=home, fence_polygons=tuple(fence), cruise_speed_mps=speed,
                                hover_speed_mps=speed, plan_data=data))
    return Flown(missions, all_photos, seen, total_len, total_s, [h for h, _ in sorties], [])


def fly_runs(runs: list[Run], homes_m: list[tuple[float, float]], flyer: Flyer, proj: Projector, geo, speed: float,
             params, fence_m: BaseGeometry, excl_m: BaseGeometry, base: PlanData) -> Flown:
    """Join photo lines into sorties (:func:`fit_sorties`) and build their missions (:func:`sortie_missions`)."""
    paths = SortiePaths(homes_m, flyer)
    sorties, warnings = fit_sorties(runs, paths, speed, params, geo.trigger_distance_m)
    flown = sortie_missions(sorties, paths, proj, geo, speed, params, fence_m, excl_m, base)
    flown.warnings = warnings
    return flown


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
