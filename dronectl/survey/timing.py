"""Flight-time estimate of a multicopter path: cruise, turns, climbs and descents.

Model (ArduCopter defaults): horizontal legs at the cruise speed; at each waypoint the copter slows
for the turn, costing ``speed / accel * turn / 180 deg`` extra seconds (a full reversal is a stop and a
restart: v/a); climbs at 2.5 m/s (WPNAV_SPEED_UP), descents at 1.5 m/s (WPNAV_SPEED_DN), and the
last 10 m of a landing at 0.5 m/s (LAND_SPEED).
"""

from __future__ import annotations

import math

import numpy as np

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
    t_h = horiz / speed_mps
    t_up = np.where(dz > 0, dz / CLIMB_MPS, 0.0)
    down = np.where(dz < 0, -dz, 0.0)
    t_dn = down / DESCENT_MPS
    # the final descent to the ground ends slowly
    if xyz[-1, 2] <= 0.0 and down[-1] > 0:
        slow = min(LAND_SLOW_M, down[-1])
        t_dn[-1] += slow / LAND_MPS - slow / DESCENT_MPS
    total = float((t_h + t_up + t_dn).sum())
    # turn penalties between consecutive horizontal legs
    moving = horiz > 0.5
    vx, vy = d[moving, 0], d[moving, 1]
    if len(vx) >= 2:
        ang = np.arctan2(vy, vx)
        turn = np.abs((np.diff(ang) + math.pi) % (2 * math.pi) - math.pi)
        total += float(np.sum(speed_mps / ACCEL_MPS2 * turn / math.pi))
    # start and stop of the horizontal flight
    if moving.any():
        total += speed_mps / ACCEL_MPS2
    return total
