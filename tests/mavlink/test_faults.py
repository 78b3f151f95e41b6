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


# The ground station's retry timeouts scaled down as the vehicle's clock is sped up (the spec's 1.5 s / 250 ms
# / 0.5 s for FTP, divided by 25; the vehicle runs 50x): a lost round trip costs 10 ms instead of 250 ms. When to
# give up is not scaled: 5 real seconds of silence, the real ceiling.
QUICK = link.Patience(exchange_s=0.06, item_s=0.01, ftp_s=0.02)
SEEDS = range(20)
DEFAULT_SEEDS = 5  # the rest are marked slow (CI runs them all)


def upload_and_verify(n, loss, seed, method="items"):
    """Upload ``n`` items and read them back, both under ``loss`` each way; the read-back differences."""
    h = start_builtin(loss=loss, seed=seed, **PATIENT)
    try:
        m = straight_mission(n)
        master = link.connect(h.connection_string, 10)
        try:
            r = transfer.upload(master, m, method=method, patience=QUICK)
            assert r.method == method
            return transfer.differences(m, transfer.download(master, patience=QUICK))
        finally:
            master.close()
    finally:
        h.stop()


@pytest.mark.parametrize("seed", [pytest.param(s, marks=pytest.mark.slow) if k >= DEFAULT_SEEDS else s
                                  for k, s in enumerate(SEEDS)])
def test_30_percent_loss_both_ways_uploads_and_verifies_300_items(seed):
    assert upload_and_verify(300, 0.3, seed) == []


@pytest.mark.slow
def test_600_items_at_50_percent_loss_complete_or_fail_only_on_silence():
    try:
        assert upload_and_verify(600, 0.5, 11) == []
    except LinkError as exc:  # allowed: the vehicle silent (never "no item k after n retries")
        assert "nothing from the vehicle for 5 s" in str(exc), exc


def test_a_vehicle_that_talks_but_never_answers_is_given_up_at_the_ceiling():
    h = start_builtin(ignore=("MISSION_COUNT",))  # heartbeats go on; the upload is never answered
    try:
        with pytest.raises(LinkError, match=r"mission upload failed: not done after \d+ s \(no answer to the item "
                                            r"count\) though the vehicle still talks; a transfer is given up only "
                                            r"after 5 s without a word from the vehicle, or after 2 s in all"):
            transfer.upload(h.connection_string, straight_mission(10), method="items",
                            patience=link.Patience(ceiling_base_s=1.0, ceiling_per_item_s=0.1))
    finally:
        h.stop()


def test_the_same_seed_loses_the_same_packets():
    from dronectl.sim.transport import FaultInjector, Faults

    def lost(seed):
        inj = FaultInjector(Faults(loss=0.3, seed=seed))
        return [inj.drop() for _ in range(50)]

    assert lost(1) == lost(1) != lost(2)


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
    h = start_builtin(lose_first=("MISSION_ACK",))  # the upload's final MISSION_ACK (ACCEPTED) is lost
    try:
        master = link.connect(h.connection_string, 10)
        m = straight_mission(30)
        transfer.upload(master, m)  # no error: the vehicle holds the 31 items
        assert h.vehicle.faults.lost["MISSION_ACK"] == 1
        assert transfer.differences(m, transfer.download(master)) == []
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
        h.set_faults(loss=1.0)  # the vehicle goes silent (and deaf)
        # the upload first reads what the vehicle holds (to put it back if the upload fails): that read gives up
        with pytest.raises(LinkError, match=r"could not read what the vehicle holds before the upload .*: download "
                                            r"of the mission, geofence and rally points failed: nothing from the "
                                            r"vehicle for 5 s \(no item count\); a transfer is given up only after 5 "
                                            r"s without a word from the vehicle, or after 32 s in all.*; nothing was "
                                            r"changed on the vehicle"):
            transfer.upload(master, straight_mission(10))
        with pytest.raises(LinkError, match=r"mission upload failed: nothing from the vehicle for 5 s \(no answer "
                                            r"to the item count\); a transfer is given up only after 5 s without a "
                                            r"word from the vehicle, or after 52 s in all"):
            transfer.upload(master, straight_mission(10), keep_previous=False)
        master.close()
    finally:
        h.stop()


def test_vehicle_going_silent_mid_upload():
    h = start_builtin()
    try:
        master = link.connect(h.connection_string, 10)

        def go_silent(done, total):
            if done == 40:
                h.set_faults(loss=1.0)

        with pytest.raises(LinkError, match=r"nothing from the vehicle for 5 s \(40 of 101 items taken\)"):
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
        # a ground station that stalls: the vehicle gives up after 8 s of its time and says so
        master.mav.mission_count_send(master.target_system, master.target_component, 5, 0)
        msg = master.recv_match(type="MISSION_ACK", blocking=True, timeout=5)
        assert msg is not None and msg.type == 15  # MAV_MISSION_OPERATION_CANCELLED
        assert "cancelled the transfer" in transfer.result_sentence(msg.type, "mission")
        assert h.vehicle.mission_server.transfer is None
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
        h.set_options(ftp=True)
        assert transfer.upload(h.connection_string, m).method == "ftp"
        h.set_faults(ignore=("FILE_TRANSFER_PROTOCOL",))  # advertises FTP, never answers it
        r = transfer.upload(h.connection_string, m, verify=True)
        assert r == [] and r.method == "items" and f"no answer in {ftp.TRIES_MAX} tries though the vehicle talks" in r.fallback_reason
    finally:
        h.stop()


def test_ftp_upload_survives_loss():
    h = start_builtin(loss=0.2, seed=5, **PATIENT)
    try:
        m = straight_mission(400)
        master = link.connect(h.connection_string, 10)
        assert transfer.upload(master, m, method="ftp").method == "ftp"
        h.set_faults(loss=0.0)
        assert transfer.differences(m, transfer.download(master)) == []
        master.close()
    finally:
        h.stop()


def test_a_lost_ftp_open_reply_does_not_fail_the_upload():
    # The vehicle opens the file, its reply is lost. Asking again with a new seq would get "failed" (the
    # session is already open); asking with the same seq gets the reply again, as the FTP spec and ArduPilot do.
    h = start_builtin(lose_first=("FILE_TRANSFER_PROTOCOL",))
    try:
        m = straight_mission(120)
        r = transfer.upload(h.connection_string, m, method="ftp", verify=True)
        assert h.vehicle.faults.lost["FILE_TRANSFER_PROTOCOL"] == 1 and r == [] and r.method == "ftp"
    finally:
        h.stop()
