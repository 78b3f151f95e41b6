"""Faults injected by the built-in vehicle: what the pilot gets on a bad link or a misbehaving vehicle."""

from __future__ import annotations

import pytest

from dronectl.errors import LinkError, MissionRejected
from dronectl.mavlink import ftp, link, transfer

from .conftest import start_builtin, straight_mission

pytestmark = pytest.mark.vehicle


# At a speed-up of 50 the vehicle's 8-second upload cancel timer lasts 0.16 real seconds, less than the spec's
# 250 ms item retry of a real-time ground station: a combination no real link has. Give it 8 real seconds.
PATIENT = dict(upload_timeout_s=8.0 * 50)


@pytest.mark.parametrize("seed", [3, 4])
def test_30_percent_loss_both_ways_still_uploads_300_items(seed):
    h = start_builtin(loss=0.3, seed=seed, **PATIENT)
    try:
        master = link.connect(h.connection_string, 10)
        m = straight_mission(300)
        transfer.upload(master, m, method="items")
        h.vehicle.o.loss = 0.0
        assert transfer.differences(m, transfer.download(master)) == []
        master.close()
    finally:
        h.stop()


def test_lossy_link_download_and_verify():
    h = start_builtin(loss=0.2, seed=7, **PATIENT)
    try:
        m = straight_mission(40)
        assert transfer.upload(h.connection_string, m, verify=True) == []
    finally:
        h.stop()


@pytest.mark.parametrize("method", ["items", "ftp"])
def test_duplicated_and_delayed_packets(method):
    h = start_builtin(duplicate=0.5, delay_ms=20, seed=2, **PATIENT)
    try:
        m = straight_mission(100)
        r = transfer.upload(h.connection_string, m, verify=True, method=method)
        assert r == [] and r.method == method
    finally:
        h.stop()


def test_lost_final_acknowledgement_is_confirmed_by_the_item_count():
    h = start_builtin()
    try:
        master = link.connect(h.connection_string, 10)
        v = h.vehicle
        real_ack = v._mission_ack
        dropped = []

        def drop_first_accept(result, mtype):
            if result == 0 and not dropped:
                dropped.append(mtype)
                return
            real_ack(result, mtype)

        v._mission_ack = drop_first_accept
        m = straight_mission(30)
        transfer.upload(master, m)  # no error: the vehicle holds the 31 items
        assert dropped and transfer.differences(m, transfer.download(master)) == []
        master.close()
    finally:
        h.stop()


def test_no_space_right_after_boot_is_explained():
    h = start_builtin(storage_delay_s=1e9)  # storage never ready: as SITL in its first seconds
    try:
        with pytest.raises(MissionRejected, match="if it has just started, wait until it is ready"):
            transfer.upload(h.connection_string, straight_mission(3))
    finally:
        h.stop()


def test_silent_vehicle_gives_a_timeout_error():
    h = start_builtin()
    try:
        master = link.connect(h.connection_string, 10)
        h.vehicle.o.loss = 1.0  # the vehicle goes silent (and deaf)
        with pytest.raises(LinkError, match=r"stopped answering to the item count \(5 retries\)"):
            transfer.upload(master, straight_mission(10))
        master.close()
    finally:
        h.stop()


def test_vehicle_going_silent_mid_upload():
    h = start_builtin()
    try:
        master = link.connect(h.connection_string, 10)

        def go_silent(done, total):
            if done == 40:
                h.vehicle.o.loss = 1.0

        with pytest.raises(LinkError, match="stopped answering after item 39 of 100"):
            transfer.upload(master, straight_mission(100), progress=go_silent, method="items")
        master.close()
    finally:
        h.stop()


def test_no_heartbeat_is_a_clear_error():
    h = start_builtin(loss=1.0)
    try:
        with pytest.raises(LinkError, match="no heartbeat from a vehicle on tcp:.* within 1 s"):
            link.connect(h.connection_string, 1.0)
    finally:
        h.stop()


def test_reboot_mid_upload_is_a_clear_error_and_the_old_mission_stays():
    h = start_builtin(reboot_at_item=50)
    try:
        transfer.upload(h.connection_string, straight_mission(5))
        with pytest.raises(LinkError, match="closed the connection .*did it reboot"):
            transfer.upload(h.connection_string, straight_mission(100), method="items")
        assert h.vehicle.reboots == 1
        from .conftest import wait_ready

        wait_ready(h.connection_string)  # it comes back; the interrupted upload did not replace the mission
        assert len(transfer.download(h.connection_string).items) == 5
    finally:
        h.stop()


def test_vehicle_that_cancels_a_stalled_upload():
    h = start_builtin()
    try:
        master = link.connect(h.connection_string, 10)
        v = h.vehicle
        # a ground station that stalls: the vehicle gives up after 8 s of its time and says so
        master.mav.mission_count_send(master.target_system, master.target_component, 5, 0)
        msg = master.recv_match(type="MISSION_ACK", blocking=True, timeout=5)
        assert msg is not None and msg.type == 15  # MAV_MISSION_OPERATION_CANCELLED
        assert "cancelled the transfer" in transfer.result_sentence(msg.type, "mission")
        assert v.transfer is None
        master.close()
    finally:
        h.stop()


def test_auto_uses_the_item_protocol_without_ftp_and_falls_back_when_ftp_fails():
    h = start_builtin(ftp=False)
    try:
        m = straight_mission(80)
        r = transfer.upload(h.connection_string, m, verify=True)
        assert r == [] and r.method == "items" and r.fallback_reason is None
        with pytest.raises(MissionRejected, match="does not offer MAVLink FTP"):
            transfer.upload(h.connection_string, m, method="ftp")
        h.vehicle.o.ftp = True
        assert transfer.upload(h.connection_string, m).method == "ftp"
        h.vehicle._on_ftp = lambda msg: None  # advertises FTP, never answers it
        r = transfer.upload(h.connection_string, m, verify=True)
        assert r == [] and r.method == "items" and f"no answer after {ftp.RETRIES} retries" in r.fallback_reason
    finally:
        h.stop()


def test_ftp_upload_survives_loss():
    h = start_builtin(loss=0.2, seed=5, **PATIENT)
    try:
        m = straight_mission(400)
        master = link.connect(h.connection_string, 10)
        assert transfer.upload(master, m, method="ftp").method == "ftp"
        h.vehicle.o.loss = 0.0
        assert transfer.differences(m, transfer.download(master)) == []
        master.close()
    finally:
        h.stop()


def test_a_lost_ftp_open_reply_does_not_fail_the_upload():
    # The vehicle opens the file, its reply is lost. Asking again with a new seq would get "failed" (the
    # session is already open); asking with the same seq gets the reply again, as the FTP spec and ArduPilot do.
    h = start_builtin()
    try:
        send, dropped = h.vehicle._send, []

        def lose_first_ftp_reply(msg):
            if msg.get_type() == "FILE_TRANSFER_PROTOCOL" and not dropped:
                dropped.append(msg)
                return
            send(msg)

        h.vehicle._send = lose_first_ftp_reply
        m = straight_mission(120)
        r = transfer.upload(h.connection_string, m, method="ftp", verify=True)
        assert dropped and r == [] and r.method == "ftp"
    finally:
        h.stop()
