"""Flight-time estimate of a multicopter: of a metric path, and of a whole Mission.

One model for everyone: the planner cuts sorties with it, ``plan check`` times a mission with it, the
PNG preview prints it. It sits just above :mod:`dronectl.mission` in the flow, so any module may use it.

Model (ArduCopter defaults): horizontal legs at the cruise speed; at each waypoint the copter slows
for the turn, costing ``speed / accel * turn / 180 deg`` extra seconds (a full reversal is a stop and a
restart: v/a); climbs at 2.5 m/s (WPNAV_SPEED_UP), descents at 1.5 m/s (WPNAV_SPEED_DN), and the
last 10 m of a landing at 0.5 m/s (LAND_SPEED).
"""

from __future__ import annotations

import math

import numpy as np
from shapely.geometry import MultiPoint

from dronectl.geo import Projector
from dronectl.mission import (CMD_DO_CHANGE_SPEED, CMD_NAV_LAND, CMD_NAV_RETURN_TO_LAUNCH, CMD_NAV_TAKEOFF,
                              CMD_NAV_WAYPOINT, FRAME_GLOBAL, Mission, MissionItem)

ACCEL_MPS2 = 2.5
CLIMB_MPS = 2.5
DESCENT_MPS = 1.5
LAND_MPS = 0.5
LAND_SLOW_M = 10.0


def path_duration_s(xyz: np.ndarray, speed_mps: float) -> float:
    """Time to fly a polyline of (x, y, z) metric points, starting and ending at rest.

    Takeoff and landing are included when the first/last points sit at z = 0 below the next/previous.
    """
    xyz = np.asarray(xyz, dtype=float)
    if len(xyz) < 2:
        return 0.0
    d = np.diff(xyz, axis=0)
    horiz = np.hypot(d[:, 0], d[:, 1])
    dz = d[:, 2]
    # The time is A / v + B * v + C (A the horizontal length, B the slow-downs, C the climbs and descents): past
    # v = sqrt(A / B) a faster copter gains nothing, since it cannot reach its speed between the turns; it flies
    # that path as at sqrt(A / B). So the estimate never grows with the speed.
    moving = horiz > 0.5
    vx, vy = d[moving, 0], d[moving, 1]
    turns = 0.0
    if len(vx) >= 2:
        ang = np.arctan2(vy, vx)
        turns = float(np.sum(np.abs((np.diff(ang) + math.pi) % (2 * math.pi) - math.pi))) / math.pi
    slow_s_per_mps = (turns + (1.0 if moving.any() else 0.0)) / ACCEL_MPS2
    if slow_s_per_mps > 0:
        speed_mps = min(speed_mps, math.sqrt(float(horiz.sum()) / slow_s_per_mps))
    t_h = horiz / speed_mps
    t_up = np.where(dz > 0, dz / CLIMB_MPS, 0.0)
    down = np.where(dz < 0, -dz, 0.0)
    t_dn = down / DESCENT_MPS
    # the final descent to the ground ends slowly
    if xyz[-1, 2] <= 0.0 and down[-1] > 0:
        last_m = min(LAND_SLOW_M, down[-1])
        t_dn[-1] += last_m / LAND_MPS - last_m / DESCENT_MPS
    total = float((t_h + t_up + t_dn).sum())
    # turn penalties between consecutive horizontal legs, and the start and stop of the horizontal flight
    return total + speed_mps * slow_s_per_mps


def estimate_duration_s(mission: Mission, speed_mps: float | None = None) -> float:
    """Estimated flight time of a mission in seconds, take-off to landing.

    The path is: on the ground at home, every positioned item in order (a take-off without coordinates
    climbs over home), and for a final RTL back over home at the last height, then down to the ground.
    It is timed with :func:`path_duration_s`, the planner's model, so a plan the planner cut to fit a
    battery passes the battery check:

    - horizontal legs at the cruise speed, plus ``speed / 2.5 m/s²`` to start and to stop;
    - at each waypoint a turn penalty of ``speed / 2.5 m/s² × turn / 180°`` (a U-turn is a stop and a
      restart, a straight pass-through costs nothing);
    - climbs at 2.5 m/s, descents at 1.5 m/s, the last 10 m of a landing at 0.5 m/s (ArduCopter defaults);
    - plus every waypoint's hold time (NAV_WAYPOINT param1, hover-and-capture).

    The speed is ``speed_mps`` if given; otherwise each ``DO_CHANGE_SPEED`` item's speed from where it
    stands, and the mission's cruise speed before the first one.
    """
    home = mission.home
    places: dict[int, tuple[float, float]] = {}
    for n, it in enumerate(mission.items, start=1):
        if it.has_position:
            places[n] = (it.lon_deg, it.lat_deg)
        elif it.command == CMD_NAV_TAKEOFF and home is not None:
            places[n] = (home.lon_deg, home.lat_deg)
    if not places and home is None:
        return 0.0
    pts_ll = list(places.values()) + ([(home.lon_deg, home.lat_deg)] if home else [])
    proj = Projector.around(MultiPoint(pts_ll))

    def rel(it: MissionItem) -> float:
        if it.frame in (FRAME_GLOBAL, 5) and home is not None:  # 5: MAV_FRAME_GLOBAL_INT
            return it.alt_m - home.alt_m
        return it.alt_m

    speed = speed_mps or mission.cruise_speed_mps or 5.0
    chunks: list[tuple[float, list]] = [(speed, [])]
    if home is not None:
        chunks[0][1].append((*proj.xy(home.lon_deg, home.lat_deg), 0.0))
    hold_s = 0.0
    last = chunks[0][1][-1] if chunks[0][1] else None
    for n, it in enumerate(mission.items, start=1):
        if it.command == CMD_DO_CHANGE_SPEED and speed_mps is None and it.param2 > 0:
            chunks.append((float(it.param2), [last] if last is not None else []))
        elif n in places:
            last = (*proj.xy(*places[n]), rel(it))
            chunks[-1][1].append(last)
            if it.command == CMD_NAV_WAYPOINT and it.param1 > 0:
                hold_s += it.param1
            if it.command == CMD_NAV_LAND:
                last = (last[0], last[1], 0.0)
                chunks[-1][1].append(last)
        elif it.command == CMD_NAV_RETURN_TO_LAUNCH and home is not None and last is not None:
            hx, hy = proj.xy(home.lon_deg, home.lat_deg)
            chunks[-1][1].extend([(hx, hy, last[2]), (hx, hy, 0.0)])
            last = (hx, hy, 0.0)
    return hold_s + sum(path_duration_s(np.array(p), v) for v, p in chunks if len(p) >= 2)
