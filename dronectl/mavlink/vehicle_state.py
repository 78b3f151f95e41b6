"""The live vehicle's state checked against a plan before anything moves (``mission upload``, ``fly``).

:func:`read_state` asks the vehicle for its position, GPS fix, home and battery; :func:`problems` (pure) compares
them with the plan:

* a 3D GPS fix and a home position (ArduPilot sets home at the first fix; RTL flies there);
* the vehicle, and its home, within ``max_distance_m`` (50 m) of the plan's take-off point (its planned home,
  else its first position): a plan flown from elsewhere flies a path nobody planned;
* every waypoint within ``vlos_m`` (500 m) of where the vehicle is: the pilot stands there;
* the battery's charge at least what the plan needs (its estimated flight time over the battery's, the plan's
  ``battery_min``, 25 min by default) plus the reserve (the plan's, 25 % by default).

:func:`check` does both and hands the problems to an ``override`` callback (the CLI's ``--force --reason``,
logged in the flight log); without one, any problem is a :class:`VehicleNotReady` (exit code 5).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from dronectl.errors import EXIT_VEHICLE, DronectlError, InputError

DEFAULT_MAX_DISTANCE_M = 50.0


class VehicleNotReady(DronectlError):
    """The vehicle's state does not fit the plan (position, GPS fix, home, battery)."""

    exit_code = EXIT_VEHICLE


@dataclass(frozen=True)
class VehicleState:
    lat_deg: float | None = None  # None: no position reported (no fix)
    lon_deg: float | None = None
    fix_type: int | None = None  # GPS_RAW_INT: 3 = 3D fix
    home: tuple[float, float, float] | None = None  # lat, lon, alt AMSL (HOME_POSITION)
    battery_pct: float | None = None  # SYS_STATUS battery_remaining; None: not reported

    def to_dict(self) -> dict:
        return {"lat_deg": self.lat_deg, "lon_deg": self.lon_deg, "fix_type": self.fix_type,
                "home": list(self.home) if self.home else None, "battery_pct": self.battery_pct}


@dataclass(frozen=True)
class StateLimits:
    """How far the live vehicle may be from the plan; the battery figures default to the plan's own."""

    max_distance_m: float = DEFAULT_MAX_DISTANCE_M
    vlos_m: float = 500.0
    battery_min: float | None = None  # flight time of a full battery, minutes (default: the plan's, else 25)
    reserve: float | None = None  # share kept in reserve, 0-1 (default: the plan's, else 0.25)

    def __post_init__(self):
        for name, v, lo in (("max distance", self.max_distance_m, 0.0), ("VLOS radius", self.vlos_m, 0.0),
                            ("battery time", self.battery_min, 0.0)):
            if v is not None and not (math.isfinite(v) and v > lo):
                raise InputError(f"the {name} must be a positive number, got {v}")
        if self.reserve is not None and not (math.isfinite(self.reserve) and 0 <= self.reserve < 1):
            raise InputError(f"the battery reserve must be between 0 and 100 %, got {self.reserve * 100:g} %")


def require_items(mission, what: str = "the mission") -> None:
    """InputError for a mission without items: nothing to upload or fly."""
    if not mission.items:
        raise InputError(f"{what} has no mission items: nothing to upload or fly; plan it again, or empty the "
                         "vehicle's mission with `dronectl mission clear`")


@dataclass(frozen=True)
class Identity:
    """Which vehicle is at the other end: its autopilot's unique id (AUTOPILOT_VERSION.uid, None when it reports
    none), its MAVLink system id, and whether it is a simulator (it has the ``SIM_SPEEDUP`` parameter, as ArduPilot
    SITL and the built-in vehicle do; real autopilots have no SIM_* parameter)."""

    uid: int | None
    sysid: int
    simulated: bool

    def to_dict(self) -> dict:
        return {"uid": self.uid, "sysid": self.sysid, "simulated": self.simulated}


def identify(master, timeout_s: float = 4.0) -> Identity:
    """Ask the vehicle who it is (AUTOPILOT_VERSION, the SIM_SPEEDUP parameter), again every 0.4 s so that a
    lossy link does not lose the answer; a real autopilot, which has no SIM_SPEEDUP, costs ``timeout_s``."""
    from pymavlink import mavutil

    M = mavutil.mavlink
    uid, answered, sim = None, False, False
    deadline = time.monotonic() + timeout_s
    next_ask = 0.0
    while time.monotonic() < deadline and not (answered and sim):
        if time.monotonic() >= next_ask:
            if not answered:
                master.mav.command_long_send(master.target_system, master.target_component,
                                             M.MAV_CMD_REQUEST_MESSAGE, 0, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION,
                                             0, 0, 0, 0, 0, 0)
            if not sim:
                master.mav.param_request_read_send(master.target_system, master.target_component, b"SIM_SPEEDUP", -1)
            next_ask = time.monotonic() + 0.4
        msg = master.recv_match(type=["AUTOPILOT_VERSION", "PARAM_VALUE"], blocking=True, timeout=0.2)
        if msg is None or msg.get_srcSystem() != master.target_system:
            continue
        if msg.get_type() == "AUTOPILOT_VERSION":
            answered, uid = True, msg.uid
        elif msg.param_id == "SIM_SPEEDUP":
            sim = True
    return Identity(uid or None, master.target_system, sim)


def read_state(master, timeout_s: float = 8.0) -> VehicleState:
    """What the vehicle reports within ``timeout_s``, asked again twice a second so that a lossy link (30 %
    each way) does not lose a whole answer; a vehicle without a 3D fix is not waited for its home (it sets one
    with its first fix). A charge not reported yet (``battery_remaining`` -1: an autopilot that has just booted,
    its battery monitor not read yet) is waited for until ``timeout_s``."""
    from pymavlink import mavutil

    from dronectl.mavlink import link

    M = mavutil.mavlink
    got: dict = {}
    deadline = time.monotonic() + timeout_s
    next_ask = 0.0
    keys = ("pos", "fix", "home", "battery")
    def complete() -> bool:
        needed = keys if got.get("fix", 0) >= 3 else ("pos", "fix", "battery")
        return all(k in got for k in needed)

    while time.monotonic() < deadline and not complete():
        if time.monotonic() >= next_ask:
            link.request_streams(master)
            if "home" not in got:
                master.mav.command_long_send(master.target_system, master.target_component,
                                             M.MAV_CMD_REQUEST_MESSAGE, 0, M.MAVLINK_MSG_ID_HOME_POSITION,
                                             0, 0, 0, 0, 0, 0)
            next_ask = time.monotonic() + 0.5
        msg = master.recv_match(type=["GLOBAL_POSITION_INT", "GPS_RAW_INT", "SYS_STATUS", "HOME_POSITION"],
                                blocking=True, timeout=0.2)
        if msg is None or msg.get_srcSystem() != master.target_system:
            continue
        t = msg.get_type()
        if t == "GLOBAL_POSITION_INT":
            got["pos"] = None if msg.lat == 0 and msg.lon == 0 else (msg.lat / 1e7, msg.lon / 1e7)
        elif t == "GPS_RAW_INT":
            got["fix"] = msg.fix_type
        elif t == "SYS_STATUS":
            if msg.battery_remaining >= 0:
                got["battery"] = float(msg.battery_remaining)
        elif t == "HOME_POSITION" and (msg.latitude or msg.longitude):
            got["home"] = (msg.latitude / 1e7, msg.longitude / 1e7, round(msg.altitude / 1000.0, 2))
    pos = got.get("pos")
    return VehicleState(pos[0] if pos else None, pos[1] if pos else None, got.get("fix"), got.get("home"),
                        got.get("battery"))


def _takeoff_point(mission):
    if mission.home is not None and (mission.home.lat_deg or mission.home.lon_deg):
        return mission.home.lat_deg, mission.home.lon_deg
    pos = mission.positions()
    return (pos[0][0], pos[0][1]) if pos else None


def battery_needed_pct(mission, limits: StateLimits = StateLimits()) -> tuple[float, float]:
    """(percent the plan's flight uses, reserve percent): from its estimated flight time and the battery's."""
    from dronectl.checks import DEFAULT_RESERVE, estimate_duration_s

    planned = mission.plan_data.limits if mission.plan_data else None
    battery_min = limits.battery_min or (planned.battery_min if planned else 25.0)
    reserve = limits.reserve if limits.reserve is not None else (planned.reserve if planned else DEFAULT_RESERVE)
    return 100.0 * estimate_duration_s(mission) / (battery_min * 60.0), 100.0 * reserve


def at_bench(state: VehicleState) -> bool:
    """No 3D fix or no home yet: the vehicle is on the bench or indoors; where it is cannot be checked."""
    return state.fix_type is None or state.fix_type < 3 or state.lat_deg is None or state.home is None


def problems(state: VehicleState, mission, limits: StateLimits = StateLimits(), position: bool = True) -> list[str]:
    """What in the vehicle's state does not fit the plan, one sentence each (empty: fit to go). Pure.
    ``position=False`` (an upload at the bench): only what needs no position, the battery."""
    from dronectl.geo import haversine_m

    out = []
    if not position:
        return _battery_problems(state, mission, limits)
    if state.fix_type is None or state.fix_type < 3 or state.lat_deg is None:
        fix = "no GPS report" if state.fix_type is None else f"GPS fix type {state.fix_type}"
        out.append(f"the vehicle has no 3D GPS fix ({fix}): wait for a fix (outdoors, clear sky)")
    if state.home is None:
        out.append("the vehicle has no home position yet (it sets one with its first GPS fix): wait, or set it")
    origin = _takeoff_point(mission)
    if origin is not None and state.lat_deg is not None:
        d = haversine_m(state.lat_deg, state.lon_deg, *origin)
        if d > limits.max_distance_m:
            out.append(f"the vehicle is {d:.0f} m from the plan's take-off point, more than {limits.max_distance_m:g} "
                       "m: carry it there, or re-plan with --home at its position (or raise --max-distance)")
        far = [(k, haversine_m(state.lat_deg, state.lon_deg, lat, lon))
               for k, (lat, lon, _) in enumerate(mission.positions(), start=1)]
        far = [(k, dist) for k, dist in far if dist > limits.vlos_m]
        if far:
            k, dist = max(far, key=lambda t: t[1])
            out.append(f"from where the vehicle is, waypoint {k} of the plan is {dist:.0f} m away, beyond the "
                       f"{limits.vlos_m:g} m visual line of sight ({len(far)} waypoints are): take off nearer")
    if origin is not None and state.home is not None:
        d = haversine_m(state.home[0], state.home[1], *origin)
        if d > limits.max_distance_m:
            out.append(f"the vehicle's home is {d:.0f} m from the plan's take-off point, more than "
                       f"{limits.max_distance_m:g} m: a return to launch would fly there; reset its home or re-plan")
    return out + _battery_problems(state, mission, limits)


def _battery_problems(state: VehicleState, mission, limits: StateLimits) -> list[str]:
    out = []
    need, reserve = battery_needed_pct(mission, limits)
    if state.battery_pct is None:
        out.append("the vehicle does not report its battery charge: check its battery monitor")
    elif state.battery_pct < need + reserve:
        out.append(f"the battery is at {state.battery_pct:.0f} %, the plan needs about {need:.0f} % plus the "
                   f"{reserve:.0f} % reserve ({need + reserve:.0f} %): charge or change it")
    return out


def check(master, mission, limits: StateLimits = StateLimits(), override=None, timeout_s: float = 8.0,
          state: VehicleState | None = None, position: bool = True) -> list[str]:
    """Read the vehicle's state (unless given) and compare it with ``mission``. With problems,
    ``override(problems)`` decides (raise to refuse, return to go on: the caller logs it); without ``override``,
    VehicleNotReady. Returns the problems overridden (empty: none)."""
    require_items(mission)
    found = problems(state or read_state(master, timeout_s), mission, limits, position)
    if found and override is None:
        raise refusal(found)
    if found:
        override(found)
    return found


def refusal(found: list[str]) -> VehicleNotReady:
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return VehicleNotReady(f"not going: {found[0]}{more}; or override with --force --reason TEXT")
