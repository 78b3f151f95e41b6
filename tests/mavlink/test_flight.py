"""Flying a survey against a vehicle (built-in, and ArduPilot SITL when configured)."""

from __future__ import annotations

import pytest
from shapely.geometry import Point

from dronectl.camera import find_camera
from dronectl.errors import LinkError
from dronectl.geo import find_zone, haversine_m
from dronectl.mavlink import flight
from dronectl.survey import SurveyParams, plan_survey

from .conftest import HOME, start_builtin

pytestmark = pytest.mark.vehicle
ZONE = "chantier-mediatheque"


@pytest.fixture(scope="module")
def survey():
    zone = find_zone(ZONE).geometry
    plan = plan_survey(zone, find_camera("sim"), SurveyParams(altitude_m=30, home_latlon=HOME[:2], home_alt_m=HOME[2]))
    return zone, plan


def test_fly_a_small_survey_to_the_end_with_photos(vehicle, survey, tmp_path):
    zone, plan = survey
    m = plan.missions[0]
    seen = []
    rec = flight.fly(vehicle.connection_string, m, progress=lambda done, total, text: seen.append((done, total, text)),
                     log_path=tmp_path / "f.tlog", fix_timeout_s=60, arm_timeout_s=60)
    assert rec.landed and not rec.interrupted
    assert rec.items_reached >= len(m.items) - 1  # all of it (the final RTL item ends in the landing)
    planned = plan.summary.photos
    assert abs(rec.photos - planned) <= 0.1 * planned + 2
    assert len({e.image_index for e in rec.camera_events}) == rec.photos
    assert rec.battery_used_pct > 0 and rec.distance_m > 300 and rec.duration_s > 30
    ev = rec.camera_events[len(rec.camera_events) // 2]
    assert ev.alt_rel_m == pytest.approx(30, abs=2.0)
    inside = sum(zone.buffer(0.0004).contains(Point(e.lon_deg, e.lat_deg)) for e in rec.camera_events)
    assert inside >= 0.9 * rec.photos  # the photos were taken over the zone
    assert seen and seen[-1][:2] == (rec.items_reached, len(m.items)) and "photos" in seen[-1][2]
    last = rec.track[-1]
    assert haversine_m(last[1], last[2], HOME[0], HOME[1]) < 10 and last[3] < 2.0  # landed at home

    from pymavlink import mavutil

    tlog = mavutil.mavlink_connection(str(tmp_path / "f.tlog"))
    types = set()
    while (msg := tlog.recv_match()) is not None:
        types.add(msg.get_type())
    assert {"HEARTBEAT", "GLOBAL_POSITION_INT", "CAMERA_FEEDBACK"} <= types  # a telemetry log a GCS can replay


def test_ctrl_c_returns_to_launch(vehicle, survey):
    m = survey[1].missions[0]
    pressed = []

    def press_ctrl_c(done, total, text):
        if done >= 3 and not pressed:
            pressed.append(done)
            raise KeyboardInterrupt  # what Ctrl-C does to the main thread

    rec = flight.fly(vehicle.connection_string, m, progress=press_ctrl_c, fix_timeout_s=60, arm_timeout_s=60)
    assert pressed and rec.interrupted and rec.landed
    assert rec.items_reached < len(m.items) - 1  # it did not finish the survey: it came home
    last = rec.track[-1]
    assert haversine_m(last[1], last[2], HOME[0], HOME[1]) < 10 and last[3] < 2.0


def test_lost_link_is_a_clear_error():
    h = start_builtin()
    m = plan_survey(find_zone(ZONE).geometry, find_camera("sim"),
                    SurveyParams(altitude_m=30, home_latlon=HOME[:2], home_alt_m=HOME[2])).missions[0]

    def cut_link(done, total, text):
        if done >= 2:
            h.set_faults(loss=1.0)

    try:
        with pytest.raises(LinkError, match="link lost: nothing from the vehicle for more than 1 s"):
            flight.fly(h.connection_string, m, progress=cut_link, link_timeout_s=1.0)
    finally:
        h.stop()


def test_a_take_off_the_link_ate_until_the_vehicle_disarmed_itself_is_armed_and_sent_again():
    """ArduCopter disarms 10 s after arming on the ground; at 50x that is 0.2 s, less than one command retry, so a
    lost take-off finds the vehicle disarmed (what failed in CI over a 5 % lossy serial port)."""
    from .conftest import straight_mission

    h = start_builtin(lose_takeoffs=1)
    try:
        rec = flight.fly(h.connection_string, straight_mission(6), fix_timeout_s=30, arm_timeout_s=30)
    finally:
        h.stop()
    assert rec.landed and not rec.interrupted and rec.items_reached >= 5
    first_flight = rec.statustexts.index("Disarming motors")  # it did disarm itself, before flying anything
    assert rec.statustexts[:first_flight].count("Arming motors") == 1
    assert rec.statustexts.count("Arming motors") == 2  # and flew on the second arming


def test_a_lost_last_item_reached_does_not_leave_the_vehicle_hovering_until_its_battery_fails():
    """A mission that ends in the air: dronectl brings it home once the last item is flown. ArduPilot says so once
    (MISSION_ITEM_REACHED), and a lossy link may eat it (CI, a 5 % lossy serial port: the copter hovered at the last
    waypoint until its battery failsafe); its streamed MISSION_CURRENT says the mission is complete."""
    from .conftest import straight_mission

    h = start_builtin(lose_first=("MISSION_ITEM_REACHED",) * 6)  # every one of them, the last included
    try:
        rec = flight.fly(h.connection_string, straight_mission(6), fix_timeout_s=30, arm_timeout_s=30)
    finally:
        h.stop()
    assert rec.completed and rec.landed and rec.items_reached == 6 and not rec.failsafe
    assert not any("Battery" in t for t in rec.statustexts)


def test_a_link_that_eats_every_take_off_is_one_clear_error_not_an_endless_retry():
    from dronectl.mavlink.flight import FlightFailed

    from .conftest import straight_mission

    h = start_builtin(lose_takeoffs=10 ** 6)
    try:
        with pytest.raises(FlightFailed, match=r"^the vehicle refused to take off \(Disarming motors\)$"):
            flight.fly(h.connection_string, straight_mission(6), fix_timeout_s=30, arm_timeout_s=30)
        assert not h.vehicle.armed and h.vehicle.alt_rel == 0.0  # it never left the ground
    finally:
        h.stop()


def test_a_return_the_vehicle_starts_by_itself_is_a_failsafe_and_the_mission_did_not_complete(survey, tmp_path,
                                                                                              monkeypatch):
    """A switch to RTL nobody commanded (what ArduCopter's battery failsafe does) mid-survey: `fly` says so, the
    result says ``failsafe``, the flight log too, and the items reached are what was reached."""
    import json
    from contextlib import nullcontext

    from dronectl import api
    from dronectl.mavlink.flight import COPTER_MODES

    monkeypatch.setenv("DRONECTL_FLIGHT_LOG", str(tmp_path / "log.jsonl"))
    m = survey[1].missions[0]
    h = start_builtin()

    class Bar:
        def update(self, done, total=None, text=""):
            if done >= 3 and h.vehicle.mode == COPTER_MODES["AUTO"]:
                h.vehicle.set_mode(COPTER_MODES["RTL"])  # the vehicle's own decision, as a failsafe's

    said = []
    try:
        r = api.fly_plan(m, h.connection_string, progress=lambda label, total=None: nullcontext(Bar()),
                         say=said.append)
    finally:
        h.stop()
    assert r.outcome == "failsafe" and not r.record.completed and r.record.landed
    assert r.record.failsafe == "the vehicle switched to RTL"
    assert "failsafe: the vehicle switched to RTL by itself; the mission will not complete" in said
    assert 3 <= r.record.items_reached < r.record.items_total
    entry = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert entry["event"] == "flight" and entry["outcome"] == "failsafe"


def test_a_tcp_vehicle_that_goes_away_mid_flight_is_a_lost_link_that_says_what_the_vehicle_does():
    h = start_builtin()
    stopped = []

    def stop_vehicle(done, total, text):
        if done >= 2 and not stopped:
            stopped.append(done)
            h.stop()

    from .conftest import straight_mission

    try:
        with pytest.raises(LinkError, match="link lost: the vehicle closed the connection; the vehicle flies on under "
                                            "its own failsafe: it goes on with the mission"):
            flight.fly(h.connection_string, straight_mission(30), progress=stop_vehicle, link_timeout_s=5.0)
    finally:
        h.stop()
