"""Closed loops flown one height at a time with the camera on a region of interest: what ``plan orbit`` and
``plan structure`` share.

A :class:`Ring` is one loop at one height: its waypoints (local metres), which of them are photo points, and
the ROIs (``MAV_CMD_DO_SET_ROI_LOCATION``) to set on the way. :func:`fit_rings` groups the rings into sorties
that fit one battery and the autopilot's capacity; :func:`ring_missions` writes the sorties: take-off, speed,
(entry above the first ring), the rings with their ROIs and one ``MAV_CMD_DO_DIGICAM_CONTROL`` per photo point,
``MAV_CMD_DO_SET_ROI_NONE``, (exit above the last ring and home), return to launch. Pure geometry, no I/O.

ArduPilot runs the DO_ items that follow a NAV item once that NAV item is reached, before flying to the next:
a DIGICAM after a waypoint is a photo there, an ROI before a waypoint is where the camera looks on arrival.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from dronectl.camera import Camera
from dronectl.errors import InputError, PlanningError
from dronectl.geo import AirspaceZone, Projector, fence_polygons
from dronectl.limits import check_flight_limits
from dronectl.mission import (CMD_DO_CHANGE_SPEED, CMD_DO_DIGICAM_CONTROL, CMD_DO_SET_ROI_LOCATION,
                              CMD_DO_SET_ROI_NONE, CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_TAKEOFF, CMD_NAV_WAYPOINT,
                              FRAME_GLOBAL_RELATIVE_ALT, FRAME_MISSION, FencePolygon, Home, Mission, MissionItem)
from dronectl.plandata import PhotoPoint, PlanData
from dronectl.timing import path_duration_s


@dataclass(frozen=True, kw_only=True)
class RingFlight:
    """The flight settings every ring pattern takes (keyword-only), checked like the options they come from."""

    speed_mps: float = 5.0
    home_latlon: tuple[float, float] | None = None
    home_alt_m: float | None = None
    battery_min: float = 25.0
    reserve: float = 0.25
    capacity: int = 650
    max_altitude_m: float = 120.0
    fence_margin_m: float = 20.0
    vlos_m: float = 500.0

    def check_flight(self) -> None:
        check_flight_limits(self)


@dataclass(frozen=True)
class Ring:
    """One loop at ``alt_m`` above the take-off point: waypoints ``xy`` (metres, in flying order), ``photo[i]``
    true where a picture is taken, ``rois[i]`` an ROI (x, y, height) set just before flying to waypoint i."""

    xy: np.ndarray
    alt_m: float
    photo: np.ndarray
    rois: dict[int, tuple[float, float, float]] = field(default_factory=dict)

    @property
    def items(self) -> int:
        return len(self.xy) + int(self.photo.sum()) + len(self.rois)

    def shots(self) -> list[tuple[float, float, float, tuple[float, float, float]]]:
        """(x, y, heading, roi) of each photo: heading in degrees clockwise from grid north, to the ROI in force."""
        out, roi = [], None
        for i, (x, y) in enumerate(self.xy):
            roi = self.rois.get(i, roi)
            if self.photo[i]:
                h = math.degrees(math.atan2(roi[0] - x, roi[1] - y)) % 360.0 if roi is not None else 0.0
                out.append((float(x), float(y), h, roi))
        return out


def photo_speed(camera: Camera, spacing_m: float, speed_mps: float, what: str, fix: str) -> tuple[float, list[str]]:
    """The speed at which ``camera`` can take photos ``spacing_m`` apart (lowered from ``speed_mps`` if need be,
    with a warning); InputError ("WHAT: ... FIX") when even 1 m/s is too fast."""
    interval = camera.min_trigger_interval_s
    if spacing_m / speed_mps >= interval:
        return speed_mps, []
    speed = max(1.0, math.floor(spacing_m / interval * 10) / 10)
    if spacing_m / speed < interval:
        raise InputError(f"{what}: photos {spacing_m:.1f} m apart, closer than camera '{camera.id}' can take them "
                         f"({interval:g} s between photos at 1 m/s): {fix}")
    return speed, [f"speed lowered from {speed_mps:g} to {speed:g} m/s: camera '{camera.id}' needs {interval:g} s "
                   f"between photos {spacing_m:.1f} m apart"]


def airspace_over(airspace: list[AirspaceZone] | None, proj: Projector, area_m: BaseGeometry) -> list[AirspaceZone]:
    """The airspace zones over ``area_m`` (metres), lowest ceiling first."""
    return sorted((z for z in airspace or [] if proj.to_metric(z.geometry).intersects(area_m)),
                  key=lambda z: z.ceiling_m)


def sortie_path(rings: list[Ring], home_xy: tuple[float, float], safe_alt_m: float | None) -> np.ndarray:
    """(x, y, z) of a sortie flying ``rings``: from the ground at home and back. With ``safe_alt_m`` the vehicle
    climbs to it, enters above the first ring's start and leaves above the last ring's end; without, it climbs
    to the first ring's height and the return to launch flies straight home."""
    hx, hy = home_xy
    first, last = rings[0], rings[-1]
    if safe_alt_m is None:
        pts = [(hx, hy, 0.0), (hx, hy, first.alt_m)]
    else:
        pts = [(hx, hy, 0.0), (hx, hy, safe_alt_m), (*first.xy[0], safe_alt_m)]
    for r in rings:
        pts += [(x, y, r.alt_m) for x, y in r.xy]
    if safe_alt_m is None:
        pts += [(hx, hy, last.alt_m), (hx, hy, 0.0)]
    else:
        pts += [(*last.xy[-1], safe_alt_m), (hx, hy, safe_alt_m), (hx, hy, 0.0)]
    return np.array(pts, dtype=float)


def _sortie_items(rings: list[Ring], safe_alt_m: float | None) -> int:
    """Items of a sortie (home excluded): take-off, speed, entry, rings, ROI_NONE, exit, RTL."""
    return 2 + sum(r.items for r in rings) + 2 + (3 if safe_alt_m is not None else 0)


def fit_rings(rings: list[Ring], home_xy: tuple[float, float], safe_alt_m: float | None, speed_mps: float,
              params: RingFlight, describe: Callable[[Ring], str]) -> list[list[Ring]]:
    """Consecutive rings grouped into sorties that each fit one battery (minus the reserve) and the autopilot's
    capacity; PlanningError naming the ring (``describe(ring)``) when one ring alone does not."""
    usable_s = params.battery_min * 60.0 * (1.0 - params.reserve)

    def fits(group):
        return (path_duration_s(sortie_path(group, home_xy, safe_alt_m), speed_mps) <= usable_s
                and _sortie_items(group, safe_alt_m) + 1 <= params.capacity)

    groups: list[list[Ring]] = []
    for r in rings:
        if groups and fits(groups[-1] + [r]):
            groups[-1].append(r)
            continue
        if path_duration_s(sortie_path([r], home_xy, safe_alt_m), speed_mps) > usable_s:
            raise PlanningError(f"{describe(r)} does not fit in one battery ({params.battery_min:g} min with "
                                f"{params.reserve * 100:g} % reserve): shrink it or use a bigger battery")
        if _sortie_items([r], safe_alt_m) + 1 > params.capacity:
            raise PlanningError(f"{describe(r)} needs {_sortie_items([r], safe_alt_m) + 1} mission items, more than "
                                f"the autopilot's capacity of {params.capacity}: raise --capacity or take fewer "
                                "photos (lower the overlap)")
        groups.append([r])
    return groups


def inclusion_fence(proj: Projector, flown_m: BaseGeometry, home_xy: tuple[float, float],
                    margin_m: float) -> tuple[FencePolygon, ...]:
    """One inclusion fence: the convex hull of what is flown and the take-off point, ``margin_m`` around."""
    return fence_polygons(proj, flown_m.buffer(margin_m, quad_segs=4).union(
        Point(home_xy).buffer(margin_m, quad_segs=4)).convex_hull)


@dataclass
class RingMissions:
    missions: list[Mission]
    photos_lonlat: list[tuple[float, float]]
    length_m: float
    duration_s: float


def ring_missions(groups: list[list[Ring]], proj: Projector, home: Home, home_xy: tuple[float, float],
                  safe_alt_m: float | None, speed_mps: float, fence: tuple[FencePolygon, ...],
                  data: PlanData) -> RingMissions:
    """One Mission per group of rings (see the module docstring); ``data`` goes into each, with the sortie's
    number, heights, duration, length and photo points."""

    def ll(x, y):
        lon, lat = proj.lonlat(x, y)
        return round(float(lat), 7), round(float(lon), 7)

    def wp(x, y, alt):
        lat, lon = ll(x, y)
        return MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, lat, lon, round(float(alt), 2))

    out = RingMissions([], [], 0.0, 0.0)
    for n, rings in enumerate(groups, start=1):
        items = [MissionItem(CMD_NAV_TAKEOFF, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, home.lat_deg, home.lon_deg,
                             safe_alt_m if safe_alt_m is not None else rings[0].alt_m),
                 MissionItem(CMD_DO_CHANGE_SPEED, FRAME_MISSION, 1, speed_mps, -1, 0)]
        if safe_alt_m is not None:
            items.append(wp(*rings[0].xy[0], safe_alt_m))
        photos: list[PhotoPoint] = []
        for r in rings:
            roi = None
            for i, (x, y) in enumerate(r.xy):
                if i in r.rois:
                    roi = r.rois[i]
                    rlat, rlon = ll(roi[0], roi[1])
                    items.append(MissionItem(CMD_DO_SET_ROI_LOCATION, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, rlat,
                                             rlon, round(float(roi[2]), 2)))
                items.append(wp(x, y, r.alt_m))
                if r.photo[i]:
                    items.append(MissionItem(CMD_DO_DIGICAM_CONTROL, FRAME_MISSION, 0, 0, 0, 0, 1, 0, 0))
                    heading = math.degrees(math.atan2(roi[0] - x, roi[1] - y)) % 360.0 if roi is not None else 0.0
                    lat, lon = ll(x, y)
                    photos.append(PhotoPoint(lon, lat, round(heading, 2), r.alt_m))
        items.append(MissionItem(CMD_DO_SET_ROI_NONE, FRAME_MISSION))
        if safe_alt_m is not None:
            items.append(wp(*rings[-1].xy[-1], safe_alt_m))
            items.append(wp(*home_xy, safe_alt_m))
        items.append(MissionItem(CMD_NAV_RETURN_TO_LAUNCH, FRAME_MISSION))
        pts = sortie_path(rings, home_xy, safe_alt_m)
        dur = path_duration_s(pts, speed_mps)
        length = float(np.hypot(*np.diff(pts[:, :2], axis=0).T).sum())
        out.length_m += length
        out.duration_s += dur
        out.photos_lonlat += [(p.lon_deg, p.lat_deg) for p in photos]
        m = replace(data, sortie=n, sorties=len(groups), ring_altitudes_m=tuple(r.alt_m for r in rings),
                    duration_s=round(dur, 1), length_m=round(length, 1), photo_points=tuple(photos))
        out.missions.append(Mission(items=tuple(items), home=home, fence_polygons=fence, cruise_speed_mps=speed_mps,
                                    hover_speed_mps=speed_mps, plan_data=m))
    return out


def sorties_warning(groups: list, params: RingFlight) -> list[str]:
    if len(groups) <= 1:
        return []
    return [f"{len(groups)} sorties: one battery ({params.battery_min:g} min, {params.reserve * 100:g} % reserve) "
            "or the autopilot's capacity is not enough for one"]
