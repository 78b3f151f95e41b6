"""plan_orbit: circles around a point of interest, the camera on the centre, one photo per waypoint.

The camera is pointed with one command ArduPilot flies in AUTO on every version: ``MAV_CMD_DO_SET_ROI_LOCATION``
(the copter yaws to face the location and a pitch-stabilised gimbal tilts to it); the pitch is set by the
ROI's height: a target ``radius × tan(pitch)`` below the flight height, on the centre. ``MAV_CMD_DO_SET_ROI_NONE``
releases it before the return. Each ring is flown as waypoints at most ``MAX_STEP_DEG`` apart (so the chords
stay within a fraction of a percent of the circle) and a ``MAV_CMD_DO_DIGICAM_CONTROL`` at each photo
waypoint: exactly ``photos`` pictures per ring, at known places. See docs/planning.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely.geometry import Point, mapping

from dronectl.camera import Camera
from dronectl.errors import InputError, PlanningError
from dronectl.geo import AirspaceZone, Projector
from dronectl.limits import check_range
from dronectl.mission import (CMD_DO_CHANGE_SPEED, CMD_DO_DIGICAM_CONTROL, CMD_DO_SET_ROI_LOCATION,
                              CMD_DO_SET_ROI_NONE, CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_TAKEOFF, CMD_NAV_WAYPOINT,
                              FRAME_GLOBAL_RELATIVE_ALT, FRAME_MISSION, FencePolygon, Home, Mission, MissionItem)
from dronectl.survey.planner import SurveyPlan, refuse_what_check_refuses
from dronectl.timing import path_duration_s

MAX_STEP_DEG = 10.0  # the ring's waypoints at most this far apart (chord sag < 0.4 % of the radius)
RADIUS_M = (5.0, 2000.0, "m")
PHOTOS = (1, 360, "photos")
PITCH_DEG = (-89.0, 0.0, "degrees")


@dataclass(frozen=True)
class OrbitParams:
    center_latlon: tuple[float, float]
    radius_m: float
    altitudes_m: tuple[float, ...]  # one ring per height above the take-off point, flown in this order
    photos: int = 24  # per ring, evenly spaced
    pitch_deg: float | None = None  # camera pitch below the horizon (negative); None: look at the centre's foot
    speed_mps: float = 5.0
    home_latlon: tuple[float, float] | None = None
    home_alt_m: float | None = None
    battery_min: float = 25.0
    reserve: float = 0.25
    capacity: int = 650
    max_altitude_m: float = 120.0
    fence_margin_m: float = 20.0
    vlos_m: float = 500.0

    def __post_init__(self):
        from dronectl import limits as L

        lat, lon = self.center_latlon
        check_range("--center latitude", lat, (-90.0, 90.0, "degrees"))
        check_range("--center longitude", lon, (-180.0, 180.0, "degrees"))
        check_range("--radius", self.radius_m, RADIUS_M)
        if not self.altitudes_m:
            raise InputError("give the orbit's height with --altitude M or --altitudes A,B")
        check_range("max_altitude_m", self.max_altitude_m, (1.0, 500.0, "m"))
        for a in self.altitudes_m:
            check_range("--altitude", a, (L.ALTITUDE_M[0], self.max_altitude_m, "m"))
        check_range("--photos", self.photos, PHOTOS, integer=True)
        if self.pitch_deg is not None:
            check_range("--pitch", self.pitch_deg, PITCH_DEG)
        check_range("--speed", self.speed_mps, L.SPEED_MPS)
        if self.home_latlon is not None:
            check_range("--home latitude", self.home_latlon[0], (-90.0, 90.0, "degrees"))
            check_range("--home longitude", self.home_latlon[1], (-180.0, 180.0, "degrees"))
        if self.home_alt_m is not None:
            check_range("--home altitude", self.home_alt_m, L.HOME_ALT_M)
        check_range("--battery-min", self.battery_min, L.BATTERY_MIN)
        check_range("--reserve", self.reserve, L.RESERVE_PCT, scale=100.0)
        check_range("--capacity", self.capacity, L.CAPACITY_ITEMS, integer=True)
        check_range("fence_margin_m", self.fence_margin_m, L.MARGIN_M)
        check_range("--vlos", self.vlos_m, L.VLOS_M)

    def roi_height_m(self, altitude_m: float) -> float:
        """Height above the take-off point of the ROI the camera looks at from a ring at ``altitude_m``."""
        if self.pitch_deg is None:
            return 0.0
        return altitude_m + self.radius_m * math.tan(math.radians(self.pitch_deg))

    def pitch_at(self, altitude_m: float) -> float:
        """The camera's pitch (degrees, negative down) from a ring at ``altitude_m``."""
        return -math.degrees(math.atan2(altitude_m - self.roi_height_m(altitude_m), self.radius_m))


def ring_angles(photos: int) -> tuple[np.ndarray, np.ndarray]:
    """Angles (radians from the ring's start, clockwise seen from above) of a ring's waypoints, and which of them
    are photo points: ``photos`` evenly spaced, steps of at most MAX_STEP_DEG between, back to the start."""
    sub = max(1, math.ceil(360.0 / photos / MAX_STEP_DEG - 1e-9))
    n = photos * sub
    ang = np.arange(n + 1) * (2 * math.pi / n)
    return ang, (np.arange(n + 1) % sub == 0) & (np.arange(n + 1) < n)


def plan_orbit(camera: Camera, params: OrbitParams, airspace: list[AirspaceZone] | None = None,
               name: str = "orbit") -> SurveyPlan:
    """Missions flying ``params.altitudes_m`` rings of ``params.radius_m`` around the centre, camera on it."""
    warnings: list[str] = []
    clat, clon = params.center_latlon
    proj = Projector.around(Point(clon, clat))
    cx, cy = (float(v) for v in proj.xy(clon, clat))
    if params.home_latlon is not None:
        hx, hy = (float(v) for v in proj.xy(params.home_latlon[1], params.home_latlon[0]))
    else:  # on the circle, south of the centre
        hx, hy = cx, cy - params.radius_m
    if math.hypot(hx - cx, hy - cy) > params.radius_m + params.vlos_m:
        raise InputError(f"the take-off point is {math.hypot(hx - cx, hy - cy) - params.radius_m:.0f} m from the "
                         f"orbit, beyond the {params.vlos_m:g} m visual line of sight: take off nearer (--home)")
    interval = camera.min_trigger_interval_s
    spacing = 2 * math.pi * params.radius_m / params.photos
    speed = params.speed_mps
    if spacing / speed < interval:
        speed = max(1.0, math.floor(spacing / interval * 10) / 10)
        if spacing / speed < interval:
            raise InputError(f"--photos {params.photos}: photos {spacing:.1f} m apart, closer than camera "
                             f"'{camera.id}' can take them ({interval:g} s between photos at 1 m/s): "
                             "take fewer photos or a larger radius")
        warnings.append(f"speed lowered from {params.speed_mps:g} to {speed:g} m/s: camera '{camera.id}' needs "
                        f"{interval:g} s between photos {spacing:.1f} m apart")
    for z in airspace or []:
        zm = proj.to_metric(z.geometry)
        circle = Point(cx, cy).buffer(params.radius_m + 1.0)
        if zm.intersects(circle) and z.ceiling_m <= 0:
            raise InputError(f"the orbit enters airspace '{z.name}', where flight is forbidden: move the centre "
                             "or shrink the radius")
        for a in params.altitudes_m:
            if a > z.ceiling_m and zm.intersects(circle):
                raise InputError(f"altitude {a:g} m is above the {z.ceiling_m:g} m ceiling of airspace '{z.name}' "
                                 f"over this orbit: use --altitude {z.ceiling_m:g} or less")

    # the ring starts at its point nearest the take-off point and turns clockwise
    start = math.atan2(hx - cx, hy - cy) if math.hypot(hx - cx, hy - cy) > 0.5 else math.pi
    ang, is_photo = ring_angles(params.photos)
    ring_xy = np.column_stack([cx + params.radius_m * np.sin(start + ang), cy + params.radius_m * np.cos(start + ang)])

    home_alt = params.home_alt_m if params.home_alt_m is not None else 0.0
    hlon, hlat = proj.lonlat(hx, hy)
    home = Home(round(float(hlat), 7), round(float(hlon), 7), round(float(home_alt), 2))
    fence_m = Point(cx, cy).buffer(params.radius_m + params.fence_margin_m, quad_segs=16).union(
        Point(hx, hy).buffer(params.fence_margin_m, quad_segs=4)).convex_hull
    fence_ll = proj.to_lonlat(fence_m)
    fence = (FencePolygon(tuple((round(y, 7), round(x, 7)) for x, y in fence_ll.exterior.coords[:-1]), True),)

    def ll(x, y):
        lon, lat = proj.lonlat(x, y)
        return round(float(lat), 7), round(float(lon), 7)

    def ring_points(alt):
        return [(x, y, alt) for x, y in ring_xy]

    def sortie_points(alts) -> np.ndarray:
        pts = [(hx, hy, 0.0), (hx, hy, alts[0])]
        for a in alts:
            pts += ring_points(a)
        pts += [(hx, hy, pts[-1][2]), (hx, hy, 0.0)]
        return np.array(pts)

    usable_s = params.battery_min * 60.0 * (1.0 - params.reserve)
    groups: list[list[float]] = []
    for a in params.altitudes_m:
        if groups and path_duration_s(sortie_points(groups[-1] + [a]), speed) <= usable_s:
            groups[-1].append(a)
            continue
        if path_duration_s(sortie_points([a]), speed) > usable_s:
            raise PlanningError(f"one ring of {params.radius_m:g} m at {a:g} m does not fit in one battery "
                                f"({params.battery_min:g} min with {params.reserve * 100:g} % reserve): "
                                "shrink the radius or use a bigger battery")
        groups.append([a])

    missions: list[Mission] = []
    photos_ll: list[tuple[float, float]] = []
    total_len = total_s = 0.0
    area = mapping(proj.to_lonlat(Point(cx, cy).buffer(params.radius_m, quad_segs=32)))
    base_meta = {"pattern": "orbit", "zone": name, "camera": camera.id, "center": [clat, clon],
                 "radius_m": params.radius_m, "photos_per_ring": params.photos, "speed_mps": speed,
                 "battery_min": params.battery_min, "reserve": params.reserve, "capacity": params.capacity,
                 "vlos_m": params.vlos_m, "area": area}
    for n, alts in enumerate(groups, start=1):
        items = [MissionItem(CMD_NAV_TAKEOFF, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, home.lat_deg, home.lon_deg,
                             alts[0]),
                 MissionItem(CMD_DO_CHANGE_SPEED, FRAME_MISSION, 1, speed, -1, 0)]
        photos: list[list[float]] = []
        for a in alts:
            items.append(MissionItem(CMD_DO_SET_ROI_LOCATION, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, round(clat, 7),
                                     round(clon, 7), round(params.roi_height_m(a), 2)))
            for (x, y), photo in zip(ring_xy, is_photo):
                lat, lon = ll(x, y)
                items.append(MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, lat, lon, a))
                if photo:
                    items.append(MissionItem(CMD_DO_DIGICAM_CONTROL, FRAME_MISSION, 0, 0, 0, 0, 1, 0, 0))
                    heading = math.degrees(math.atan2(cx - x, cy - y)) % 360.0
                    photos.append([lon, lat, round(heading, 2), a])
        items.append(MissionItem(CMD_DO_SET_ROI_NONE, FRAME_MISSION))
        items.append(MissionItem(CMD_NAV_RETURN_TO_LAUNCH, FRAME_MISSION))
        pts = sortie_points(alts)
        dur = path_duration_s(pts, speed)
        length = float(np.hypot(*np.diff(pts[:, :2], axis=0).T).sum())
        total_len += length
        total_s += dur
        photos_ll += [(p[0], p[1]) for p in photos]
        meta = dict(base_meta, sortie=n, sorties=len(groups), altitudes_m=alts, duration_s=round(dur, 1),
                    length_m=round(length, 1), photos=len(photos), photo_points=photos)
        missions.append(Mission(items=tuple(items), home=home, fence_polygons=fence, cruise_speed_mps=speed,
                                hover_speed_mps=speed, meta=meta))
    refuse_what_check_refuses(missions, airspace, params, False)
    if len(groups) > 1:
        warnings.append(f"{len(groups)} sorties: one battery ({params.battery_min:g} min, "
                        f"{params.reserve * 100:g} % reserve) is not enough")
    alt0 = params.altitudes_m[0]
    slant = math.hypot(params.radius_m, alt0 - params.roi_height_m(alt0))
    summary = {
        "pattern": "orbit",
        "zone": name,
        "camera": camera.id,
        "altitude_m": alt0,
        "angle_deg": None,
        "area_m2": None,
        "transects": len(params.altitudes_m),  # one ring each
        "passes": len(params.altitudes_m),
        "length_m": round(total_len, 1),
        "duration_s": round(total_s, 1),
        "photos": len(photos_ll),
        "gsd_cm": round(camera.gsd_cm(slant), 3),  # at the centre, along the line of sight
        "line_spacing_m": None,
        "trigger_distance_m": round(spacing, 1),
        "footprint_side_m": None,
        "footprint_front_m": None,
        "speed_mps": speed,
        "sorties": len(groups),
        "items": [len(m.items) for m in missions],
        "coverage": None,
        "warnings": warnings,
        "center": [clat, clon],
        "radius_m": params.radius_m,
        "altitudes_m": list(params.altitudes_m),
        "rings": len(params.altitudes_m),
        "photos_per_ring": params.photos,
        "photo_spacing_m": round(spacing, 2),
        "pitch_deg": [round(params.pitch_at(a), 1) for a in params.altitudes_m],
        "slant_distance_m": round(slant, 1),
    }
    return SurveyPlan(missions, summary, photos_ll)
