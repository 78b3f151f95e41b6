"""plan_corridor: photo lines along a centre line (a river bank, a road being resurfaced, a trench).

The corridor is the centre line buffered by half the width, flat at its two ends: that polygon is the photo
area, the one coverage is reported on. The flight lines are curves parallel to the centre line (offset curves),
as many as the width needs at the side overlap (``ceil(width / line spacing)``, centred across the width), flown
back and forth with a turnaround at each end; the camera triggers by distance, switched on at each line's start
and off at its end, as on the grid.

Bends: on the outside of a bend an offset curve goes round the corner on an arc (a round join), so the photos
keep overlapping where the ground fans out; on the inside the curve is cut short where its two sides meet, and
any loop left is cut out (each flight line is a simple curve: the drone never flies a loop in the inside of a
bend). A centre line that crosses itself is flown as simple pieces.

Exclusion zones and forbidden airspace are honoured as by ``plan survey``: a flight line is cut where it would
enter one (plus the exclusion margin), and the legs between lines go round them. Sorties are fitted by the
grid's own code (:func:`dronectl.survey.sorties.fly_runs`), after the site is prepared as for the grid
(:func:`dronectl.survey.site.prepare_site`). With several take-off points the centre line is cut
where the nearest take-off point changes, and each stretch is flown, all its lines, before the next one.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from dronectl.camera import Camera
from dronectl.errors import PlanningError
from dronectl.geo import AirspaceZone, clean, polygon_parts, swapped_axes_warning
from dronectl.limits import CORRIDOR_WIDTH_M, check_range
from dronectl.plandata import CorridorPart
from dronectl.survey.grid import MIN_SEGMENT_M
from dronectl.survey.planner import SurveyParams, SurveyPlan, best_grid, grid_runs, plan_data, summarise
from dronectl.survey.runs import Run, check_reach, extend_clear
from dronectl.survey.site import prepare_site, site_frame
from dronectl.survey.sorties import fly_runs, refuse_what_check_refuses
from dronectl.survey.route import Router

ARC_QUAD_SEGS = 4  # arcs round the outside of a bend: 4 segments a quarter circle (22.5 degrees a waypoint)
SIMPLIFY_M = 0.5  # flight lines keep within this of the exact offset curve (fewer waypoints)


def line_parts(geom: BaseGeometry) -> list[LineString]:
    """The LineStrings of a LineString or MultiLineString, each split into simple pieces where it crosses itself."""
    parts = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, LineString) and not g.is_empty]
    return [p for g in parts for p in simple_pieces(g)]


def simple_pieces(line: LineString) -> list[LineString]:
    """The line cut into consecutive pieces none of which crosses itself."""
    coords = [tuple(c[:2]) for c in line.coords]
    coords = [c for k, c in enumerate(coords) if k == 0 or c != coords[k - 1]]
    if len(coords) < 2:
        return []
    if LineString(coords).is_simple:
        return [LineString(coords)]
    out, cur = [], [coords[0], coords[1]]
    for c in coords[2:]:
        seg = LineString([cur[-1], c])
        body = LineString(cur[:-1]) if len(cur) > 2 else None
        if body is not None and seg.intersects(body):
            out.append(LineString(cur))
            cur = [cur[-1], c]
        else:
            cur.append(c)
    out.append(LineString(cur))
    return out


def without_loops(line: LineString) -> LineString:
    """The line with every loop cut out: where it crosses itself, it goes straight on from the crossing (and where
    it doubles back on itself, the fold is cut off)."""
    pts = [tuple(c[:2]) for c in line.coords]
    while len(pts) > 2 and not LineString(pts).is_simple:
        segs = [LineString(pts[i:i + 2]) for i in range(len(pts) - 1)]
        tree = shapely.STRtree(segs)
        for i, s in enumerate(segs):
            hits = [int(j) for j in tree.query(s, predicate="intersects") if j > i]
            later = [j for j in hits if j > i + 1 or s.intersection(segs[j]).length > 1e-9]
            if later:
                j = max(later)
                x = s.intersection(segs[j])
                p = tuple(x.coords[0]) if x.geom_type == "Point" else pts[i + 1]
                pts = pts[:i + 1] + [p] + pts[j + 1:]
                pts = [c for k, c in enumerate(pts) if k == 0 or math.dist(c, pts[k - 1]) > 1e-6]
                break
        else:
            break  # it only touches itself at a point it passes twice: no loop to fly
    return LineString(pts)


def _raw_offset(line: LineString, d: float) -> LineString:
    """Each segment moved ``d`` to the left (negative: right), joined on the outside of a bend by an arc round the
    vertex and on the inside straight from one to the next (the crossing that leaves is cut by without_loops)."""
    p = np.asarray(line.coords)[:, :2]
    p = p[np.concatenate([[True], np.hypot(*np.diff(p, axis=0).T) > 1e-9])]  # no zero-length segment
    t = np.diff(p, axis=0)
    t = t / np.hypot(t[:, 0], t[:, 1])[:, None]
    n = np.column_stack([-t[:, 1], t[:, 0]]) * d
    out = [p[0] + n[0], p[1] + n[0]]
    for i in range(1, len(t)):
        turn = math.atan2(t[i - 1, 0] * t[i, 1] - t[i - 1, 1] * t[i, 0], float(t[i - 1] @ t[i]))
        if turn * d < 0:  # the offset side is the outside of this bend: round it
            steps = math.ceil(abs(turn) / (math.pi / 2 / ARC_QUAD_SEGS) - 1e-9)
            for k in range(1, steps):
                a = turn * k / steps
                c, s = math.cos(a), math.sin(a)
                out.append(p[i] + (c * n[i - 1, 0] - s * n[i - 1, 1], s * n[i - 1, 0] + c * n[i - 1, 1]))
        out += [p[i] + n[i], p[i + 1] + n[i]]
    pts = [tuple(map(float, q)) for q in out]
    return LineString([q for k, q in enumerate(pts) if k == 0 or math.dist(q, pts[k - 1]) > 1e-6])


def offset_lines(centre: LineString, d: float) -> list[LineString]:
    """The flight line ``d`` metres left of the centre line (negative: right), in the centre line's direction, from
    one flat end of the corridor to the other: round on the outside of bends, no loop on the inside."""
    if abs(d) < 1e-9:
        return [centre]
    line = without_loops(_raw_offset(centre, d))
    line = without_loops(line.simplify(SIMPLIFY_M, preserve_topology=True))
    return [line] if line.length >= MIN_SEGMENT_M else []


def corridor_polygon(parts: list[LineString], width_m: float) -> BaseGeometry:
    """The photo area: each part buffered by half the width, flat at its ends."""
    return clean(shapely.union_all([p.buffer(width_m / 2, cap_style="flat", join_style="round", quad_segs=8)
                                    for p in parts]))


def line_offsets_m(width_m: float, spacing_m: float) -> np.ndarray:
    """Offsets of the flight lines from the centre line: as many as the width needs, centred."""
    n = max(1, math.ceil(width_m / spacing_m - 1e-9))
    return (np.arange(n) - (n - 1) / 2.0) * spacing_m


def _stretches(part: LineString, homes_m: list) -> list[LineString]:
    """The part cut where the nearest take-off point changes (one stretch with a single take-off point)."""
    if len(homes_m) < 2:
        return [part]
    s = np.linspace(0.0, part.length, max(2, int(part.length / 2.0) + 1))
    xy = shapely.get_coordinates(shapely.line_interpolate_point(part, s))
    h = np.asarray(homes_m)
    near = np.argmin(np.hypot(xy[:, None, 0] - h[None, :, 0], xy[:, None, 1] - h[None, :, 1]), axis=1)
    cuts = [(s[k] + s[k + 1]) / 2 for k in range(len(s) - 1) if near[k] != near[k + 1]]
    bounds = [0.0] + cuts + [part.length]
    return [substring(part, a, b) for a, b in zip(bounds, bounds[1:]) if b - a >= MIN_SEGMENT_M]


def _run(coords, router: Router, turnaround_m: float) -> Run | None:
    path = [tuple(map(float, c[:2])) for c in coords]
    path = tuple(c for k, c in enumerate(path) if k == 0 or math.dist(c, path[k - 1]) > 1e-6)
    if len(path) < 2:
        return None

    def unit(a, b):
        d = math.dist(a, b)
        return ((b[0] - a[0]) / d, (b[1] - a[1]) / d)
    u0, u1 = unit(path[0], path[1]), unit(path[-2], path[-1])
    length = float(LineString(path).length)
    if length < MIN_SEGMENT_M:
        return None
    return Run(extend_clear(router, path[0], (-u0[0], -u0[1]), turnaround_m), path,
               extend_clear(router, path[-1], u1, turnaround_m), u0, ((0.0, math.dist(*path) if len(path) == 2
                                                                        else length),))


def corridor_runs(parts: list[LineString], width_m: float, spacing_m: float, no_fly: BaseGeometry, router: Router,
                  turnaround_m: float, homes_m: list) -> list[Run]:
    """The photo lines of the corridor in flight order: stretch after stretch, each flown back and forth across
    its width starting from the corner nearest where the drone is."""
    offsets = line_offsets_m(width_m, spacing_m)
    stretches = [s for p in parts for s in _stretches(p, homes_m)]
    here = homes_m[0]
    runs: list[Run] = []
    for st in stretches:
        lines = []
        for d in offsets:
            pieces = []
            for ln in offset_lines(st, float(d)):
                if no_fly is not None and not no_fly.is_empty and ln.intersects(no_fly):
                    cut = [g for g in shapely.get_parts(ln.difference(no_fly)) if g.length >= MIN_SEGMENT_M]
                    for g in cut:
                        if ln.project(Point(g.coords[0])) > ln.project(Point(g.coords[-1])):
                            g = LineString(g.coords[::-1])
                        pieces.append((st.project(Point(g.coords[0])), list(g.coords)))
                else:
                    pieces.append((st.project(Point(ln.coords[0])), list(ln.coords)))
            if pieces:
                lines.append([c for _, c in sorted(pieces, key=lambda t: t[0])])
        if not lines:
            continue
        # the corner to start from: first or last line, forward or backward, nearest the drone
        options = [(math.dist(here, (ls[0][0] if fwd else ls[-1][-1])[:2]), rev, fwd)
                   for rev, ls in ((False, lines[0]), (True, lines[-1])) for fwd in (True, False)]
        _, rev, fwd = min(options)
        for ls in (lines[::-1] if rev else lines):
            seq = ls if fwd else [c[::-1] for c in ls[::-1]]
            for coords in seq:
                r = _run(coords, router, turnaround_m)
                if r is not None:
                    runs.append(r)
                    here = r.lead_out or r.end
            fwd = not fwd
    return runs


def patch_runs(runs: list[Run], coverable: BaseGeometry, geo, params: SurveyParams, no_fly: BaseGeometry,
               router: Router, home_m) -> list[Run]:
    """Grid runs over what the flight lines leave unseen, when that is more than 0.1 % of the corridor.

    Where a bend is sharp and its legs are shorter than half the width, the corridor's flat end juts out past the
    inside of the bend, further than any flight line reaches once its loop is cut: a small lawnmower grid (the
    grid planner's own, quickest bearing) photographs those corners."""
    seen = shapely.union_all([p for r in runs for p in r.seen(geo.trigger_distance_m, geo.footprint_front_m,
                                                                  geo.footprint_side_m)])
    gap = clean(coverable.difference(seen))
    if gap.area <= 0.001 * coverable.area:
        return []
    parts = [g for g in polygon_parts(gap) if g.area > 0.01 * geo.footprint_front_m * geo.footprint_side_m]
    if not parts:
        return []
    area = clean(shapely.union_all(parts))
    no_photo = no_fly if no_fly is not None else Polygon()
    trim = max(0.0, geo.footprint_front_m / 2 - geo.trigger_distance_m)
    grid = best_grid(params, (area.centroid.x, area.centroid.y), area, no_photo, no_photo, geo.line_spacing_m, trim,
                     home_m)
    return grid_runs(grid, router, params.turnaround_m)


def _fence(area_m: BaseGeometry, homes_m: list, reach_m: float, margin_m: float, vlos_m: float) -> Polygon:
    """The geofence: the corridor and its turnarounds, and for each take-off point the ground between it and the
    part of the corridor it can see."""
    pieces = [area_m.buffer(reach_m, quad_segs=2)]
    for h in homes_m:
        seen = area_m.intersection(Point(h).buffer(vlos_m, quad_segs=8))
        hull = MultiPoint([h] + (list(shapely.get_coordinates(seen)) if not seen.is_empty else []))
        pieces.append(hull.convex_hull.buffer(margin_m, quad_segs=2))
    fence = shapely.union_all(pieces)
    if fence.geom_type != "Polygon":
        fence = fence.convex_hull
    return Polygon(fence.exterior.coords)


def plan_corridor(line_lonlat: BaseGeometry, width_m: float, camera: Camera, params: SurveyParams = SurveyParams(),
                  exclusions_lonlat: BaseGeometry | None = None, airspace: list[AirspaceZone] | None = None,
                  dem_path: str | None = None, name: str = "corridor") -> SurveyPlan:
    """Missions photographing the corridor ``width_m`` wide along ``line_lonlat`` (a LineString or
    MultiLineString, lon/lat)."""
    check_range("--width", width_m, CORRIDOR_WIDTH_M)
    warnings: list[str] = [w for w in [swapped_axes_warning(line_lonlat, f"line '{name}'")] if w]
    frame = site_frame(line_lonlat, camera, params, warnings)
    altitude, geo, speed, proj = frame
    parts = line_parts(proj.to_metric(line_lonlat))
    if not parts:
        raise PlanningError(f"line '{name}' has no stretch long enough to fly: give it two distinct points")
    centre_length = sum(p.length for p in parts)

    def fence_of(area_m, homes_m, reach_m):
        return _fence(area_m, homes_m, reach_m, params.fence_margin_m, params.vlos_m)

    site = prepare_site(name, "corridor", camera, params, warnings, frame, corridor_polygon(parts, width_m),
                        exclusions_lonlat, airspace, dem_path, fence_of)
    homes_m, excl_fly, router = site.homes_m, site.excl_fly, site.router
    runs = corridor_runs(parts, width_m, geo.line_spacing_m, excl_fly, router, params.turnaround_m, homes_m)
    if not runs:
        raise PlanningError("no photo line is left outside the exclusion zones: move the line or the exclusions")
    runs += patch_runs(runs, site.coverable, geo, params, excl_fly, router, runs[-1].lead_out or runs[-1].end)
    if len(homes_m) > 1:
        check_reach(runs, homes_m, params.vlos_m, proj)

    centre_ll = proj.to_lonlat(shapely.multilinestrings(parts) if len(parts) > 1 else parts[0])
    meta = plan_data(name, camera, altitude, geo, speed, params, site.terrain, proj, site.area_m, site.excl_m,
                     CorridorPart(width_m, round(centre_length, 1), shapely.set_precision(centre_ll, 1e-7)))
    flown = fly_runs(runs, homes_m, site.flyer, proj, geo, speed, params, site.fence_m, site.excl_m, meta)
    missions = flown.missions
    warnings += flown.warnings
    refuse_what_check_refuses(missions, airspace, params, site.terrain is not None)

    summary = summarise(name, camera, altitude, geo, speed, params, site.coverable, runs, flown, warnings, "corridor",
                        dict(corridor_length_m=round(centre_length, 1), width_m=width_m,
                             lines=len(line_offsets_m(width_m, geo.line_spacing_m))))
    return SurveyPlan(missions, summary, flown.photos_lonlat)
