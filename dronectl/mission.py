"""The Mission model: plain data, the single in-memory truth every file format reads and writes.

Items follow MAVLink's ``MISSION_ITEM_INT`` shape: a command with params 1-4, a position (x = lat,
y = lon in degrees, z = altitude in metres in ``frame``). Seq 0 is *not* an item here: the home
position is kept apart, as QGroundControl's ``plannedHomePosition`` does; writers that need a home
row (``.waypoints``, the MAVLink upload) add it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from dronectl.plandata import PlanData

# MAV_FRAME
FRAME_GLOBAL = 0  # altitude above mean sea level
FRAME_MISSION = 2  # no position (DO_ / command items)
FRAME_GLOBAL_RELATIVE_ALT = 3  # altitude above home
FRAME_GLOBAL_TERRAIN_ALT = 10  # altitude above terrain

# MAV_CMD
CMD_NAV_WAYPOINT = 16
CMD_NAV_LOITER_UNLIM = 17
CMD_NAV_RETURN_TO_LAUNCH = 20
CMD_NAV_LAND = 21
CMD_NAV_TAKEOFF = 22
CMD_DO_CHANGE_SPEED = 178
CMD_DO_SET_CAM_TRIGG_DIST = 206
CMD_DO_DIGICAM_CONTROL = 203
CMD_DO_SET_ROI_LOCATION = 195
CMD_DO_SET_ROI_NONE = 197
CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
CMD_NAV_FENCE_CIRCLE_INCLUSION = 5003
CMD_NAV_FENCE_CIRCLE_EXCLUSION = 5004
CMD_NAV_RALLY_POINT = 5100

# Commands whose x/y/z carry a position the vehicle flies to.
NAV_COMMANDS_WITH_POSITION = frozenset({CMD_NAV_WAYPOINT, CMD_NAV_LOITER_UNLIM, CMD_NAV_LAND, CMD_NAV_TAKEOFF})

# Commands whose x/y are a latitude/longitude (degrees x 1e7 in MISSION_ITEM_INT), whatever their frame says: the
# list ArduPilot keeps as a location (AP_Mission::stored_in_location). Every other command's x/y are its param5/6
# as they are; ArduPilot reports such items with frame 0 (MAV_FRAME_GLOBAL) when they are downloaded.
COMMANDS_WITH_LOCATION = frozenset({
    16, 17, 18, 19, 21, 22, 30, 31, 82, 84, 85, 92, 94,  # NAV: waypoint, loiters, land, take-off, spline, VTOL...
    179, 188, 189, 191, 195, 201,  # DO: set home, return path start, land start, go around, ROI location, ROI
    5000, 5001, 5002, 5003, 5004, 5100,  # fence return point, fence vertices and circles, rally point
})

# Every command a plan file may hold: what dronectl writes, and what ArduPilot's AP_Mission flies (its
# mavlink_int_to_mission_cmd), fence and rally items included. Any other id is refused on read.
KNOWN_COMMANDS = frozenset({
    16, 17, 18, 19, 20, 21, 22, 30, 31, 82, 83, 84, 85, 92, 93, 94,  # NAV
    112, 113, 114, 115,  # CONDITION: delay, change alt, distance, yaw
    176, 177, 178, 179, 181, 182, 183, 184, 188, 189, 191, 194, 195, 197, 201, 202, 203, 205, 206, 207, 208, 210,
    211, 212, 213, 215, 216, 217, 218, 222, 223,  # DO (213: NAV_SET_YAW_SPEED)
    531, 532, 534, 600, 601, 1000, 2000, 2001, 2003, 2500, 2501,  # camera zoom/focus/source, jump tags, gimbal, camera
    3000, 42600, 42702, 42703,  # VTOL transition, winch, scripting NAV commands
    5000, 5001, 5002, 5003, 5004, 5100,  # fence return point, fence vertices and circles, rally point
})
# MAV_FRAME values a mission item may have: global (AMSL), mission (no position), relative to home, their _INT
# forms, terrain and terrain _INT.
KNOWN_FRAMES = frozenset({0, 2, 3, 5, 6, 10, 11})

COMMAND_NAMES = {
    CMD_NAV_WAYPOINT: "WAYPOINT",
    CMD_NAV_LOITER_UNLIM: "LOITER_UNLIM",
    CMD_NAV_RETURN_TO_LAUNCH: "RETURN_TO_LAUNCH",
    CMD_NAV_LAND: "LAND",
    CMD_NAV_TAKEOFF: "TAKEOFF",
    CMD_DO_CHANGE_SPEED: "DO_CHANGE_SPEED",
    CMD_DO_SET_CAM_TRIGG_DIST: "DO_SET_CAM_TRIGG_DIST",
    CMD_DO_DIGICAM_CONTROL: "DO_DIGICAM_CONTROL",
    CMD_DO_SET_ROI_LOCATION: "DO_SET_ROI_LOCATION",
    CMD_DO_SET_ROI_NONE: "DO_SET_ROI_NONE",
}


@dataclass(frozen=True)
class MissionItem:
    """One mission item, as MAVLink's MISSION_ITEM_INT carries it (lat/lon in degrees here)."""

    command: int
    frame: int = FRAME_GLOBAL_RELATIVE_ALT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    lat_deg: float = 0.0
    lon_deg: float = 0.0
    alt_m: float = 0.0
    autocontinue: bool = True

    @property
    def has_position(self) -> bool:
        return self.command in NAV_COMMANDS_WITH_POSITION and not (self.lat_deg == 0.0 and self.lon_deg == 0.0)

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, f"CMD_{self.command}")

    def params(self) -> tuple[float, float, float, float]:
        return (self.param1, self.param2, self.param3, self.param4)


@dataclass(frozen=True)
class Home:
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0  # above mean sea level


@dataclass(frozen=True)
class FencePolygon:
    """A geofence polygon, vertices as (lat, lon) degrees; inclusion or exclusion."""

    vertices: tuple[tuple[float, float], ...]
    inclusion: bool = True


@dataclass(frozen=True)
class FenceCircle:
    lat_deg: float
    lon_deg: float
    radius_m: float
    inclusion: bool = True


@dataclass(frozen=True)
class RallyPoint:
    lat_deg: float
    lon_deg: float
    alt_m: float  # relative to home


@dataclass(frozen=True)
class Mission:
    """A complete mission: items (without home), home, geofence and rally points, plus metadata."""

    items: tuple[MissionItem, ...]
    home: Home | None = None
    fence_polygons: tuple[FencePolygon, ...] = ()
    fence_circles: tuple[FenceCircle, ...] = ()
    rally: tuple[RallyPoint, ...] = ()
    cruise_speed_mps: float = 5.0
    hover_speed_mps: float = 5.0
    # What dronectl planned (pattern, zone, camera, limits, photo points...); None for a plan from elsewhere.
    plan_data: PlanData | None = None

    def with_items(self, items) -> "Mission":
        return replace(self, items=tuple(items))

    def positions(self) -> list[tuple[float, float, float]]:
        """(lat, lon, alt) of every item that carries a position, in order."""
        return [(i.lat_deg, i.lon_deg, i.alt_m) for i in self.items if i.has_position]

    def same_as(self, other: "Mission", pos_tol_deg: float = 1e-7, alt_tol_m: float = 0.01,
                param_tol: float = 1e-4) -> bool:
        """True if both missions carry the same items, within float-rounding tolerances."""
        return not mission_differences(self, other, pos_tol_deg, alt_tol_m, param_tol)


def _close(a: float, b: float, tol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return abs(a - b) <= tol


def mission_differences(a: Mission, b: Mission, pos_tol_deg: float = 1e-7, alt_tol_m: float = 0.01,
                        param_tol: float = 1e-4) -> list[str]:
    """Human-readable differences between the items of two missions (empty when they match).

    Tolerances absorb the autopilot's rounding: lat/lon go through int32 1e-7 degrees, altitude and
    params through float32.
    """
    diffs: list[str] = []
    if len(a.items) != len(b.items):
        diffs.append(f"item count differs: {len(a.items)} vs {len(b.items)}")
        return diffs
    for n, (x, y) in enumerate(zip(a.items, b.items), start=1):
        if x.command != y.command:
            diffs.append(f"item {n}: command {x.name} vs {y.name}")
            continue
        if x.frame != y.frame and (x.has_position or y.has_position):
            diffs.append(f"item {n}: frame {x.frame} vs {y.frame}")
        for k, (p, q) in enumerate(zip(x.params(), y.params()), start=1):
            if not _close(p, q, param_tol * max(1.0, abs(p))):
                diffs.append(f"item {n}: param{k} {p:g} vs {q:g}")
        if x.command not in COMMANDS_WITH_LOCATION:  # x/y/z are the command's param5/6/7
            for k, (p, q) in enumerate(((x.lat_deg, y.lat_deg), (x.lon_deg, y.lon_deg), (x.alt_m, y.alt_m)), start=5):
                if not _close(p, q, param_tol * max(1.0, abs(p))):
                    diffs.append(f"item {n}: param{k} {p:g} vs {q:g}")
        elif x.has_position or y.has_position:
            if not (_close(x.lat_deg, y.lat_deg, pos_tol_deg) and _close(x.lon_deg, y.lon_deg, pos_tol_deg)):
                diffs.append(f"item {n}: position {x.lat_deg:.7f},{x.lon_deg:.7f} vs {y.lat_deg:.7f},{y.lon_deg:.7f}")
            if not _close(x.alt_m, y.alt_m, alt_tol_m):
                diffs.append(f"item {n}: altitude {x.alt_m:.2f} vs {y.alt_m:.2f} m")
    return diffs
