"""The mission protocol and flights against a vehicle that speaks it: the built-in test vehicle.

The fixture is the one place a second backend (ArduPilot SITL) plugs in; that backend is not wired yet.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from dronectl.camera import find_camera
from dronectl.errors import LinkError, MissionRejected
from dronectl.geo import find_zone
from dronectl.mavlink import flight, link, transfer
from dronectl.mission import (CMD_NAV_TAKEOFF, CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, FencePolygon, Home,
                              Mission, MissionItem, RallyPoint)
from dronectl.sim.vehicle import start_vehicle
from dronectl.survey import SurveyParams, plan_survey

pytestmark = pytest.mark.vehicle
HOME = (49.3773, 3.3270, 60.0)
FAST = dict(speedup=50.0, gps_delay_s=1.0, ekf_delay_s=2.0)


@pytest.fixture(params=["builtin"])
def vehicle(request):
    h = start_vehicle(home=HOME, **FAST)
    yield h
    h.stop()


def _mission(n: int) -> Mission:
    items = [MissionItem(CMD_NAV_TAKEOFF, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, HOME[0], HOME[1], 30.0)]
    items += [MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0,
                          HOME[0] + 1e-5 * (k % 50), HOME[1] + 1.3e-5 * (k // 50), 30.0 + 0.37 * (k % 7))
              for k in range(n - 1)]
    return Mission(items=tuple(items), home=Home(*HOME))


@pytest.mark.parametrize("n", [1, 100, 600])
def test_upload_download_clear(vehicle, n):
    m = _mission(n)
    master = link.connect(vehicle.connection_string, 5)
    try:
        transfer.upload(master, m)
        got = transfer.download(master)
        assert len(got.items) == n and m.same_as(got, pos_tol_deg=1.5e-7)
        assert got.home.lat_deg == pytest.approx(HOME[0], abs=1e-6)  # seq 0 is the vehicle's home
        transfer.clear(master)
        assert transfer.download(master).items == ()
    finally:
        master.close()


def test_no_space_above_capacity_keeps_the_old_mission(vehicle):
    master = link.connect(vehicle.connection_string, 5)
    try:
        transfer.upload(master, _mission(10))
        with pytest.raises(MissionRejected, match="does not fit"):
            transfer.upload(master, _mission(650))  # 650 items + home = 651 > 650
        assert len(transfer.download(master).items) == 10
    finally:
        master.close()


def test_fence_and_rally_round_trip(vehicle):
    fence = (FencePolygon(((49.376, 3.326), (49.376, 3.329), (49.379, 3.329), (49.379, 3.326)), True),
             FencePolygon(((49.377, 3.327), (49.377, 3.3275), (49.3775, 3.3275)), False))
    m = replace(_mission(5), fence_polygons=fence, rally=(RallyPoint(49.3771, 3.3268, 20.0),))
    master = link.connect(vehicle.connection_string, 5)
    try:
        transfer.upload(master, m)
        got = transfer.download(master)
        assert [p.inclusion for p in got.fence_polygons] == [True, False]
        assert [len(p.vertices) for p in got.fence_polygons] == [4, 3]
        assert got.fence_polygons[0].vertices[2] == pytest.approx((49.379, 3.329), abs=1e-7)
        assert got.rally[0].alt_m == pytest.approx(20.0)
        assert transfer.verify(master, m) == []
    finally:
        master.close()


def test_verify_detects_a_mismatch(vehicle):
    m = _mission(20)
    master = link.connect(vehicle.connection_string, 5)
    try:
        transfer.upload(master, m)
        moved = m.with_items([replace(i, alt_m=i.alt_m + 5) if k == 7 else i for k, i in enumerate(m.items)])
        diffs = transfer.verify(master, moved)
        assert len(diffs) == 1 and "item 8" in diffs[0] and "altitude" in diffs[0]
    finally:
        master.close()


def _survey():
    return plan_survey(find_zone("chantier-mediatheque").geometry, find_camera("sim"),
                       SurveyParams(altitude_m=30, home_latlon=HOME[:2], home_alt_m=HOME[2]))


def test_fly_a_small_survey_with_photos(vehicle, tmp_path):
    plan = _survey()
    m = plan.missions[0]
    seen = []
    rec = flight.fly(vehicle.connection_string, m, progress=lambda d, n, s: seen.append((d, n)),
                     log_path=tmp_path / "f.tlog")
    assert not rec.interrupted
    assert rec.items_reached >= len(m.items) - 1  # all but the final RTL, which ends in landing
    assert abs(rec.photos - plan.summary["photos"]) <= 0.1 * plan.summary["photos"] + 2
    assert rec.battery_used_pct > 0 and rec.distance_m > 500
    assert (tmp_path / "f.tlog").stat().st_size > 1000
    assert seen and seen[-1][1] == len(m.items)
    ev = rec.camera_events[0]
    assert ev.alt_rel_m == pytest.approx(30, abs=1.0)
    from shapely.geometry import Point

    zone = find_zone("chantier-mediatheque").geometry
    assert sum(zone.buffer(0.0003).contains(Point(e.lon_deg, e.lat_deg)) for e in rec.camera_events) >= 0.9 * rec.photos


def test_ctrl_c_returns_to_launch(vehicle):
    m = _survey().missions[0]
    rec_holder = {}
    target = threading.main_thread()

    def interrupt_soon():
        import _thread
        import time

        time.sleep(2.0)
        _thread.interrupt_main()

    t = threading.Thread(target=interrupt_soon)
    t.start()
    rec = flight.fly(vehicle.connection_string, m)
    t.join()
    rec_holder["r"] = rec
    assert rec.interrupted and target.is_alive()
    assert rec.items_reached < len(m.items) - 1  # it did not finish the survey: it came home
    last = rec.track[-1]
    from dronectl.geo import haversine_m

    assert haversine_m(last[1], last[2], HOME[0], HOME[1]) < 5.0


def test_lossy_link_still_uploads_300_items():
    h = start_vehicle(home=HOME, loss=0.3, seed=4, **FAST)
    try:
        master = link.connect(h.connection_string, 10)
        m = _mission(300)
        transfer.upload(master, m)
        h.vehicle.o.loss = 0.0
        assert m.same_as(transfer.download(master), pos_tol_deg=1.5e-7)
        master.close()
    finally:
        h.stop()


def test_duplicated_and_delayed_packets():
    h = start_vehicle(home=HOME, duplicate=0.5, delay_ms=30, seed=2, **FAST)
    try:
        master = link.connect(h.connection_string, 10)
        m = _mission(100)
        transfer.upload(master, m)
        assert m.same_as(transfer.download(master), pos_tol_deg=1.5e-7)
        master.close()
    finally:
        h.stop()


def test_silent_vehicle_gives_a_timeout_error():
    h = start_vehicle(home=HOME, **FAST)
    try:
        master = link.connect(h.connection_string, 5)
        h.vehicle.o.loss = 1.0  # the vehicle goes silent (and deaf)
        with pytest.raises(LinkError, match="stopped answering"):
            transfer.upload(master, _mission(10))
        master.close()
    finally:
        h.stop()


def test_no_heartbeat_is_a_clear_error():
    h = start_vehicle(home=HOME, loss=1.0, **FAST)
    try:
        with pytest.raises(LinkError, match="no heartbeat"):
            link.connect(h.connection_string, 1.0)
    finally:
        h.stop()
