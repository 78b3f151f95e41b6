"""ArduCopter's battery failsafe, as a ground station sees it: "Battery 1 is low" and RTL, then "Battery 1 is
critical" and LAND, the battery unhealthy in SYS_STATUS, the modes in HEARTBEAT, and a vehicle that lands instead of
flying on. On the built-in vehicle and, with DRONECTL_SITL_BIN, on ArduPilot SITL (the ``vehicle`` fixture)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil  # noqa: E402

from dronectl.mavlink import link, transfer  # noqa: E402
from dronectl.mission import (  # noqa: E402
    CMD_DO_CHANGE_SPEED,
    CMD_NAV_TAKEOFF,
    CMD_NAV_WAYPOINT,
    FRAME_GLOBAL_RELATIVE_ALT,
    FRAME_MISSION,
    Home,
    Mission,
    MissionItem,
)

from .conftest import HOME  # noqa: E402

M = mavutil.mavlink
pytestmark = pytest.mark.vehicle
RTL, LAND, GUIDED, AUTO = 6, 9, 4, 3
BATTERY_BIT = M.MAV_SYS_STATUS_SENSOR_BATTERY


class Watcher:
    """A ground station's view: every STATUSTEXT and every mode the HEARTBEAT reports, in order."""

    def __init__(self, master):
        self.m, self.texts, self.modes, self.last = master, [], [], {}

    def pump(self, timeout=0.2):
        msg = self.m.recv_match(blocking=True, timeout=timeout)
        if msg is None:
            return None
        t = msg.get_type()
        if t == "STATUSTEXT":
            self.texts.append(msg.text)
        elif t == "HEARTBEAT" and msg.get_srcComponent() == 1 and msg.type != M.MAV_TYPE_GCS:
            if not self.modes or self.modes[-1] != msg.custom_mode:
                self.modes.append(msg.custom_mode)
        self.last[t] = msg
        return msg

    def until(self, cond, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.pump()
            if cond():
                return
        raise AssertionError(f"no {what} within {timeout_s} s; status texts {self.texts}, modes {self.modes}")

    def armed(self):
        hb = self.last.get("HEARTBEAT")
        return hb is not None and bool(hb.base_mode & M.MAV_MODE_FLAG_SAFETY_ARMED)

    def text(self, start):
        return any(t.startswith(start) for t in self.texts)


def command(master, cmd, *params, tries=10):
    p = list(params) + [0] * (7 - len(params))
    for _ in range(tries):
        master.mav.command_long_send(master.target_system, master.target_component, cmd, 0, *p)
        ack = master.recv_match(type="COMMAND_ACK", blocking=True, timeout=1.0)
        if ack is not None and ack.command == cmd:
            return ack.result
    raise AssertionError(f"no COMMAND_ACK for command {cmd}")


def param_set(master, name, value):
    for _ in range(10):
        master.mav.param_set_send(master.target_system, master.target_component, name.encode(), float(value),
                                  M.MAV_PARAM_TYPE_REAL32)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            pv = master.recv_match(type="PARAM_VALUE", blocking=True, timeout=0.2)
            if pv is not None and pv.param_id == name:
                assert abs(pv.param_value - value) < 1e-3, (name, pv.param_value)
                return
    raise AssertionError(f"{name} not set")


def param_get(master, name):
    for _ in range(10):
        master.mav.param_request_read_send(master.target_system, master.target_component, name.encode(), -1)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            pv = master.recv_match(type="PARAM_VALUE", blocking=True, timeout=0.2)
            if pv is not None and pv.param_id == name:
                return pv.param_value
    raise AssertionError(f"no value for {name}")


def remaining_mah(w, capacity):
    w.until(lambda: "SYS_STATUS" in w.last, 10, "SYS_STATUS")  # in every stream set (BATTERY_STATUS is EXTRA3's)
    return w.last["SYS_STATUS"].battery_remaining / 100.0 * capacity


def test_low_then_critical_battery_returns_then_lands(vehicle):
    """The levels set as a pilot sets them (PARAM_SET BATT_LOW_MAH / BATT_CRT_MAH, BATT_FS_LOW_ACT 2 = RTL,
    BATT_FS_CRT_ACT 1 = Land), each just above what the battery still holds once in flight: a capacity level acts
    at once (a voltage level after BATT_LOW_TIMER)."""
    master = link.connect(vehicle.connection_string, 30)
    names = ("BATT_LOW_MAH", "BATT_CRT_MAH", "BATT_FS_LOW_ACT", "BATT_FS_CRT_ACT", "BATT_LOW_VOLT", "BATT_CRT_VOLT")
    before = {n: param_get(master, n) for n in names}
    try:
        link.request_streams(master)
        link.wait_ready(master, time.monotonic() + 120, armable=True)
        for name, value in (("BATT_FS_LOW_ACT", 2), ("BATT_FS_CRT_ACT", 1), ("BATT_LOW_VOLT", 0),
                            ("BATT_CRT_VOLT", 0), ("BATT_LOW_MAH", 0), ("BATT_CRT_MAH", 0)):
            param_set(master, name, value)
        capacity = param_get(master, "BATT_CAPACITY")
        w = Watcher(master)
        assert command(master, M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == M.MAV_RESULT_ACCEPTED
        deadline = time.monotonic() + 90  # SITL may still say "PreArm: Need Position Estimate": arm as a GCS does
        while command(master, M.MAV_CMD_COMPONENT_ARM_DISARM, 1) != M.MAV_RESULT_ACCEPTED:
            assert time.monotonic() < deadline, "the vehicle never accepted arming"
            time.sleep(1.0)
        assert command(master, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 20) == M.MAV_RESULT_ACCEPTED
        w.until(lambda: "GLOBAL_POSITION_INT" in w.last and w.last["GLOBAL_POSITION_INT"].relative_alt > 10_000,
                120, "climb to 10 m")
        sys_status = w.last.get("SYS_STATUS")
        assert sys_status is None or sys_status.onboard_control_sensors_health & BATTERY_BIT  # healthy so far

        param_set(master, "BATT_LOW_MAH", remaining_mah(w, capacity) + 50)
        w.until(lambda: w.text("Battery 1 is low"), 120, '"Battery 1 is low"')
        w.until(lambda: RTL in w.modes, 30, "RTL in HEARTBEAT")
        w.until(lambda: "SYS_STATUS" in w.last
                and not w.last["SYS_STATUS"].onboard_control_sensors_health & BATTERY_BIT, 30,
                "the battery reported unhealthy in SYS_STATUS")
        assert w.last["SYS_STATUS"].onboard_control_sensors_present & BATTERY_BIT
        assert w.armed()  # returning, not dropped

        param_set(master, "BATT_CRT_MAH", remaining_mah(w, capacity) + 50)
        w.until(lambda: w.text("Battery 1 is critical"), 120, '"Battery 1 is critical"')
        w.until(lambda: w.modes[-1] == LAND, 30, "LAND in HEARTBEAT")
        assert w.modes.index(RTL) < len(w.modes) - 1  # RTL first, then LAND
        w.until(lambda: not w.armed(), 300, "landed and disarmed")
        w.until(lambda: w.last["GLOBAL_POSITION_INT"].relative_alt < 1000, 30, "on the ground")
        # once the failsafe has triggered, ArduCopter refuses to arm until the battery is reset or it reboots
        assert command(master, M.MAV_CMD_COMPONENT_ARM_DISARM, 1) != M.MAV_RESULT_ACCEPTED
    finally:
        for name, value in before.items():  # SITL is shared by the session's tests
            param_set(master, name, value)
        master.close()


def far_mission(n_legs: int = 8, speed_mps: float = 10.0) -> Mission:
    """A mission that goes out 2 km and back: far more than a 15 % battery flies."""
    items = [MissionItem(CMD_NAV_TAKEOFF, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, HOME[0], HOME[1], 30.0),
             MissionItem(CMD_DO_CHANGE_SPEED, FRAME_MISSION, 1, speed_mps, -1, 0)]
    for k in range(1, n_legs + 1):
        items.append(MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0,
                                 HOME[0] + 0.0045 * min(k, n_legs + 1 - k), HOME[1], 30.0))
    return Mission(items=tuple(items), home=Home(*HOME))


def test_sim_vehicle_with_15_percent_returns_and_lands_instead_of_flying_on(tmp_path):
    """Issue 19's case: `dronectl sim vehicle --battery 15` (its shipped failsafe settings), a mission that needs
    far more. The ground station sees the low level and RTL, then the critical level and LAND; the vehicle lands
    with the mission unfinished and will not arm again. Built-in vehicle only (its console script)."""
    from tests.conftest import console_script

    sim = subprocess.Popen([console_script(), "sim", "vehicle", "--listen", "tcp:127.0.0.1:0", "--speedup", "50",
                            "--home", ",".join(map(str, HOME)), "--gps-delay", "1", "--ekf-delay", "2",
                            "--battery", "15"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "CI": "true"})
    try:
        conn = sim.stdout.readline().strip()
        assert conn.startswith("tcp:127.0.0.1:"), sim.stderr.read()
        m = far_mission()
        master = link.connect(conn, 30)
        try:
            link.request_streams(master)
            link.wait_ready(master, time.monotonic() + 60, armable=True)
            assert transfer.upload(master, m, verify=True) == []
            w = Watcher(master)
            reached = []
            assert command(master, M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == M.MAV_RESULT_ACCEPTED
            assert command(master, M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_ACCEPTED
            assert command(master, M.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 30) == M.MAV_RESULT_ACCEPTED
            w.until(lambda: "GLOBAL_POSITION_INT" in w.last and w.last["GLOBAL_POSITION_INT"].relative_alt > 25_000,
                    60, "climb to 25 m")
            assert command(master, M.MAV_CMD_DO_SET_MODE, 1, AUTO) == M.MAV_RESULT_ACCEPTED

            def track():
                msg = w.last.get("MISSION_ITEM_REACHED")
                if msg is not None and (not reached or reached[-1] != msg.seq):
                    reached.append(msg.seq)
                return not w.armed() and LAND in w.modes

            w.until(track, 120, "the failsafe's landing")
            texts = [t for t in w.texts if t.startswith("Battery 1 is")]
            assert [t.split()[3] for t in texts] == ["low", "critical"], w.texts
            assert "V used" in texts[0] and texts[0].endswith("mAh")  # "Battery 1 is low 10.49V used 198 mAh"
            assert w.modes[-3:] == [AUTO, RTL, LAND], w.modes
            assert w.last["SYS_STATUS"].battery_remaining <= 5
            assert not w.last["SYS_STATUS"].onboard_control_sensors_health & BATTERY_BIT
            assert w.last["BATTERY_STATUS"].charge_state == M.MAV_BATTERY_CHARGE_STATE_CRITICAL
            w.until(lambda: w.last["GLOBAL_POSITION_INT"].relative_alt < 500, 10, "on the ground")
            assert w.last["HEARTBEAT"].system_status == M.MAV_STATE_CRITICAL  # as ArduCopter after a failsafe
            assert not reached or max(reached) < len(m.items)  # the mission did not complete
            assert command(master, M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_FAILED
            # as ArduPilot's pre-arm: the battery is under a failsafe level (4 %: 10.1 V, under BATT_LOW_VOLT)
            w.until(lambda: w.text("PreArm: Battery 1 low voltage failsafe"), 10, "the pre-arm refusal")
        finally:
            master.close()
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
    assert sim.returncode == 0


def test_an_empty_battery_does_not_take_off(tmp_path):
    """`sim vehicle --battery 0`: arming is refused (ArduPilot's pre-arm battery check), nothing flies."""
    from tests.conftest import console_script

    sim = subprocess.Popen([console_script(), "sim", "vehicle", "--listen", "tcp:127.0.0.1:0", "--speedup", "50",
                            "--home", ",".join(map(str, HOME)), "--gps-delay", "1", "--ekf-delay", "2",
                            "--battery", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "CI": "true"})
    try:
        conn = sim.stdout.readline().strip()
        master = link.connect(conn, 30)
        try:
            link.request_streams(master)
            link.wait_ready(master, time.monotonic() + 60)
            w = Watcher(master)
            w.until(lambda: "SYS_STATUS" in w.last, 10, "SYS_STATUS")
            assert w.last["SYS_STATUS"].battery_remaining == 0
            time.sleep(0.2)  # 10 simulated seconds: the estimator is ready
            assert command(master, M.MAV_CMD_DO_SET_MODE, 1, GUIDED) == M.MAV_RESULT_ACCEPTED
            assert command(master, M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_FAILED
            w.until(lambda: w.text("PreArm: Battery 1 low voltage failsafe"), 10, "the pre-arm refusal")
            # with every level off (BATT_LOW_VOLT 0...), an empty battery still does not arm: the stand-in's floor
            for name in ("BATT_LOW_VOLT", "BATT_CRT_VOLT"):
                param_set(master, name, 0)
            assert command(master, M.MAV_CMD_COMPONENT_ARM_DISARM, 1) == M.MAV_RESULT_FAILED
            w.until(lambda: w.text("PreArm: Battery 1 below minimum arming capacity"), 10, "the floor's refusal")
        finally:
            master.close()
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
