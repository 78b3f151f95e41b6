"""Vehicles for the `vehicle` tier: the built-in test vehicle always, ArduPilot SITL when DRONECTL_SITL_BIN is set.

The same tests run against both (the ``vehicle`` fixture). SITL is started once per session (a GPS fix, a camera
and a reboot take a while) and each test starts from a cleared mission; the built-in vehicle is cheap, so each
test gets a fresh one with short readiness delays and a high speed-up.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import pytest

from dronectl.mission import CMD_NAV_TAKEOFF, CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, Home, Mission, MissionItem

HOME = (49.3773, 3.3270, 60.0)
# simulated seconds: GPS fix after 1 s, arming after 2 s, mission storage after 0.2 s; 50x faster than real time
FAST = dict(speedup=50.0, gps_delay_s=1.0, ekf_delay_s=2.0, storage_delay_s=0.2)
SITL_SPEEDUP = 10.0


@dataclass
class Backend:
    name: str
    connection_string: str
    handle: object
    capacity: int = 650

    @property
    def builtin(self) -> bool:
        return self.name == "builtin"


def wait_ready(conn: str, timeout_s: float = 30.0) -> None:
    """Wait until the vehicle has a position (and so accepts uploads), as a ground station would."""
    from dronectl.mavlink import link

    from dronectl.errors import LinkError

    deadline = time.monotonic() + timeout_s
    while True:  # a vehicle that is rebooting refuses connections for a moment
        try:
            master = link.connect(conn, timeout_s)
            break
        except LinkError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        link.wait_ready(master, deadline)
    finally:
        master.close()


def fresh_battery(conn: str) -> None:
    """A charged battery in SITL (shared by the session's tests), as a pilot changes it between flights:
    MAV_CMD_BATTERY_RESET, all batteries to 100 %, acknowledged."""
    from pymavlink import mavutil

    from dronectl.mavlink import link

    M = mavutil.mavlink
    master = link.connect(conn, 30)
    try:
        for _ in range(10):
            master.mav.command_long_send(master.target_system, master.target_component, M.MAV_CMD_BATTERY_RESET, 0,
                                         0xFF, 100, 0, 0, 0, 0, 0)
            ack = master.recv_match(type="COMMAND_ACK", blocking=True, timeout=1.0)
            if ack is not None and ack.command == M.MAV_CMD_BATTERY_RESET:
                assert ack.result == M.MAV_RESULT_ACCEPTED, f"SITL refused the battery reset ({ack.result})"
                return
        raise AssertionError("SITL did not acknowledge MAV_CMD_BATTERY_RESET")
    finally:
        master.close()


def start_builtin(**options):
    from dronectl.sim.vehicle import start_vehicle

    opts = {"home": HOME, **FAST, **options}
    h = start_vehicle(**opts)
    if opts.get("loss", 0) < 1:
        wait_ready(h.connection_string)
    return h


@pytest.fixture(scope="session")
def sitl_handle():
    if not os.environ.get("DRONECTL_SITL_BIN"):
        pytest.skip("ArduPilot SITL not configured: set DRONECTL_SITL_BIN to an arducopter binary (make test-sitl)")
    from dronectl.sim.sitl import start_sitl

    h = start_sitl(home=HOME, speedup=SITL_SPEEDUP, wait_armable=True)
    yield h
    h.stop()


@pytest.fixture(params=["builtin", "sitl"])
def vehicle(request):
    if request.param == "sitl":
        h = request.getfixturevalue("sitl_handle")
        from dronectl.mavlink import transfer

        transfer.clear(h.connection_string)
        fresh_battery(h.connection_string)
        yield Backend("sitl", h.connection_string, h)
        return
    h = start_builtin()
    yield Backend("builtin", h.connection_string, h)
    h.stop()


def straight_mission(n: int) -> Mission:
    """``n`` items: a take-off, then waypoints on a grid with altitudes that are not round numbers."""
    items = [MissionItem(CMD_NAV_TAKEOFF, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, HOME[0], HOME[1], 30.0)]
    items += [MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0,
                          HOME[0] + 1.1e-5 * (k % 50), HOME[1] + 1.3e-5 * (k // 50), 30.0 + 0.37 * (k % 7))
              for k in range(n - 1)]
    return Mission(items=tuple(items), home=Home(*HOME))
