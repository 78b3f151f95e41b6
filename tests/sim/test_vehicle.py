"""The built-in test vehicle behaves as ArduCopter SITL does where dronectl (or another GCS) can tell."""

from __future__ import annotations

import os
import time

import pytest

os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil  # noqa: E402

from dronectl.errors import InputError  # noqa: E402
from dronectl.sim.vehicle import start_vehicle  # noqa: E402

M = mavutil.mavlink
HOME = (49.3817, 3.3236, 60.0)
pytestmark = pytest.mark.vehicle


@pytest.fixture
def gcs():
    """A raw pymavlink ground station and its vehicle (no dronectl in between)."""
    handles = []

    def make(**options):
        opts = {**dict(speedup=50.0, gps_delay_s=1.0, ekf_delay_s=2.0, storage_delay_s=0.2), **options}
        h = start_vehicle(home=HOME, **opts)
        m = mavutil.mavlink_connection(h.connection_string, source_system=255, source_component=190)
        hb = m.wait_heartbeat(timeout=5)
        handles.append((h, m))
        return h, m, hb

    yield make
    for h, m in handles:
        m.close()
        h.stop()


def wait(m, type_, cond=lambda msg: True, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = m.recv_match(type=type_, blocking=True, timeout=0.2)
        if msg is not None and cond(msg):
            return msg
    return None


def command(m, cmd, *params):
    p = list(params) + [0] * (7 - len(params))
    m.mav.command_long_send(1, 1, cmd, 0, *p)
    return wait(m, "COMMAND_ACK", lambda a: a.command == cmd)


def test_heartbeat_is_arducopter(gcs):
    _, _, hb = gcs()
    assert hb.autopilot == M.MAV_AUTOPILOT_ARDUPILOTMEGA and hb.type == M.MAV_TYPE_QUADROTOR
    assert hb.base_mode == 81 and hb.custom_mode == 0  # disarmed, STABILIZE, as SITL reports
    assert mavutil.mode_string_v10(hb) == "STABILIZE"


def test_upload_asks_with_mission_request_not_int(gcs):
    _, m, _ = gcs()
    time.sleep(0.05)
    m.mav.mission_count_send(1, 1, 2, 0)
    req = wait(m, ["MISSION_REQUEST", "MISSION_REQUEST_INT"])
    assert req.get_type() == "MISSION_REQUEST" and req.seq == 0


def test_no_position_before_the_fix_and_no_stream_unless_asked(gcs):
    _, m, _ = gcs(gps_delay_s=1e9)
    assert wait(m, "GLOBAL_POSITION_INT", timeout=0.5) is None  # nobody asked
    m.mav.request_data_stream_send(1, 1, M.MAV_DATA_STREAM_POSITION, 4, 1)
    pos = wait(m, "GLOBAL_POSITION_INT")
    assert pos is not None and (pos.lat, pos.lon) == (0, 0)


def test_refuses_to_arm_until_the_estimator_is_ready(gcs):
    h, m, _ = gcs(ekf_delay_s=1e9)
    time.sleep(0.1)  # 5 simulated seconds: a GPS fix, but the estimator is not ready
    ack = command(m, M.MAV_CMD_COMPONENT_ARM_DISARM, 1)
    assert ack.result == M.MAV_RESULT_FAILED
    assert "PreArm: EKF" in wait(m, "STATUSTEXT").text
    h.set_options(ekf_delay_s=0.0)
    assert command(m, M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == M.MAV_RESULT_ACCEPTED


def test_disarms_itself_when_left_armed_on_the_ground(gcs):
    _, m, _ = gcs()
    time.sleep(0.1)  # 5 simulated seconds: ready to arm
    assert command(m, M.MAV_CMD_DO_SET_MODE, 1, 4).result == M.MAV_RESULT_ACCEPTED  # GUIDED
    assert command(m, M.MAV_CMD_COMPONENT_ARM_DISARM, 1).result == M.MAV_RESULT_ACCEPTED
    assert wait(m, "HEARTBEAT", lambda hb: hb.base_mode & 128) is not None
    # about 10 simulated seconds later (0.2 s of real time at 50x) it disarms
    assert wait(m, "HEARTBEAT", lambda hb: not hb.base_mode & 128, timeout=3) is not None


def test_capacity_answers_no_space(gcs):
    _, m, _ = gcs(capacity=20)
    time.sleep(0.05)
    m.mav.mission_count_send(1, 1, 21, 0)
    ack = wait(m, "MISSION_ACK")
    assert ack.type == M.MAV_MISSION_NO_SPACE


def test_item_out_of_sequence_gets_invalid_sequence_and_outside_an_upload_error(gcs):
    _, m, _ = gcs()
    time.sleep(0.05)
    m.mav.mission_item_int_send(1, 1, 3, 3, 16, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0)
    assert wait(m, "MISSION_ACK").type == M.MAV_MISSION_ERROR  # no upload going on
    m.mav.mission_count_send(1, 1, 5, 0)
    wait(m, "MISSION_REQUEST")
    m.mav.mission_item_int_send(1, 1, 3, 3, 16, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0)
    assert wait(m, "MISSION_ACK").type == M.MAV_MISSION_INVALID_SEQUENCE


def test_start_vehicle_rejects_a_bad_listen_address():
    with pytest.raises(InputError, match="must be tcp:HOST:PORT"):
        start_vehicle(listen="udp:127.0.0.1:14550")
