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


def _upload(m, n):
    """Upload ``n`` waypoints (plus home) with the item protocol, as a raw ground station."""
    m.mav.mission_count_send(1, 1, n + 1, 0)
    for _ in range(n + 1):
        req = wait(m, "MISSION_REQUEST")
        lat, lon = int((HOME[0] + 1e-4 * req.seq) * 1e7), int(HOME[1] * 1e7)
        m.mav.mission_item_int_send(1, 1, req.seq, 3, 16, 0, 1, 0, 0, 0, 0, lat, lon, 20.0 + req.seq, 0)
    assert wait(m, "MISSION_ACK").type == M.MAV_MISSION_ACCEPTED


# at 50x the vehicle cancels an upload after 0.16 real seconds without an item: more than a loaded machine may take
PATIENT = dict(upload_timeout_s=8.0 * 50)


def test_a_download_may_ask_for_any_item_in_any_order(gcs):
    _, m, _ = gcs(**PATIENT)
    time.sleep(0.05)
    _upload(m, 8)
    m.mav.mission_request_list_send(1, 1, 0)
    assert wait(m, "MISSION_COUNT").count == 9
    for seq in (7, 2, 8, 2, 0):  # out of order, and twice: each answered, as ArduPilot does
        m.mav.mission_request_int_send(1, 1, seq, 0)
        it = wait(m, "MISSION_ITEM_INT", lambda i, s=seq: i.seq == s)
        assert it is not None and it.command == 16
        if seq:
            assert it.z == pytest.approx(20.0 + seq) and it.x == int((HOME[0] + 1e-4 * seq) * 1e7)


def _ftp(m, seq, session, opcode, offset=0, data=b"", size=None):
    import struct

    hdr = struct.pack("<HBBBBBBI", seq, session, opcode, len(data) if size is None else size, 0, 0, 0, offset)
    m.mav.file_transfer_protocol_send(0, 1, 1, list((hdr + data).ljust(251, b"\0")))


def _ftp_reply(msg):
    import struct

    b = bytes(msg.payload)
    seq, session, opcode, size, req_opcode, burst_complete, _, offset = struct.unpack("<HBBBBBBI", b[:12])
    return dict(seq=seq, opcode=opcode, req_opcode=req_opcode, burst_complete=burst_complete, offset=offset,
                data=b[12:12 + size])


def test_ftp_burst_read_of_the_mission_file_gives_the_stored_items(gcs):
    """``OpenFileRO`` + ``BurstReadFile`` of ``@MISSION/mission.dat``, as MAVProxy's ``wp ftp`` reads it from
    ArduPilot: a header (magic 0x763D, type, options, start, count), then MISSION_ITEM_INT structs."""
    import struct

    _, m, _ = gcs(**PATIENT)
    time.sleep(0.05)
    _upload(m, 30)
    _ftp(m, 10, 3, 4, data=b"@MISSION/mission.dat\0")  # OpenFileRO
    r = _ftp_reply(wait(m, "FILE_TRANSFER_PROTOCOL"))
    assert r["opcode"] == 128 and r["req_opcode"] == 4
    # not the file's size: ArduPilot's stat() of an @MISSION file says 1 MiB (AP_Filesystem_Mission)
    assert struct.unpack("<I", r["data"][:4])[0] == 1024 * 1024
    item = M.MAVLink_mission_item_int_message
    size = 10 + 31 * item.unpacker.size
    _ftp(m, 11, 3, 15, size=239)  # BurstReadFile from offset 0
    got, eof, complete = bytearray(size), None, []
    while eof is None:
        msg = wait(m, "FILE_TRANSFER_PROTOCOL")
        assert msg is not None, "the burst stopped"
        r = _ftp_reply(msg)
        assert r["req_opcode"] == 15
        if r["opcode"] == 129:
            eof = r
        else:
            got[r["offset"]:r["offset"] + len(r["data"])] = r["data"]
            complete.append(bool(bytes(msg.payload)[6]))
    assert eof["data"][:1] == bytes([6]) and eof["offset"] == size  # NAK end-of-file after the last byte
    assert complete[-1] and not any(complete[:-1])  # burst_complete on the short, last part, as ArduPilot
    magic, mtype, _, start, count = struct.unpack("<HHHHH", got[:10])
    assert (magic, mtype, start, count) == (0x763D, 0, 0, 31)
    for seq in range(1, 31):
        v = dict(zip(item.ordered_fieldnames, item.unpacker.unpack(
            got[10 + seq * item.unpacker.size:10 + (seq + 1) * item.unpacker.size])))
        assert v["seq"] == seq and v["command"] == 16 and v["z"] == pytest.approx(20.0 + seq)
        assert v["x"] == int((HOME[0] + 1e-4 * seq) * 1e7)
    _ftp(m, 12, 3, 1)  # TerminateSession
    assert _ftp_reply(wait(m, "FILE_TRANSFER_PROTOCOL"))["opcode"] == 128


def test_battery_parameters_are_read_and_set_as_ardupilots(gcs):
    _, m, _ = gcs()
    m.mav.param_request_read_send(1, 1, b"BATT_FS_LOW_ACT", -1)
    pv = wait(m, "PARAM_VALUE", lambda p: p.param_id == "BATT_FS_LOW_ACT")
    assert pv.param_value == 2  # RTL, as the built-in vehicle ships
    m.mav.param_set_send(1, 1, b"BATT_LOW_MAH", 700.0, M.MAV_PARAM_TYPE_REAL32)
    pv = wait(m, "PARAM_VALUE", lambda p: p.param_id == "BATT_LOW_MAH")
    assert pv.param_value == 700.0
    m.mav.param_request_read_send(1, 1, b"BATT_LOW_MAH", -1)
    assert wait(m, "PARAM_VALUE", lambda p: p.param_id == "BATT_LOW_MAH").param_value == 700.0


def test_start_vehicle_refuses_an_unknown_option_or_parameter():
    with pytest.raises(InputError, match="no option 'lossy'"):
        start_vehicle(lossy=0.3)
    with pytest.raises(InputError, match="no parameter BATT_LOW_PCT"):
        start_vehicle(params={"BATT_LOW_PCT": 20})
