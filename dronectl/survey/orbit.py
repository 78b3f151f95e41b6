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
from shapely.geometry import Point

from dronectl.camera import Camera
from dronectl.errors import InputError
from dronectl.geo import AirspaceZone, Projector
from dronectl.limits import check_range
from dronectl.mission import Home
from dronectl.plandata import OrbitPart, PlanData, PlanLimits
from dronectl.survey.planner import SurveyPlan
from dronectl.survey.sorties import refuse_what_check_refuses
from dronectl.survey.summary import OrbitFigures, PlanSummary, take_offs
from dronectl.survey.rings import (Ring, RingFlight, airspace_over, fit_rings, inclusion_fence, photo_speed,
                                   ring_missions, sorties_warning)

MAX_STEP_DEG = 10.0  # the ring's waypoints at most this far apart (chord sag < 0.4 % of the radius)
RADIUS_M = (5.0, 2000.0, "m")
PHOTOS = (1, 360, "photos")
PITCH_DEG = (-89.0, 0.0, "degrees")


@dataclass(frozen=True)
class OrbitParams(RingFlight):
    center_latlon: tuple[float, float]
    radius_m: float
    altitudes_m: tuple[float, ...]  # one ring per height above the take-off point, flown in this order
    photos: int = 24  # per ring, evenly spaced
    pitch_deg: float | None = None  # camera pitch below the horizon (negative); None: look at the centre's foot

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
        self.check_flight()

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
    spacing = 2 * math.pi * params.radius_m / params.photos
    speed, warnings = photo_speed(camera, spacing, params.speed_mps, f"--photos {params.photos}",
                                  "take fewer photos or a larger radius")
    circle = Point(cx, cy).buffer(params.radius_m + 1.0)
    for z in airspace_over(airspace, proj, circle):
        if z.ceiling_m <= 0:
            raise InputError(f"the orbit enters airspace '{z.name}', where flight is forbidden: move the centre "
                             "or shrink the radius")
        for a in params.altitudes_m:
            if a > z.ceiling_m:
                raise InputError(f"altitude {a:g} m is above the {z.ceiling_m:g} m ceiling of airspace '{z.name}' "
                                 f"over this orbit: use --altitude {z.ceiling_m:g} or less")

    # the ring starts at its point nearest the take-off point and turns clockwise
    start = math.atan2(hx - cx, hy - cy) if math.hypot(hx - cx, hy - cy) > 0.5 else math.pi
    ang, is_photo = ring_angles(params.photos)
    ring_xy = np.column_stack([cx + params.radius_m * np.sin(start + ang), cy + params.radius_m * np.cos(start + ang)])
    rings = [Ring(ring_xy, a, is_photo, {0: (cx, cy, params.roi_height_m(a))}) for a in params.altitudes_m]

    home_alt = params.home_alt_m if params.home_alt_m is not None else 0.0
    hlon, hlat = proj.lonlat(hx, hy)
    home = Home(round(float(hlat), 7), round(float(hlon), 7), round(float(home_alt), 2))
    fence = inclusion_fence(proj, Point(cx, cy).buffer(params.radius_m, quad_segs=16), (hx, hy),
                            params.fence_margin_m)
    groups = fit_rings(rings, (hx, hy), None, speed, params,
                       lambda r: f"one ring of {params.radius_m:g} m at {r.alt_m:g} m")
    meta = PlanData(zone=name, camera=camera.id, speed_mps=speed, limits=PlanLimits.of(params),
                    part=OrbitPart((clat, clon), params.radius_m, params.photos),
                    area=proj.to_lonlat(Point(cx, cy).buffer(params.radius_m, quad_segs=32)))
    flown = ring_missions(groups, proj, home, (hx, hy), None, speed, fence, meta)
    refuse_what_check_refuses(flown.missions, airspace, params, False)
    warnings += sorties_warning(groups, params)
    alt0 = params.altitudes_m[0]
    slant = math.hypot(params.radius_m, alt0 - params.roi_height_m(alt0))
    homes, sortie_homes = take_offs(flown.missions, [0] * len(flown.missions))
    summary = PlanSummary(
        pattern="orbit", zone=name, camera=camera.id, altitude_m=alt0,
        gsd_cm=round(camera.gsd_cm(slant), 3),  # at the centre, along the line of sight
        speed_mps=speed, trigger_distance_m=round(spacing, 1), length_m=round(flown.length_m, 1),
        duration_s=round(flown.duration_s, 1), photos=len(flown.photos_lonlat), coverage=None, sorties=len(groups),
        items=tuple(len(m.items) for m in flown.missions), homes=homes, sortie_homes=sortie_homes,
        warnings=tuple(warnings),
        figures=OrbitFigures(center=(clat, clon), radius_m=params.radius_m, altitudes_m=tuple(params.altitudes_m),
                             rings=len(params.altitudes_m), photos_per_ring=params.photos,
                             photo_spacing_m=round(spacing, 2),
                             pitch_deg=tuple(round(params.pitch_at(a), 1) for a in params.altitudes_m),
                             slant_distance_m=round(slant, 1)))
    return SurveyPlan(flown.missions, summary, flown.photos_lonlat)
