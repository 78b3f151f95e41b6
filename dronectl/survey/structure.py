"""plan_structure: a facade scan of a building, the camera facing its walls from a fixed distance.

Layers: the structure's outline offset by ``distance_m`` (a round-join buffer: straight along the walls, arcs
around the outer corners, so the camera keeps facing the wall), flown clockwise one height at a time, from the
top down (or bottom up). Layer spacing: the image height on the wall at that distance times (1 - vertical
overlap), the top layer's frame reaching the structure's top and the bottom layer's ``bottom_m``. Photos along a
layer: evenly spaced at the image width on the wall times (1 - side overlap).

Camera pointing: a ``MAV_CMD_DO_SET_ROI_LOCATION`` before each photo waypoint, on the wall's nearest point (at
the height the camera's pitch gives); at a layer's inner corners (the outline's re-entrant corners) one more
photo aims at the corner itself, which the perpendicular views see only at a grazing angle. ArduPilot flies
an ROI in AUTO on every version and yaws the copter (and tilts a gimbal) to it; a waypoint's yaw (param 4)
is ignored by Copter. Released with ``MAV_CMD_DO_SET_ROI_NONE`` before the exit. Entry and exit at the
structure's top plus ``distance_m``: the vehicle never comes nearer to the structure than the distance, above
it either. See docs/planning.md.

:func:`facade_coverage` measures the fraction of the facade (perimeter x (height - bottom)) that at least one
photo's frame sees, facing it, from at most 1.5 times the distance, and not hidden behind another part of the
building.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.ops import nearest_points
from shapely.validation import explain_validity

from dronectl.camera import Camera
from dronectl.errors import InputError
from dronectl.geo import AirspaceZone, Projector, Structure
from dronectl.limits import OVERLAP_PCT, check_range
from dronectl.mission import Home
from dronectl.plandata import StructurePart, PlanData, PlanLimits
from dronectl.survey.planner import SurveyPlan
from dronectl.survey.sorties import refuse_what_check_refuses
from dronectl.survey.summary import PlanSummary, StructureFigures, take_offs
from dronectl.survey.rings import (Ring, RingFlight, airspace_over, fit_rings, inclusion_fence, photo_speed,
                                   ring_missions, sorties_warning)

MIN_DISTANCE_M = 3.0  # GPS position hold (about +-1.5 m) plus half a drone's span
DISTANCE_M = (MIN_DISTANCE_M, 200.0, "m")
HEIGHT_M = (1.0, 1000.0, "m")
BOTTOM_M = (0.0, 1000.0, "m")
PITCH_DEG = (-60.0, 0.0, "degrees")
MIN_LAYER_M = 2.0  # no layer lower than this above the take-off point
MAX_STEP_DEG = 10.0  # corner arcs as chords at most this many degrees apart (sag < 0.4 % of the distance)
COVERAGE_RANGE = 1.5  # a wall point counts as seen from at most this many times the distance (GSD <= 1.5 x)
MERGE_M = 0.3  # a corner vertex this close to a photo point is not a waypoint of its own


@dataclass(frozen=True)
class StructureParams(RingFlight):
    distance_m: float
    height_m: float
    bottom_m: float = 0.0
    vertical_overlap: float = 0.7
    side_overlap: float = 0.7
    pitch_deg: float = 0.0  # 0: the camera level; negative: looking down
    bottom_up: bool = False

    def __post_init__(self):
        check_range("--distance", self.distance_m, DISTANCE_M)
        check_range("--height", self.height_m, HEIGHT_M)
        check_range("--bottom", self.bottom_m, BOTTOM_M)
        if self.height_m <= self.bottom_m:
            raise InputError(f"--height {self.height_m:g} is not above --bottom {self.bottom_m:g}: the facade to scan "
                             "runs from --bottom up to --height; give a height above the bottom")
        check_range("--vertical-overlap", self.vertical_overlap, OVERLAP_PCT, scale=100.0)
        check_range("--side-overlap", self.side_overlap, OVERLAP_PCT, scale=100.0)
        check_range("--pitch", self.pitch_deg, PITCH_DEG)
        self.check_flight()


def half_tangents(camera: Camera) -> tuple[float, float]:
    """tan of the half field of view across the image width and height (landscape)."""
    return camera.sensor_width_mm / (2 * camera.focal_length_mm), camera.sensor_height_mm / (2 * camera.focal_length_mm)


def layer_heights(camera: Camera, p: StructureParams) -> list[float]:
    """Heights of the layers above the take-off point, in flying order (top down unless ``bottom_up``)."""
    _, tv = half_tangents(camera)
    vh = math.atan(tv)
    pitch = math.radians(p.pitch_deg)
    if pitch - vh <= math.radians(-89.0):
        raise InputError(f"--pitch {p.pitch_deg:g}: camera '{camera.id}' would see straight down (its frame spans "
                         f"{math.degrees(vh):.0f} degrees each side of the axis): raise the pitch towards 0")
    d = p.distance_m
    extent = d * (math.tan(pitch + vh) - math.tan(pitch - vh))
    top = p.height_m - d * math.tan(pitch + vh)  # the frame's upper edge on the structure's top
    bottom = max(p.bottom_m - d * math.tan(pitch - vh), p.bottom_m, MIN_LAYER_M)
    if top <= bottom:
        alts = [max(top, bottom)]
    else:
        n = math.ceil((top - bottom) / (extent * (1.0 - p.vertical_overlap)) - 1e-9) + 1
        alts = [float(a) for a in np.linspace(top, bottom, n)]
    alts = [round(a, 2) for a in alts]
    return alts[::-1] if p.bottom_up else alts


def _outline(outline_lonlat: BaseGeometry, name: str) -> Polygon:
    if outline_lonlat.geom_type == "MultiPolygon" and len(outline_lonlat.geoms) == 1:
        outline_lonlat = outline_lonlat.geoms[0]
    if outline_lonlat.geom_type != "Polygon":
        raise InputError(f"structure '{name}' is a {outline_lonlat.geom_type}: give the outline of one building "
                         "(one polygon); scan separate buildings one at a time")
    if not outline_lonlat.is_valid:
        raise InputError(f"structure '{name}' is not a valid outline ({explain_validity(outline_lonlat)}): "
                         "fix it, e.g. with QGIS 'Fix geometries'")
    return Polygon(outline_lonlat.exterior)


def _ring_points(path: LineString, start_t: float, photos: int) -> tuple[np.ndarray, np.ndarray]:
    """Waypoints along the closed ``path`` from ``start_t`` (metres along it) back to it: ``photos`` photo points
    evenly spaced, and the path's vertices between them; and the mask of the photo points."""
    length = path.length
    coords = np.asarray(path.coords)[:-1]
    vert_t = shapely.line_locate_point(path, shapely.points(coords))
    photo_t = np.arange(photos) * (length / photos)
    rel_v = (vert_t - start_t) % length
    far = np.min(np.abs(((rel_v[:, None] - photo_t[None, :]) + length / 2) % length - length / 2), axis=1) > MERGE_M
    ts = np.concatenate([photo_t, rel_v[far]])
    is_photo = np.concatenate([np.ones(photos, bool), np.zeros(int(far.sum()), bool)])
    order = np.argsort(ts, kind="stable")
    ts, is_photo = ts[order], is_photo[order]
    pts = shapely.get_coordinates(shapely.line_interpolate_point(path, (ts + start_t) % length))
    return np.vstack([pts, pts[:1]]), np.append(is_photo, False)


def _turns(ring_xy: np.ndarray) -> np.ndarray:
    """Cross product of the edges at each vertex of a ring (no closing point): > 0 turning left, < 0 right."""
    a, b, c = np.roll(ring_xy, 1, axis=0), ring_xy, np.roll(ring_xy, -1, axis=0)
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - b[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - b[:, 0])


def _corner_shots(ring_xy: np.ndarray, outline: Polygon, distance_m: float) -> list[tuple[np.ndarray, tuple]]:
    """(position, target on the wall) of one photo at each re-entrant corner of the clockwise path ``ring_xy``
    (where it turns left: the outline's inner corners, or a recess narrower than twice the distance): the
    camera looks along the corner's bisector, at the wall the views along either side see only at a grazing
    angle (the inner corner itself, the back of a recess)."""
    out = []
    turns = _turns(ring_xy)
    for i in np.nonzero(turns > 1e-6)[0]:
        c, a, b = ring_xy[i], ring_xy[i - 1], ring_xy[(i + 1) % len(ring_xy)]
        u_in, u_out = (c - a) / np.hypot(*(c - a)), (b - c) / np.hypot(*(b - c))
        bis = u_in - u_out  # away from the turn: towards the structure, on the right of a clockwise path
        if np.hypot(*bis) < 1e-9:
            continue
        bis = bis / np.hypot(*bis)
        hit = outline.exterior.intersection(LineString([c, c + bis * 3 * distance_m]))
        if hit.is_empty:
            continue
        pts = shapely.get_coordinates(hit)
        t = pts[np.argmin(np.hypot(pts[:, 0] - c[0], pts[:, 1] - c[1]))]
        out.append((c, (float(t[0]), float(t[1]))))
    return out


def plan_structure(outline_lonlat: BaseGeometry, camera: Camera, params: StructureParams,
                   airspace: list[AirspaceZone] | None = None, obstacles: list[Structure] | tuple = (),
                   name: str = "structure") -> SurveyPlan:
    """Missions scanning the facade of ``outline_lonlat`` (see the module docstring). ``obstacles``: other
    structures (of the zone file) the path must not pass through."""
    outline_ll = _outline(outline_lonlat, name)
    proj = Projector.around(outline_ll)
    outline = orient(proj.to_metric(outline_ll), sign=1.0)
    d = params.distance_m
    th, tv = half_tangents(camera)
    alts = layer_heights(camera, params)
    safe_alt = round(max(params.height_m, max(alts)) + d, 2)

    # the path: the outline offset by the distance, flown clockwise
    quad = max(1, math.ceil(90.0 / MAX_STEP_DEG))
    band = outline.buffer(d, quad_segs=quad)
    ring = LineString(orient(Polygon(band.exterior), sign=-1.0).exterior.coords)

    ceiling, what = params.max_altitude_m, f"{params.max_altitude_m:g} m limit"
    for z in airspace_over(airspace, proj, band):
        if z.ceiling_m <= 0:
            raise InputError(f"the scan of '{name}' enters airspace '{z.name}', where flight is forbidden: "
                             "scan another structure")
        if z.ceiling_m < ceiling:
            ceiling, what = z.ceiling_m, f"{z.ceiling_m:g} m ceiling of airspace '{z.name}'"
    if safe_alt > ceiling:
        raise InputError(f"--height {params.height_m:g}: the scan climbs to {safe_alt:g} m (the top plus --distance, "
                         f"to enter and leave above the structure), above the {what}: scan a lower part "
                         f"(--height {max(ceiling - d, 0):g} or less)")
    for ob in obstacles:
        ob_m = proj.to_metric(ob.geometry)
        if ob_m.intersects(outline) or not ring.intersects(ob_m) and not band.contains(ob_m):
            continue
        if ob.height_m is not None and ob.height_m < min(alts):
            continue
        gap = outline.distance(ob_m)
        fix = (f"fly closer (--distance {math.floor(gap - 1):g} or less)" if gap - 1 >= MIN_DISTANCE_M
               else "scan the two as one outline")
        raise InputError(f"--distance {d:g}: the path around '{name}' passes through '{ob.name}', "
                         f"{gap:.0f} m from it: {fix}")

    if params.home_latlon is not None:
        hx, hy = (float(v) for v in proj.xy(params.home_latlon[1], params.home_latlon[0]))
        if outline.buffer(MIN_DISTANCE_M).contains(Point(hx, hy)):
            raise InputError(f"the take-off point is on or next to '{name}' (within {MIN_DISTANCE_M:g} m of its "
                             "walls): take off in the open (--home)")
    else:  # on the path, its southernmost point
        coords = np.asarray(ring.coords)
        hx, hy = (float(v) for v in coords[np.argmin(coords[:, 1])])
    far = ring.hausdorff_distance(Point(hx, hy))
    if far > params.vlos_m:
        raise InputError(f"the scan reaches {far:.0f} m from the take-off point, beyond the {params.vlos_m:g} m visual "
                         "line of sight: take off nearer (--home)")

    width_on_wall = 2 * d * th
    photos = max(3, math.ceil(ring.length / (width_on_wall * (1.0 - params.side_overlap)) - 1e-9))
    spacing = ring.length / photos
    speed, warnings = photo_speed(camera, spacing, params.speed_mps, f"--side-overlap {params.side_overlap * 100:g}",
                                  "lower the side overlap or fly farther (--distance)")
    start_t, length = ring.project(Point(hx, hy)), ring.length
    xy, is_photo = _ring_points(ring, start_t, photos)
    ring_xy = np.asarray(ring.coords)[:-1]
    wall = outline.exterior
    targets = [(float(q.x), float(q.y)) for q in (nearest_points(wall, Point(x, y))[0] for x, y in xy)]

    def along(pt) -> float:
        return (ring.project(Point(pt)) - start_t) % length

    for c, target in _corner_shots(ring_xy, outline, d):  # one photo more at each inner corner
        k = int(np.argmin(np.hypot(xy[:-1, 0] - c[0], xy[:-1, 1] - c[1])))
        if math.hypot(*(xy[k] - c)) > MERGE_M:
            after = (along(c) - along(xy[k]) + length / 2) % length - length / 2 > 0
            at = k + 1 if after else (k if k > 0 else len(xy) - 1)
            xy, is_photo = np.insert(xy, at, c, axis=0), np.insert(is_photo, at, True)
            targets.insert(at, target)
            continue
        is_photo[k], targets[k] = True, target
    tan_p = math.tan(math.radians(params.pitch_deg))
    rings = []
    for a in alts:
        rois = {i: (tx, ty, a + math.hypot(tx - x, ty - y) * tan_p)
                for i, ((x, y), (tx, ty)) in enumerate(zip(xy, targets)) if is_photo[i]}
        rings.append(Ring(xy, a, is_photo, rois))

    home_alt = params.home_alt_m if params.home_alt_m is not None else 0.0
    hlon, hlat = proj.lonlat(hx, hy)
    home = Home(round(float(hlat), 7), round(float(hlon), 7), round(float(home_alt), 2))
    fence = inclusion_fence(proj, band, (hx, hy), params.fence_margin_m)
    groups = fit_rings(rings, (hx, hy), safe_alt, speed, params,
                       lambda r: f"one layer of {ring.length:.0f} m at {r.alt_m:g} m")
    meta = PlanData(zone=name, camera=camera.id, speed_mps=speed, limits=PlanLimits.of(params),
                    part=StructurePart(outline_ll, params.height_m, params.bottom_m, d, params.pitch_deg, safe_alt,
                                       len(alts)))
    flown = ring_missions(groups, proj, home, (hx, hy), safe_alt, speed, fence, meta)
    refuse_what_check_refuses(flown.missions, airspace, params, False)
    warnings += sorties_warning(groups, params)
    shots = np.array([(x, y, r.alt_m, h) for r in rings for x, y, h, _ in r.shots()])
    coverage = facade_coverage(outline, shots, params.pitch_deg, th, tv, params.bottom_m, params.height_m,
                               COVERAGE_RANGE * d)
    homes, sortie_homes = take_offs(flown.missions, [0] * len(flown.missions))
    summary = PlanSummary(
        pattern="structure", zone=name, camera=camera.id, altitude_m=alts[0],
        gsd_cm=round(camera.gsd_cm(d / math.cos(math.radians(params.pitch_deg))), 3),  # on the wall
        speed_mps=speed, trigger_distance_m=round(spacing, 1), length_m=round(flown.length_m, 1),
        duration_s=round(flown.duration_s, 1), photos=len(flown.photos_lonlat), coverage=round(coverage, 4),
        sorties=len(groups), items=tuple(len(m.items) for m in flown.missions), homes=homes,
        sortie_homes=sortie_homes, warnings=tuple(warnings),
        figures=StructureFigures(
            layers=len(alts), altitudes_m=tuple(alts),
            layer_spacing_m=round(abs(alts[0] - alts[1]), 2) if len(alts) > 1 else None,
            frame_width_m=round(width_on_wall, 1),
            frame_height_m=round(d * (math.tan(math.radians(params.pitch_deg) + math.atan(tv))
                                      - math.tan(math.radians(params.pitch_deg) - math.atan(tv))), 1),
            facade_coverage=round(coverage, 4),
            facade_area_m2=round(outline.length * (params.height_m - params.bottom_m), 1),
            perimeter_m=round(outline.length, 1), distance_m=d, height_m=params.height_m, bottom_m=params.bottom_m,
            pitch_deg=params.pitch_deg, safe_altitude_m=safe_alt, path_length_m=round(ring.length, 1),
            photos_per_layer=int(is_photo.sum())))
    return SurveyPlan(flown.missions, summary, flown.photos_lonlat)


def facade_coverage(outline_m: Polygon, shots: np.ndarray, pitch_deg: float, tan_h: float, tan_v: float,
                    bottom_m: float, height_m: float, max_range_m: float, step_m: float = 0.5,
                    bins: int = 200) -> float:
    """Fraction of the facade of ``outline_m`` (metres) between ``bottom_m`` and ``height_m`` inside the frame of
    at least one photo. ``shots``: rows (x, y, height, yaw degrees) of pinhole cameras at ``pitch_deg`` with
    half-field tangents ``tan_h`` x ``tan_v``. A wall point counts when a photo sees its outer face from at most
    ``max_range_m`` away (horizontally), not hidden by another part of the outline: a glimpse from afar at a
    grazing angle is not a facade photo. The wall is sampled every ``step_m`` along it and in ``bins`` heights."""
    if len(shots) == 0:
        return 0.0
    ring = np.asarray(orient(outline_m, sign=1.0).exterior.coords)
    q, nrm, w = [], [], []
    for a, b in zip(ring[:-1], ring[1:]):
        e = b - a
        length = float(np.hypot(*e))
        if length == 0:
            continue
        k = max(1, math.ceil(length / step_m))
        t = (np.arange(k) + 0.5) / k
        q.append(a + t[:, None] * e)
        nrm.append(np.tile([e[1] / length, -e[0] / length], (k, 1)))
        w.append(np.full(k, length / k))
    q, nrm, w = np.vstack(q), np.vstack(nrm), np.concatenate(w)
    shots = np.asarray(shots, dtype=float)
    dx = q[None, :, 0] - shots[:, None, 0]
    dy = q[None, :, 1] - shots[:, None, 1]
    yaw = np.radians(shots[:, 3])[:, None]
    hf = dx * np.sin(yaw) + dy * np.cos(yaw)  # horizontal, along the camera's heading
    hr = np.abs(dx * np.cos(yaw) - dy * np.sin(yaw))  # horizontal, across it
    facing = -(dx * nrm[None, :, 0] + dy * nrm[None, :, 1]) > 0
    p = math.radians(pitch_deg)
    cp, sp = math.cos(p), math.sin(p)
    lo = np.full(hf.shape, -np.inf)
    hi = np.full(hf.shape, np.inf)
    ok = facing & (hf > 0) & (np.hypot(dx, dy) <= max_range_m)
    # in the camera's frame, t = height above the camera: forward = cp*hf + sp*t; up = -sp*hf + cp*t;
    # inside the frame: forward > 0, |hr| <= tan_h * forward, |up| <= tan_v * forward; each is A * t >= B
    for a_coef, b in ((sp, -cp * hf + 1e-9), (tan_h * sp, hr - tan_h * cp * hf),
                      (-(cp - tan_v * sp), -hf * (tan_v * cp + sp)), (cp + tan_v * sp, hf * (sp - tan_v * cp))):
        if abs(a_coef) < 1e-12:
            ok &= b <= 0
        elif a_coef > 0:
            lo = np.maximum(lo, b / a_coef)
        else:
            hi = np.minimum(hi, b / a_coef)
    z0 = shots[:, 2][:, None]
    lo, hi = np.maximum(lo + z0, bottom_m), np.minimum(hi + z0, height_m)
    ok &= hi > lo
    si, qj = np.nonzero(ok)
    if outline_m.convex_hull.area > outline_m.area * (1 + 1e-9) and len(si):
        inner = outline_m.buffer(-0.02)
        ends = q[qj] + nrm[qj] * 0.01
        lines = shapely.linestrings(np.stack([shots[si, :2], ends], axis=1))
        shapely.prepare(inner)
        seen = ~shapely.intersects(inner, lines)
        si, qj = si[seen], qj[seen]
    dz = (height_m - bottom_m) / bins
    lo_b = np.clip(np.ceil((lo[si, qj] - bottom_m) / dz - 0.5), 0, bins).astype(int)
    hi_b = np.clip(np.floor((hi[si, qj] - bottom_m) / dz - 0.5) + 1, 0, bins).astype(int)
    keep = hi_b > lo_b
    diff = np.zeros((len(q), bins + 1), dtype=np.int32)
    np.add.at(diff, (qj[keep], lo_b[keep]), 1)
    np.add.at(diff, (qj[keep], hi_b[keep]), -1)
    covered = (np.cumsum(diff, axis=1)[:, :bins] > 0).mean(axis=1)
    return float((covered * w).sum() / w.sum())
